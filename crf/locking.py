"""Dataset lock: the pre-lock checklist, locking, unlocking, and the guards every write calls."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from accounts.models import AuditEvent, User
from core.audit import audit_event_record, record_create, record_update
from core.dataset_guard import dataset_write_guard
from core.errors import DomainError, NotPermitted
from core.policy import Action, require

from .models import DatasetLock, FormStatus, Query, Visit
from .registry import FORMS


def entry_guard(what: str = "") -> None:
    """Called by every data-entry service: no entry while the dataset is locked (soft or hard)."""
    dataset_write_guard(what=what)


def query_guard() -> None:
    """Queries stay answerable under a soft lock, not under a hard one."""
    dataset_write_guard(what="queries", soft_lock_allows=True)


def prelock_checklist(*, today=None) -> list[dict]:
    """Each check with its blockers (named), in a fixed number of queries."""
    from safety.models import SaeReport
    from safety.services import pi_signed

    today = today or timezone.localdate()
    open_queries = [
        f"Query {q.pk} on {q.patient.trial_number} {q.visit_code} {q.form_code}.{q.field}: {q.text[:60]}"
        for q in Query.objects.open().select_related("patient").order_by("patient__trial_number", "pk")
    ]
    saved = {}
    for code, model in FORMS.items():
        for form in model.objects.only("pk", "visit_id", "status"):
            saved.setdefault((form.visit_id, code), []).append(form.status)
    from .access import expected_forms
    from .models import FormNotDone

    not_done = set(FormNotDone.objects.values_list("visit_id", "form_code"))
    incomplete = []
    for visit in (
        Visit.objects.select_related("patient")
        .filter(retired_at__isnull=True)
        .order_by("patient__trial_number", "sequence")
    ):
        if visit.is_log or visit.missed_reason or visit.not_applicable_reason:
            continue
        if not (visit.done_on or visit.window_end < today):
            continue
        for code in expected_forms(visit):
            if FORMS[code].REPEATING or (visit.pk, code) in not_done:
                continue
            statuses = saved.get((visit.pk, code), [])
            if not statuses:
                incomplete.append(f"{visit.patient.trial_number} {visit.code} {code}: not started")
            elif FormStatus.IN_PROGRESS in statuses:
                incomplete.append(f"{visit.patient.trial_number} {visit.code} {code}: in progress")
    unverified = []
    for code, model in FORMS.items():
        for form in model.objects.filter(status=FormStatus.COMPLETE).select_related("patient", "visit"):
            unverified.append(f"{form.patient.trial_number} {form.visit.code} {code}")
    unsigned = [
        str(r)
        for r in SaeReport.objects.filter(retired_at__isnull=True).select_related("adverse_event__patient")
        if not pi_signed(r)
    ]
    return [
        {"label": "No open queries", "blockers": open_queries},
        {
            "label": "Every expected form complete, recorded as not done, or its visit marked missed",
            "blockers": incomplete,
        },
        {"label": "Source data verification complete", "blockers": unverified},
        {"label": "Every SAE report signed by the investigator", "blockers": unsigned},
    ]


@transaction.atomic
def dataset_lock(*, actor: User, reason: str, kind: str = DatasetLock.Kind.INTERIM, hard: bool = False) -> DatasetLock:
    """Soft-lock after the checklist passes; ``hard`` makes it (or the current soft lock) read-only."""
    require(actor, Action.DATASET_LOCK)
    if not reason.strip():
        raise DomainError("Give the reason for the lock.", field="reason")
    current = DatasetLock.current()
    if current is not None:
        if not hard or current.level == DatasetLock.Level.HARD:
            raise DomainError(f"{current} is already in force.")
        lock = record_update(
            obj=current,
            data={"level": DatasetLock.Level.HARD, "hard_locked_at": timezone.now()},
            actor=actor,
            reason=reason,
        )
        audit_event_record(kind=AuditEvent.Kind.LOCKED, actor=actor, target=lock, reason=reason, summary="Hard lock")
        return lock
    blockers = [f"{c['label']}: {b}" for c in prelock_checklist() for b in c["blockers"]]
    if blockers:
        shown = "; ".join(blockers[:10]) + (f"; and {len(blockers) - 10} more" if len(blockers) > 10 else "")
        raise DomainError(f"The pre-lock checklist is not met: {shown}.", code="checklist")
    now = timezone.now()
    lock = record_create(
        obj=DatasetLock(
            kind=kind,
            level=DatasetLock.Level.HARD if hard else DatasetLock.Level.SOFT,
            reason=reason,
            locked_by=actor,
            locked_at=now,
            hard_locked_at=now if hard else None,
        ),
        actor=actor,
        reason=reason,
    )
    audit_event_record(kind=AuditEvent.Kind.LOCKED, actor=actor, target=lock, reason=reason, summary=str(lock))
    return lock


# Sent inside the unlock's transaction, while the lock still stands: the export keeps the locked
# snapshot (reports) so lock N's files stay reproducible after the data change again. A domain event
# because the export sits above crf in the layering.
dataset_unlocking = Signal()

@transaction.atomic
def dataset_unlock_request(*, actor: User, reason: str) -> DatasetLock:
    """The data manager asks to unlock, with the reason; the lock stands until a second person approves."""
    require(actor, Action.DATASET_UNLOCK)
    if not reason.strip():
        raise DomainError("Give the reason for unlocking.", field="reason")
    current = DatasetLock.current()
    if current is None:
        raise DomainError("The dataset is not locked.")
    if current.unlock_pending:
        raise DomainError(f"Unlocking {current} is already asked for by {current.unlock_requested_by}.")
    lock = record_update(
        obj=current,
        data={"unlock_requested_by": actor, "unlock_requested_at": timezone.now(), "unlock_reason": reason.strip()},
        actor=actor,
        reason=reason,
    )
    audit_event_record(
        kind=AuditEvent.Kind.UNLOCKED, actor=actor, target=lock, reason=reason, summary=f"Unlock asked: {lock}"
    )
    return lock


@transaction.atomic
def dataset_unlock_approve(*, actor: User, reason: str = "") -> DatasetLock:
    """A trial manager or statistician, not the person who asked, approves: the lock stops standing."""
    require(actor, Action.DATASET_UNLOCK_APPROVE)
    current = DatasetLock.objects.select_for_update().filter(unlocked_at__isnull=True).order_by("-locked_at").first()
    if current is None:
        raise DomainError("The dataset is not locked.")
    if not current.unlock_pending:
        raise DomainError("The data manager has not asked to unlock the dataset (with a reason).")
    if current.unlock_requested_by_id == actor.pk:
        raise NotPermitted("Unlocking needs a second person: someone other than who asked approves it.")
    dataset_unlocking.send(sender=DatasetLock, lock=current)
    why = reason.strip() or f"Approved: {current.unlock_reason}"
    lock = record_update(
        obj=current, data={"unlocked_at": timezone.now(), "unlocked_by": actor}, actor=actor, reason=why
    )
    audit_event_record(kind=AuditEvent.Kind.UNLOCKED, actor=actor, target=lock, reason=why, summary=str(lock))
    return lock
