"""Source data verification read from the forms' history: what changed since a form was last
verified, who cleared the verification and when (ICH E6(R3) 3.11.4: monitoring checks that the
data match the source; a change after verification needs the monitor to look again).

No extra table: the history rows (django-simple-history) already hold the verified version and
the change that re-opened it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .models import FormStatus


@dataclass(frozen=True)
class VerificationCleared:
    """A form verified once and changed since: the change that cleared it and what differs now."""

    verified_by: object
    verified_at: dt.datetime
    cleared_by: object
    cleared_at: dt.datetime
    reason: str
    changed: dict[str, object]  # field name → value when verified


def verification_cleared(form) -> VerificationCleared | None:
    """For a form not verified now but verified before: the last verification, the first save
    after it (who cleared it, when, why), and the fields whose value differs from the verified one.
    Three queries (the latest verification, its rows, the rows after it, with their users)."""
    if form is None or form.pk is None or form.status in (FormStatus.VERIFIED, FormStatus.LOCKED):
        return None
    history = form.history.select_related("history_user", "verified_by")
    # The verification in force last is the latest verified_at; its first row is the moment of
    # verifying (later rows keep that verified_at through a lock, an unlock and the change itself,
    # which is saved before the status is re-opened, crf.services.crf_save).
    latest = (
        history.filter(status=FormStatus.VERIFIED, verified_at__isnull=False)
        .order_by("-verified_at")
        .values_list("verified_at", flat=True)
        .first()
    )
    if latest is None:
        return None
    rows = list(history.filter(verified_at=latest).order_by("history_date", "history_id"))
    last_verified = next(r for r in rows if r.status == FormStatus.VERIFIED)
    names = form.data_field_names()
    later = history.filter(history_id__gt=last_verified.history_id).order_by("history_date", "history_id")
    clearing = next(
        (
            r
            for r in later
            if r.status not in (FormStatus.VERIFIED, FormStatus.LOCKED)
            or any(getattr(r, n) != getattr(last_verified, n) for n in names)
        ),
        None,
    )
    if clearing is None:
        return None
    changed = {
        name: getattr(last_verified, name) for name in names if getattr(last_verified, name) != getattr(form, name)
    }
    return VerificationCleared(
        verified_by=last_verified.verified_by,
        verified_at=last_verified.verified_at,
        cleared_by=clearing.history_user,
        cleared_at=clearing.history_date,
        reason=clearing.history_change_reason or "",
        changed=changed,
    )
