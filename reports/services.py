"""Requesting and rendering generated files. Rendering runs in a Celery task (in-process locally)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEvent, User
from core.audit import audit_event_record
from core.documents import BuiltDocument, document_builder
from core.policy import Action, require

from .models import GeneratedFile

# Each domain owns the document of its data and registers its builder with core.documents in its
# AppConfig.ready (crf: blank CRF book; safety: SAE report; reports: casebook, dataset export);
# reports only queues, stores and serves them. BuiltDocument is re-exported for the builders here.
__all__ = ["BuiltDocument", "generated_file_render", "generated_file_request", "render_now"]


def generated_file_request(*, kind: str, actor: User | None, subject: str = "", site=None) -> GeneratedFile:
    """Queue a document; the task renders it after this transaction commits.

    A dataset export and the blank CRF book are actions of the policy; the other documents are
    readings of one record the caller already reached through its ``access_*`` function."""
    if actor is not None and kind in (GeneratedFile.Kind.DATASET_EXPORT, GeneratedFile.Kind.EXPORT):
        require(actor, Action.EXPORT)
    if actor is not None and kind == GeneratedFile.Kind.BLANK_CRF_BOOK:
        require(actor, Action.BLANK_CRF_BOOK)
    with transaction.atomic():
        generated = GeneratedFile.objects.create(kind=kind, subject=subject, site=site, requested_by=actor)
        # Import cycle: reports.tasks imports generated_file_render from this module.
        from .tasks import render_generated_file

        transaction.on_commit(lambda: render_generated_file.delay(generated.pk))
    return generated


def _set_progress(file_id: int) -> Callable[[int], None]:
    def progress(percent: int) -> None:
        GeneratedFile.objects.filter(pk=file_id).update(progress=max(0, min(100, int(percent))))

    return progress


def generated_file_render(*, file_id: int) -> GeneratedFile:
    """Render a queued file and store it with its SHA-256. Idempotent: a done file is left alone."""
    claimed = GeneratedFile.objects.filter(
        pk=file_id, status__in=[GeneratedFile.Status.QUEUED, GeneratedFile.Status.FAILED]
    ).update(status=GeneratedFile.Status.RUNNING, progress=0, error="")
    generated = GeneratedFile.objects.get(pk=file_id)
    if not claimed:
        return generated  # done, or another worker is rendering it
    try:
        builder = document_builder(generated.kind)
        extra = {"actor": generated.requested_by} if getattr(builder, "wants_actor", False) else {}
        built: BuiltDocument = builder(generated.subject, _set_progress(file_id), **extra)
    except Exception as exc:
        GeneratedFile.objects.filter(pk=file_id).update(
            status=GeneratedFile.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    generated.refresh_from_db()
    generated.sha256 = hashlib.sha256(built.pdf.content).hexdigest()
    generated.size = len(built.pdf.content)
    generated.pages = built.pdf.pages
    generated.filename = built.filename
    generated.source_digest = built.source_digest
    generated.file.save(built.filename, ContentFile(built.pdf.content), save=False)
    generated.status = GeneratedFile.Status.DONE
    generated.progress = 100
    generated.finished_at = timezone.now()
    generated.save()
    audit_event_record(
        kind=AuditEvent.Kind.EXPORTED,
        actor=generated.requested_by,
        target=generated,
        site_code=generated.site.code if generated.site_id else "",
        summary=f"{generated.get_kind_display()} {generated.subject} generated ({generated.pages} pages)",
        detail={"sha256": generated.sha256, "file": generated.filename},
    )
    return generated


def render_now(*, kind: str, subject: str = "") -> BuiltDocument:
    """Render synchronously without storing (the render_pdf command and benchmarks)."""
    return document_builder(kind)(subject, lambda percent: None)
