"""Two-factor authentication with django-otp: TOTP apps plus single-use backup codes.

Required for principal investigators, sub-investigators and every trial-wide role (they sign,
unblind lists, lock and export data, or manage accounts); for all users when REQUIRE_2FA_FOR_ALL.
"""

from __future__ import annotations

import secrets

import segno
from django.conf import settings
from django.db import transaction
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.audit import audit_event_record
from core.errors import DomainError, NotPermitted, ReasonRequired
from core.policy import Action, require
from core.roles import INVESTIGATOR_ROLES, TrialRole

from .models import AuditEvent, User

BACKUP_CODE_COUNT = 10


def requires_two_factor(user: User) -> bool:
    if not user.is_authenticated:
        return False
    if settings.REQUIRE_2FA_FOR_ALL or (user.trial_role and user.trial_role != TrialRole.MONITOR):
        return True
    return user.has_site_role(None, *INVESTIGATOR_ROLES)


def has_two_factor(user: User) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


def device_management_allowed(*, user: User, session_verified: bool) -> bool:
    """Adding or removing a device needs this session verified with an existing device.

    Otherwise the password alone would let anyone who learnt it enrol their own authenticator and
    so take over the second factor. A user without any device enrols with the password (first
    set-up); a user who lost every device is reset by an administrator (two_factor_reset, audited).
    """
    return session_verified or not has_two_factor(user)


def _require_device_management(user: User, session_verified: bool) -> None:
    if not device_management_allowed(user=user, session_verified=session_verified):
        raise NotPermitted(
            "Enter a code from your existing authenticator first; to replace a lost phone ask a system administrator."
        )


def totp_enrolment_start(*, user: User, session_verified: bool) -> TOTPDevice:
    """The unconfirmed authenticator being set up (created once, reused until confirmed)."""
    _require_device_management(user, session_verified)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_qr_svg(device: TOTPDevice) -> str:
    """The provisioning URI as an inline SVG QR code (no image request, no script)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#111", light="#fff")


@transaction.atomic
def totp_enrolment_confirm(*, user: User, token: str, session_verified: bool) -> tuple[TOTPDevice, list[str]]:
    """Confirm the authenticator with a code from it.

    Devices already confirmed stay: a second phone is added, never swapped in silently. Backup
    codes are issued with the first device only (returned once); later devices return none.
    """
    _require_device_management(user, session_verified)
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None:
        raise DomainError("Start the set-up again: no authenticator is waiting for confirmation.")
    if not device.verify_token((token or "").strip()):
        raise DomainError(
            "That code does not match. Check the time on your phone and try the newest code.", field="token"
        )
    existing = TOTPDevice.objects.filter(user=user, confirmed=True).count()
    device.confirmed = True
    if existing:
        device.name = f"Authenticator app {existing + 1}"
    device.save()
    codes = [] if StaticDevice.objects.filter(user=user, confirmed=True).exists() else backup_codes_replace(user=user)
    audit_event_record(
        kind=AuditEvent.Kind.TWO_FACTOR_ENROLLED,
        actor=user,
        target=user,
        summary=f"{user.username} set up an authenticator app ({device.name})",
        detail={"device_id": device.pk, "devices_before": existing},
    )
    return device, codes


@transaction.atomic
def totp_device_remove(*, user: User, device_id: int, session_verified: bool) -> None:
    """The user removes one of their own authenticators from a verified session (audited).

    The last authenticator of a user who must use two-factor stays: removing it would drop the
    account back to password-only enrolment.
    """
    _require_device_management(user, session_verified)
    devices = list(TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"))
    device = next((d for d in devices if d.pk == device_id), None)
    if device is None:
        raise DomainError("No such authenticator.")
    if len(devices) == 1 and requires_two_factor(user):
        raise DomainError(
            "Your role needs two-factor authentication: add the new authenticator before removing the last one."
        )
    name = device.name
    device.delete()
    audit_event_record(
        kind=AuditEvent.Kind.TWO_FACTOR_REMOVED,
        actor=user,
        target=user,
        summary=f"{user.username} removed an authenticator app ({name})",
        detail={"device_id": device_id},
    )


def backup_codes_replace(*, user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    codes = [f"{secrets.randbelow(10**8):08d}" for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def otp_match(*, user: User, token: str, purpose: str, target=None, ip_address: str | None = None):
    """The device that accepts ``token`` (a backup code is used up), or None after auditing."""
    token = (token or "").strip().replace(" ", "")
    for device in devices_for_user(user, confirmed=True):
        if token and device.verify_token(token):
            return device
    audit_event_record(
        kind=AuditEvent.Kind.TWO_FACTOR_FAILED,
        actor=user,
        target=target or user,
        summary=f"Wrong one-time code ({purpose})",
        ip_address=ip_address,
    )
    return None


@transaction.atomic
def two_factor_reset(*, actor: User, user: User, reason: str) -> None:
    """Account recovery: an administrator removes a user's devices; the user must enrol again."""
    require(actor, Action.ACCOUNT_MANAGE)
    if not reason.strip():
        raise ReasonRequired()
    for device in devices_for_user(user, confirmed=None):
        device.delete()
    audit_event_record(
        kind=AuditEvent.Kind.TWO_FACTOR_RESET,
        actor=actor,
        target=user,
        reason=reason,
        summary=f"Two-factor authentication of {user.username} reset",
    )
