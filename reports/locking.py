"""Dataset lock: the pre-lock checklist, locking and unlocking (protocol.md "Locks and sign-off").

Above the domains (issue 21): the checklist reads every domain through its ``prelock_blockers()``
selector (crf: queries, forms, SDV; safety: SAE signatures), and unlocking stores the lock's export
(reports.dataset) before the lock is lifted. The guards every write calls stay low and only read the
lock table (crf.locking, core.dataset_guard). The DatasetLock model stays in crf: moving a
history-tracked model (and its historical table) across apps is a migration with no gain here, and
the guard finds it through the app registry.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEvent, User
from core.audit import audit_event_record, record_create, record_update
from core.errors import DomainError, NotPermitted
from core.policy import Action, require
from crf import selectors as crf_selectors
from crf.models import DatasetLock
from safety import selectors as safety_selectors

from .dataset import snapshot_ensure


def prelock_checklist(*, today=None) -> list[dict]:
    """Each check with its blockers (named), in a fixed number of queries: the domains' own."""
    return [*crf_selectors.prelock_blockers(today=today), *safety_selectors.prelock_blockers()]


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
    # Inside the unlock's transaction, while the lock still stands: the export keeps the locked
    # snapshot so lock N's files stay reproducible after the data change again.
    snapshot_ensure(current)
    why = reason.strip() or f"Approved: {current.unlock_reason}"
    lock = record_update(
        obj=current, data={"unlocked_at": timezone.now(), "unlocked_by": actor}, actor=actor, reason=why
    )
    audit_event_record(kind=AuditEvent.Kind.UNLOCKED, actor=actor, target=lock, reason=why, summary=str(lock))
    return lock
