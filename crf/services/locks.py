"""Form locks (one form, by the data manager); the dataset lock is reports.locking."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEvent, User
from core.audit import audit_event_record, record_update
from core.errors import DomainError
from core.policy import Action, require
from crf.models import (
    CrfForm,
    FormStatus,
)


@transaction.atomic
def crf_lock(*, form: CrfForm, actor: User) -> CrfForm:
    require(actor, Action.FORM_LOCK, form.patient.site)
    if not form.can_lock():
        raise DomainError("Only a complete or verified form can be locked.")
    form = record_update(
        obj=form,
        data={"status": FormStatus.LOCKED, "locked_at": timezone.now(), "locked_by": actor},
        actor=actor,
        reason="Locked",
    )
    audit_event_record(kind=AuditEvent.Kind.LOCKED, actor=actor, target=form, summary=f"{form} locked")
    return form


@transaction.atomic
def crf_unlock(*, form: CrfForm, actor: User, reason: str) -> CrfForm:
    require(actor, Action.FORM_UNLOCK, form.patient.site)
    if form.status != FormStatus.LOCKED:
        raise DomainError("The form is not locked.")
    if not reason.strip():
        raise DomainError("Give the reason for unlocking.", field="reason")
    back = FormStatus.VERIFIED if form.verified_at else FormStatus.COMPLETE
    form = record_update(
        obj=form, data={"status": back, "locked_at": None, "locked_by": None}, actor=actor, reason=f"Unlocked: {reason}"
    )
    audit_event_record(
        kind=AuditEvent.Kind.UNLOCKED, actor=actor, target=form, reason=reason, summary=f"{form} unlocked"
    )
    return form
