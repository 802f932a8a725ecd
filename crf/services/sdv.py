"""Source data verification by a monitor."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.audit import record_update
from core.errors import DomainError
from core.policy import Action, require
from crf.models import (
    CrfForm,
    FormStatus,
)


@transaction.atomic
def crf_verify(*, form: CrfForm, actor: User) -> CrfForm:
    """Source data verification by a monitor."""
    require(actor, Action.SDV, form.patient.site)
    if not form.can_verify():
        raise DomainError("Only a complete form can be verified.")
    return record_update(
        obj=form,
        data={"status": FormStatus.VERIFIED, "verified_at": timezone.now(), "verified_by": actor},
        actor=actor,
        reason="Source data verified",
    )
