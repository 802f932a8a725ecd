"""Account administration. Every change to an account or role is audited."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.audit import audit_event_record, field_changes, record_update
from core.errors import DomainError, ReasonRequired
from core.policy import Action, require
from core.roles import TrialRole

from .models import AuditEvent, User


def _require_admin(actor: User) -> None:
    require(actor, Action.ACCOUNT_MANAGE)


@transaction.atomic
def user_create(
    *, actor: User | None, username: str, email: str, full_name: str, password: str, trial_role: str = ""
) -> User:
    """Create an account. ``actor`` None is the bootstrap path (seed data, createsuperuser-like)."""
    if actor is not None:
        _require_admin(actor)
    user = User(username=username, email=email.lower(), full_name=full_name, trial_role=trial_role)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages), field="password") from exc
    user.set_password(password)
    user._history_user = actor
    user._change_reason = "Account created"
    user.save()
    audit_event_record(
        kind=AuditEvent.Kind.ACCOUNT_CREATED,
        actor=actor,
        target=user,
        summary=f"Account {username} created" + (f" as {user.get_trial_role_display()}" if trial_role else ""),
    )
    return user


@transaction.atomic
def user_update(*, actor: User, user: User, data: dict, reason: str) -> User:
    """Change an account's name, e-mail, trial-wide role or active flag, with a reason."""
    _require_admin(actor)
    locked = User.objects.select_for_update().get(pk=user.pk)
    changes = field_changes(locked, data)
    if not changes:
        return locked
    if not reason.strip():
        raise ReasonRequired()
    if locked.pk == actor.pk and ("trial_role" in data or data.get("is_active") is False):
        raise DomainError("You cannot change your own role or deactivate yourself.", field="trial_role")
    for name, value in data.items():
        setattr(locked, name, value)
    locked._history_user = actor
    locked._change_reason = reason
    locked.save()
    for name, old, new in changes:
        if name == "trial_role":
            kind = AuditEvent.Kind.ROLE_CHANGED
            old_label, new_label = (
                TrialRole(old).label if old else "none",
                TrialRole(new).label if new else "none",
            )
            summary = f"Trial-wide role of {locked.username}: {old_label} → {new_label}"
        elif name == "is_active" and not new:
            kind, summary = AuditEvent.Kind.ACCOUNT_DEACTIVATED, f"Account {locked.username} deactivated"
        else:
            kind, summary = AuditEvent.Kind.ACCOUNT_CHANGED, f"{name} of {locked.username} changed"
        audit_event_record(
            kind=kind,
            actor=actor,
            target=locked,
            summary=summary,
            reason=reason,
            detail={"field": name, "old": str(old), "new": str(new)},
        )
    return locked


@transaction.atomic
def user_set_password(*, actor: User, user: User, password: str) -> User:
    if actor.pk != user.pk:
        _require_admin(actor)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages), field="password") from exc
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_event_record(
        kind=AuditEvent.Kind.ACCOUNT_CHANGED,
        actor=actor,
        target=user,
        summary=f"Password of {user.username} set",
    )
    return user


@transaction.atomic
def user_deactivate(*, actor: User, user: User, reason: str) -> User:
    """Leaving staff in one step: the account is closed and every current delegation ends today.

    Nothing they recorded or signed is touched: records keep their author and signatures stay valid.
    """
    require(actor, Action.ACCOUNT_DEACTIVATE)
    if not reason.strip():
        raise ReasonRequired()
    if user.pk == actor.pk:
        raise DomainError("You cannot deactivate your own account.")
    locked = User.objects.select_for_update().get(pk=user.pk)
    today = timezone.localdate()
    # The delegation log lives in sites; its rows are reached through the user without importing it.
    for entry in locked.delegations.current():
        record_update(obj=entry, data={"end_date": today}, actor=actor, reason=f"Account deactivated: {reason}")
    locked.is_active = False
    locked._history_user = actor
    locked._change_reason = reason
    locked.save()
    audit_event_record(
        kind=AuditEvent.Kind.ACCOUNT_DEACTIVATED,
        actor=actor,
        target=locked,
        reason=reason,
        summary=f"Account {locked.username} deactivated; current delegations ended",
    )
    return locked
