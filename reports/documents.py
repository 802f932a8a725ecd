"""PDF documents as functions of data: a selector's context → template under templates/pdf/ → bytes.

WeasyPrint renders; the page header (trial number, page X of Y) comes from CSS paged media in
templates/pdf/base.html. Documents never contain names: trial numbers, initials-free.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import timezone


@dataclass
class RenderedPdf:
    content: bytes
    pages: int


def render_pdf(template_name: str, context: dict) -> RenderedPdf:
    from weasyprint import HTML  # imported here: loading Pango costs ~0.3 s, only PDF work pays it

    html = render_to_string(template_name, {"generated_at": timezone.now(), **context})
    document = HTML(string=html).render()
    buffer = io.BytesIO()
    document.write_pdf(target=buffer)
    return RenderedPdf(content=buffer.getvalue(), pages=len(document.pages))
