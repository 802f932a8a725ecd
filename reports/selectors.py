"""Reads for the access review (Annex 11 §12: periodic review of who can do what)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils import timezone

from accounts.models import User
from accounts.twofactor import requires_two_factor
from sites.models import Delegation

UNUSED_AFTER_DAYS = 90


@dataclass
class AccessRow:
    user: User
    site_roles: list[str]
    two_factor: bool
    two_factor_required: bool
    unused: bool


def access_review_rows(*, now: dt.datetime | None = None) -> list[AccessRow]:
    """Every account with its roles, sites, last login and 2FA status; three queries in all."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=UNUSED_AFTER_DAYS)
    users = User.objects.order_by("full_name").prefetch_related(
        Prefetch("delegations", queryset=Delegation.objects.current().select_related("site"), to_attr="current"),
        "totpdevice_set",
    )
    rows = []
    for user in users:
        roles = [f"{d.site.code} {d.get_role_display()}" for d in user.current]
        # Fill the user's cached site roles from the prefetch so the 2FA rule costs no query per user.
        held: dict[int, set[str]] = {}
        for d in user.current:
            held.setdefault(d.site_id, set()).add(d.role)
        user.__dict__["site_roles"] = {k: frozenset(v) for k, v in held.items()}
        last_seen = user.last_login or user.date_joined
        rows.append(
            AccessRow(
                user=user,
                site_roles=roles,
                two_factor=any(d.confirmed for d in user.totpdevice_set.all()),
                two_factor_required=requires_two_factor(user),
                unused=user.is_active and last_seen < cutoff,
            )
        )
    return rows
