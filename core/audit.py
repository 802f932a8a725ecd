"""Writing the audit trail: workflow events and audited changes to trial records.

Every service that changes trial data goes through ``record_create`` / ``record_update`` so the
history row carries who, when, old and new value and the reason, and signatures and source data
verifications over the record are checked for invalidation in the same transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.utils import timezone

from accounts.models import AuditEvent

from .dataset_guard import record_write_guard
from .errors import EditConflict, ReasonRequired

if TYPE_CHECKING:
    from accounts.models import TrialRecord, User


def _label(obj: models.Model | None) -> tuple[str, str, str]:
    if obj is None:
        return "", "", ""
    return obj._meta.label_lower, str(obj.pk or ""), str(obj)[:200]


def audit_event_record(
    *,
    kind: str,
    actor: User | None,
    target: models.Model | None = None,
    summary: str = "",
    reason: str = "",
    site_code: str = "",
    detail: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Append one workflow/security event to the audit table."""
    target_type, target_id, target_label = _label(target)
    if not site_code and target is not None:
        site = target.audit_site() if hasattr(target, "audit_site") else None
        site_code = getattr(site, "code", "") or ""
    actor_obj = actor if actor is not None and getattr(actor, "pk", None) else None
    return AuditEvent.objects.create(
        kind=kind,
        actor=actor_obj,
        actor_label=actor_obj.username if actor_obj else "",
        site_code=site_code,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        summary=summary[:300],
        reason=reason,
        detail=detail or {},
        ip_address=ip_address,
    )


def content_fields(obj: models.Model) -> list[models.Field]:
    """The concrete fields that make up a record's signed content.

    Bookkeeping is excluded, and so are a model's ``UNSIGNED_FIELDS``: stamps written *by* signing
    (e.g. a sign-off time), which would otherwise invalidate the signature that wrote them.
    """
    skip = getattr(obj, "BOOKKEEPING_FIELDS", frozenset({"id"})) | getattr(obj, "UNSIGNED_FIELDS", frozenset())
    return [f for f in obj._meta.concrete_fields if f.name not in skip]


def field_changes(obj: models.Model, data: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field name, old, new) for each value in ``data`` that differs from the record."""
    changes = []
    for name, new in data.items():
        field = obj._meta.get_field(name)
        attname = field.attname if isinstance(field, models.ForeignKey) else name
        old = getattr(obj, attname)
        new_cmp = new.pk if isinstance(field, models.ForeignKey) and isinstance(new, models.Model) else new
        if old != new_cmp:
            changes.append((name, old, new_cmp))
    return changes


@transaction.atomic
def record_create(*, obj: TrialRecord, actor: User | None, reason: str = "") -> TrialRecord:
    """Save a new trial record, attributing the first history row to ``actor``."""
    record_write_guard(obj)
    obj._history_user = actor
    obj._change_reason = reason or "Created"
    obj.save()
    return obj


@transaction.atomic
def record_update(
    *,
    obj: TrialRecord,
    data: dict[str, Any],
    actor: User | None,
    reason: str,
    expected_version: int | None = None,
) -> TrialRecord:
    """Apply ``data`` to a saved record; a reason is required for any change.

    With ``expected_version`` (the version the user's form was opened at), a save over someone
    else's newer save is refused with the changes they made, so nothing is silently overwritten.
    Returns the record (unchanged and without a history row when nothing differs).
    """
    record_write_guard(obj)
    # Lock the row so two concurrent writers are serialised and the version check is exact.
    current = type(obj).objects.select_for_update().get(pk=obj.pk)
    if expected_version is not None and current.version != expected_version:
        theirs = current.history.filter(version__gt=expected_version).select_related("history_user")
        names = sorted({h.history_user.get_full_name() for h in theirs if h.history_user}) or ["another user"]
        raise EditConflict(
            f"{', '.join(names)} saved this record after you opened it. Your changes were not saved; "
            "review the current values below and enter your changes again.",
            changes=[(n, o, getattr(current, n)) for n, o, _ in field_changes(current, data)],
        )
    changes = field_changes(current, data)
    if not changes:
        return current
    if not reason or not reason.strip():
        raise ReasonRequired()
    for name, value in data.items():
        setattr(current, name, value)
    current.version = current.version + 1
    current.updated_at = timezone.now()
    current._history_user = actor
    current._change_reason = reason.strip()
    current.save()

    # Import cycle: core.signatures imports audit_event_record and content_fields from this module.
    from .signatures import signatures_invalidate_stale

    # Import cycle: core.verification imports audit_event_record and content_fields from this module.
    from .verification import verifications_clear_stale

    signatures_invalidate_stale(obj=current, actor=actor, reason=reason.strip())
    # A source data verification holds for the content verified only (ICH E6(R3) 3.11.4).
    verifications_clear_stale(obj=current, actor=actor, reason=reason.strip())
    obj.__dict__.update({k: v for k, v in current.__dict__.items() if not k.startswith("_state")})
    return current
