"""Electronic signatures: one service used by eligibility confirmation, casebook and SAE sign-off.

21 CFR Part 11 §11.50 (manifestation: printed name, date/time, meaning), §11.70 (signature linked to
its record so it cannot be transferred) and §11.200 (two components: identity and password, re-entered
at each signing). Failed attempts are audited and rate-limited.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.utils import timezone

from accounts.models import AuditEvent, Signature

from .audit import audit_event_record, content_fields
from .errors import DomainError

if TYPE_CHECKING:
    from accounts.models import User


class SignatureRefused(DomainError):
    code = "signature_refused"


class SecondFactor(NamedTuple):
    """The second authentication component at signing (21 CFR 11.200(a)(1)): whether the user has
    one, and whether a token matches it (auditing a mismatch)."""

    enrolled: Callable[[User], bool]
    matches: Callable[..., bool]


# Two-factor authentication is identity, so it lives in accounts, which builds on core; it is
# registered here at start-up (accounts.apps) instead of imported, so core needs nothing of accounts
# but its models.
_SECOND_FACTOR: list[SecondFactor] = []


def second_factor_register(second_factor: SecondFactor) -> None:
    _SECOND_FACTOR[:] = [second_factor]


def _second_factor() -> SecondFactor:
    # Fail closed: a signing that cannot check the second factor must not pass without it.
    if not _SECOND_FACTOR:
        raise ImproperlyConfigured("No second factor registered for electronic signatures (accounts.apps).")
    return _SECOND_FACTOR[0]


def signer_has_second_factor(user: User) -> bool:
    """Whether signing asks this user for a one-time code too (the signature form shows the box)."""
    return _second_factor().enrolled(user)


def plain_value(value: Any) -> Any:
    """A field value as it enters the canonical JSON of a signed digest."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def content_digest(obj: models.Model) -> str:
    """SHA-256 of the record's content in a canonical JSON form (sorted keys, plain values)."""
    content = {f.attname: plain_value(getattr(obj, f.attname)) for f in content_fields(obj)}
    # A record whose signature also covers related records (an SAE report and its adverse event)
    # names their content; a change to any of it then no longer matches the signed digest.
    if hasattr(obj, "signed_related_content"):
        content |= {k: plain_value(v) for k, v in obj.signed_related_content().items()}
    canonical = json.dumps(
        {"model": obj._meta.label_lower, "pk": str(obj.pk), "content": content},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def signatures_for(obj: models.Model):
    ct = ContentType.objects.get_for_model(obj)
    return Signature.objects.filter(content_type=ct, object_id=str(obj.pk)).select_related("signer")


def _recent_failures(user: User) -> int:
    since = timezone.now() - settings.SIGNATURE_FAILURE_WINDOW
    return AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_FAILED, actor=user, at__gte=since).count()


# The first signing of a session asks for every component, the user id as well as the password
# (21 CFR 11.200(a)(1)(i)); later signings in the same session the password (and one-time code).
SESSION_SIGNED_KEY = "signature_identity_confirmed"


def signature_identity_needed(session) -> bool:
    """Whether the next signing in this session must also give the user id."""
    return not session.get(SESSION_SIGNED_KEY)


def signature_session_mark(session) -> None:
    """After a successful signing: the session's signer has given every component once."""
    session[SESSION_SIGNED_KEY] = True


