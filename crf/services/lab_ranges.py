"""Normal ranges of the site laboratories (protocol CRF 9: data a trial manager can maintain)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from accounts.models import User
from core.audit import record_create, record_update
from core.errors import DomainError
from core.policy import Action, require
from crf.models import (
    LabReferenceRange,
)

# Normal ranges of the site laboratories (protocol CRF 9: data a trial manager can maintain).


@transaction.atomic
def lab_reference_range_add(
    *,
    site,
    limit: str,
    value,
    effective_from: dt.date,
    actor: User,
    sex: str = "",
    effective_to: dt.date | None = None,
):
    """Record a normal-range limit of a site's laboratory from a date; the range of the same limit
    (and sex) still in force ends the day before, so one range applies on any day."""
    require(actor, Action.LAB_RANGES_MANAGE)
    if limit not in LabReferenceRange.Limit.values:
        raise DomainError("Choose the limit.", field="limit")
    if effective_to and effective_to < effective_from:
        raise DomainError("The range ends before it starts.", field="effective_to")
    current = (
        LabReferenceRange.objects.select_for_update()
        .filter(site=site, limit=limit, sex=sex, effective_to__isnull=True, retired_at__isnull=True)
        .first()
    )
    if current is not None:
        if current.effective_from >= effective_from:
            raise DomainError(
                f"A range of this limit is in force from {current.effective_from:%d %b %Y}: start after it.",
                field="effective_from",
            )
        record_update(
            obj=current,
            data={"effective_to": effective_from - dt.timedelta(days=1)},
            actor=actor,
            reason="Superseded by a new range",
        )
    return record_create(
        obj=LabReferenceRange(
            site=site, limit=limit, value=value, sex=sex, effective_from=effective_from, effective_to=effective_to
        ),
        actor=actor,
        reason="Laboratory normal range recorded",
    )
