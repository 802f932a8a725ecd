"""Documents as functions of data, and the registry of who builds each kind (issue 21).

A domain registers the builder of the documents of its data in its ``AppConfig.ready``
(``register_document("sae_report", build_sae_report)``); reports queues, renders, stores and serves
them through ``document_builder(kind)`` without importing the domains, and the domains import
``render_pdf`` from here, not from reports, so imports point downwards only.

PDFs: a selector's context → template under templates/pdf/ → bytes. WeasyPrint renders; the page
header (trial number, page X of Y) comes from CSS paged media in templates/pdf/base.html. Documents
never contain names: trial numbers, initials-free.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import timezone


@dataclass
class RenderedPdf:
    content: bytes
    pages: int


@dataclass
class BuiltDocument:
    filename: str
    pdf: RenderedPdf
    source_digest: str = ""


# builder(subject: str, progress: Callable[[int], None]) -> BuiltDocument; a builder with
# ``wants_actor = True`` also gets ``actor=`` (who asked for the file).
Builder = Callable[..., BuiltDocument]

# Kind (reports.models.GeneratedFile.Kind value) → builder, filled by the apps' ready().
DOCUMENTS: dict[str, Builder] = {}


def register_document(kind: str, builder: Builder) -> None:
    """Register the builder of one kind of document; registering a kind twice is a mistake."""
    already = DOCUMENTS.get(kind)
    if already is not None and already is not builder:
        raise ValueError(f"The document kind {kind!r} is already built by {already.__module__}.{already.__name__}.")
    DOCUMENTS[kind] = builder


def document_builder(kind: str) -> Builder:
    try:
        return DOCUMENTS[kind]
    except KeyError:
        raise LookupError(f"No app registers a builder for documents of kind {kind!r}.") from None


def render_pdf(template_name: str, context: dict) -> RenderedPdf:
    from weasyprint import HTML  # imported here: loading Pango costs ~0.3 s, only PDF work pays it

    html = render_to_string(template_name, {"generated_at": timezone.now(), **context})
    document = HTML(string=html).render()
    buffer = io.BytesIO()
    document.write_pdf(target=buffer)
    return RenderedPdf(content=buffer.getvalue(), pages=len(document.pages))