def signature_verify(
    *,
    user: User,
    password: str,
    meaning: str,
    obj: models.Model,
    ip_address: str | None = None,
    otp_token: str = "",
    username: str | None = None,
) -> None:
    """Re-authenticate the signer (§11.200); raise SignatureRefused and audit the failure otherwise.

    ``username`` is checked when given (the first signing of a session). Call it outside any
    transaction the caller may roll back, so the failure record survives.
    """
    if not user.is_active:
        raise SignatureRefused("This account is not active.")
    if username is not None and username.strip() != user.username:
        audit_event_record(
            kind=AuditEvent.Kind.SIGNATURE_FAILED,
            actor=user,
            target=obj,
            summary="Wrong user id at signing",
            detail={"meaning": meaning},
            ip_address=ip_address,
        )
        raise SignatureRefused("This is not your user id. Nothing was signed.", field="username")
    if _recent_failures(user) >= settings.SIGNATURE_FAILURE_LIMIT:
        audit_event_record(
            kind=AuditEvent.Kind.SIGNATURE_FAILED,
            actor=user,
            target=obj,
            summary="Signing blocked: too many failed attempts",
            detail={"meaning": meaning, "blocked": True},
            ip_address=ip_address,
        )
        minutes = int(settings.SIGNATURE_FAILURE_WINDOW.total_seconds() // 60)
        raise SignatureRefused(
            f"Too many failed signature attempts. Signing is blocked for up to {minutes} minutes.",
            field="password",
        )
    if not password or not user.check_password(password):
        audit_event_record(
            kind=AuditEvent.Kind.SIGNATURE_FAILED,
            actor=user,
            target=obj,
            summary="Wrong password at signing",
            detail={"meaning": meaning},
            ip_address=ip_address,
        )
        raise SignatureRefused("The password is not correct. Nothing was signed.", field="password")
    second_factor = _second_factor()
    if second_factor.enrolled(user) and not second_factor.matches(
        user=user, token=otp_token, purpose="signature", target=obj, ip_address=ip_address
    ):
        audit_event_record(
            kind=AuditEvent.Kind.SIGNATURE_FAILED,
            actor=user,
            target=obj,
            summary="Wrong or missing one-time code at signing",
            detail={"meaning": meaning},
            ip_address=ip_address,
        )
        raise SignatureRefused("The one-time code is not correct. Nothing was signed.", field="otp_token")


@transaction.atomic
def signature_apply(*, user: User, meaning: str, obj: models.Model, ip_address: str | None = None) -> Signature:
    """Record the signature over ``obj``'s current content. Only after ``signature_verify``."""
    signature = Signature.objects.create(
        signer=user,
        signer_name=user.get_full_name(),
        signer_username=user.username,
        meaning=meaning,
        signed_at=timezone.now(),
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        content_hash=content_digest(obj),
    )
    audit_event_record(
        kind=AuditEvent.Kind.SIGNED,
        actor=user,
        target=obj,
        summary=f"Signed by {signature.signer_name}: {meaning}",
        detail={"signature_id": signature.pk, "content_hash": signature.content_hash},
        ip_address=ip_address,
    )
    return signature


def signature_sign(
    *,
    user: User,
    password: str,
    meaning: str,
    obj: models.Model,
    ip_address: str | None = None,
    otp_token: str = "",
) -> Signature:
    """Re-authenticate and sign in one step (for records with nothing else to stamp)."""
    signature_verify(user=user, password=password, meaning=meaning, obj=obj, ip_address=ip_address, otp_token=otp_token)
    return signature_apply(user=user, meaning=meaning, obj=obj, ip_address=ip_address)


def signatures_invalidate_stale(*, obj: models.Model, actor: User | None, reason: str) -> list[Signature]:
    """Invalidate every valid signature over ``obj`` whose signed content no longer matches it."""
    digest = content_digest(obj)
    stale = list(signatures_for(obj).filter(invalidated_at__isnull=True).exclude(content_hash=digest))
    return _invalidate(obj=obj, signatures=stale, actor=actor, reason=reason)


def signatures_invalidate(*, obj: models.Model, actor: User | None, reason: str) -> list[Signature]:
    """Invalidate every valid signature over ``obj`` although its content still matches: for a
    change a rule says voids the signature without being part of the signed content (a MedDRA
    re-code of the event an SAE report reports)."""
    valid = list(signatures_for(obj).filter(invalidated_at__isnull=True))
    return _invalidate(obj=obj, signatures=valid, actor=actor, reason=reason)


def _invalidate(*, obj: models.Model, signatures: list[Signature], actor: User | None, reason: str) -> list[Signature]:
    now = timezone.now()
    for signature in signatures:
        signature.invalidated_at = now
        signature.invalidated_by = actor if getattr(actor, "pk", None) else None
        signature.invalidated_reason = f"Record changed after signing: {reason}"
        signature.save(update_fields=["invalidated_at", "invalidated_by", "invalidated_reason"])
        audit_event_record(
            kind=AuditEvent.Kind.SIGNATURE_INVALIDATED,
            actor=actor,
            target=obj,
            summary=f"Signature of {signature.signer_name} ({signature.meaning}) invalidated",
            reason=reason,
            detail={"signature_id": signature.pk},
        )
    return signatures


def signature_status(*, obj: models.Model) -> list[tuple[Signature, bool]]:
    """Each signature over ``obj`` with whether it still matches the record's current content.

    A mismatch on a signature not yet marked invalidated means the record was changed outside the
    services; the page shows it as invalidated all the same.
    """
    digest = content_digest(obj)
    return [(s, s.is_valid and s.content_hash == digest) for s in signatures_for(obj)]
