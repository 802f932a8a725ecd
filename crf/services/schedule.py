"""The visit schedule: visits created at randomisation, moved after the actual doses and a corrected
liver-resection date; unscheduled, missed and done visits."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import User
from core.audit import record_create, record_update
from core.errors import DomainError
from core.policy import Action, require
from core.validators import is_in_future
from crf import schedule
from crf.lifecycle import FOLLOW_UP_VISIT_PREFIX, patient_status_refresh
from crf.locking import entry_guard
from crf.models import (
    LutatheraDosing,
    Visit,
)
from crf.registry import FORMS
from patients.models import Patient

from .casebook import casebook_refresh


@transaction.atomic
def visits_schedule_create(*, patient: Patient, arm: str, randomised_on: dt.date, actor: User | None) -> list[Visit]:
    """Create the patient's visits for their arm (idempotent), each with its first history row.

    In two statements (django-simple-history's bulk_create_with_history) rather than fourteen saves
    and fourteen history inserts: this runs inside randomisation's transaction, which holds the
    patient's lock while a ward of nurses may be randomising at once.
    """
    if patient.visits.exists():
        return list(patient.visits.all())
    visits = [
        Visit(
            patient=patient,
            code=definition.code,
            label=definition.label,
            sequence=index,
            target_date=target,
            window_start=start,
            window_end=end,
        )
        for index, (definition, target, start, end) in enumerate(
            schedule.planned_visits(arm=arm, liver_resection=patient.liver_resection_date, randomised_on=randomised_on)
        )
    ]
    for visit in visits:
        visit._change_reason = f"Scheduled at randomisation (arm {arm})"
    log = Visit(
        patient=patient,
        code=schedule.LOG.code,
        label=schedule.LOG.label,
        sequence=999,
        target_date=randomised_on,
        window_start=randomised_on,
        window_end=max(v.window_end for v in visits),
    )
    log._change_reason = "Patient logs opened at randomisation"
    visits.append(log)
    now = timezone.now()
    for visit in visits:
        visit._history_user = actor
        visit.created_at = visit.updated_at = now
    # bulk_create_with_history bypasses record_create and its lock backstop.
    entry_guard("the visit schedule")
    created = bulk_create_with_history(visits, Visit, default_user=actor, default_date=now)
    if any(v.pk is None for v in created):  # a backend that returns no keys: read them back
        created = list(patient.visits.order_by("sequence"))
    return created


def _on_randomised(sender, allocation, actor, **kwargs):
    visits_schedule_create(
        patient=allocation.patient,
        arm=allocation.arm,
        randomised_on=timezone.localtime(allocation.randomised_at).date(),
        actor=actor,
    )


@transaction.atomic
def visits_reschedule_after_dose(*, patient: Patient, actor: User | None) -> list[Visit]:
    """Move the later dosing and safety visits after the actual dose dates; never the follow-up grid."""
    doses = {
        d.visit.code: d.dose_date
        for d in LutatheraDosing.objects.filter(patient=patient).select_related("visit")
        if d.dose_date
    }
    allocation_arm = getattr(getattr(patient, "allocation", None), "arm", "B")
    randomised = patient.visits.filter(code="RAND").first()
    planned = schedule.planned_visits(
        arm=allocation_arm,
        liver_resection=patient.liver_resection_date,
        randomised_on=randomised.target_date if randomised else timezone.localdate(),
        cycle_1_dose=doses.get("C1"),
        cycle_2_dose=doses.get("C2"),
    )
    moved = []
    by_code = {v.code: v for v in patient.visits.all()}
    for definition, target, start, end in planned:
        visit = by_code.get(definition.code)
        if visit is None or visit.done_on or definition.anchor not in (schedule.CYCLE_1, schedule.CYCLE_2):
            continue
        if visit.target_date != target:
            reason = f"Rescheduled after the actual {schedule.ANCHOR_LABELS[definition.anchor]}"
            moved.append(
                record_update(
                    obj=visit,
                    data={"target_date": target, "window_start": start, "window_end": end},
                    actor=actor,
                    reason=reason,
                )
            )
    return moved


@transaction.atomic
def visits_reanchor_on_liver_resection(*, patient: Patient, actor: User | None, reason: str) -> list[Visit]:
    """After the liver-resection date was corrected: move every visit not yet done to the schedule
    on the new date (by the same offset where the visit hangs on the resection, or chains on a
    target that did); visits done stay on their date and are flagged if now outside their window."""
    allocation = getattr(patient, "allocation", None)
    randomised = patient.visits.filter(code="RAND").first()
    if allocation is None or randomised is None:
        return []
    doses = {
        d.visit.code: d.dose_date
        for d in LutatheraDosing.objects.filter(patient=patient).select_related("visit")
        if d.dose_date
    }
    planned = schedule.planned_visits(
        arm=allocation.arm,
        liver_resection=patient.liver_resection_date,
        randomised_on=randomised.target_date,
        cycle_1_dose=doses.get("C1"),
        cycle_2_dose=doses.get("C2"),
    )
    by_code = {v.code: v for v in patient.visits.all()}
    changed = []
    for _definition, target, start, end in planned:
        visit = by_code.get(_definition.code)
        if visit is None:
            continue
        if visit.done_on:
            outside = not (start <= visit.done_on <= end)
            flag = (
                f"Done {visit.done_on:%d %b %Y}, outside the window {start:%d %b %Y}–{end:%d %b %Y} on the "
                "corrected liver resection date."
                if outside
                else ""
            )
            if flag != visit.window_flag:
                changed.append(
                    record_update(
                        obj=visit,
                        data={"window_flag": flag},
                        actor=actor,
                        reason=f"Liver resection date corrected: {reason}",
                    )
                )
        elif visit.target_date != target:
            changed.append(
                record_update(
                    obj=visit,
                    data={"target_date": target, "window_start": start, "window_end": end},
                    actor=actor,
                    reason=f"Re-anchored on the corrected liver resection date: {reason}",
                )
            )
    return changed


# The CRF fields that show a registration date: the registration is the source (protocol, CRF 6 and 7).
REGISTRATION_DATE_FIELDS = {
    "liver_resection_date": ("liver_resection", "resection_date"),
    "primary_resection_date": ("histopathology", "primary_resection_date"),
}


def _on_registration_corrected(sender, patient, changes, actor, reason, **kwargs):
    """patients.signals.registration_corrected: the schedule and the CRFs follow the registration."""
    if "liver_resection_date" in changes:
        visits_reanchor_on_liver_resection(patient=patient, actor=actor, reason=reason)
    for name, (form_code, field) in REGISTRATION_DATE_FIELDS.items():
        if name not in changes or form_code not in FORMS:
            continue
        for form in FORMS[form_code].objects.filter(patient=patient):
            if getattr(form, field) not in (None, getattr(patient, name)):
                record_update(
                    obj=form,
                    data={field: getattr(patient, name)},
                    actor=actor,
                    reason=f"Shows the corrected registration date: {reason}",
                )
    casebook_refresh(patient=patient, actor=actor, reason=f"Registration data corrected: {reason}")


@transaction.atomic
def visit_add_unscheduled(*, patient: Patient, day: dt.date, reason: str, actor: User) -> Visit:
    require(actor, Action.CRF_ENTER, patient.site)
    entry_guard()
    if not reason.strip():
        raise DomainError("Give the reason for the unscheduled visit.", field="reason")
    number = patient.visits.filter(code__startswith="U").count() + 1
    return record_create(
        obj=Visit(
            patient=patient,
            code=f"U{number}",
            label=f"Unscheduled visit {number}",
            sequence=900 + number,
            target_date=day,
            window_start=day,
            window_end=day,
            unscheduled_reason=reason,
        ),
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def visit_mark_missed(*, visit: Visit, reason: str, actor: User) -> Visit:
    require(actor, Action.CRF_ENTER, visit.patient.site)
    entry_guard()
    if visit.is_log or visit.done_on:
        raise DomainError("Only a visit not done can be recorded as missed.")
    if not reason.strip():
        raise DomainError("Give the reason the visit was missed.", field="reason")
    return record_update(obj=visit, data={"missed_reason": reason}, actor=actor, reason=f"Missed: {reason}")


@transaction.atomic
def visit_mark_done(*, visit: Visit, day: dt.date, actor: User) -> Visit:
    require(actor, Action.CRF_ENTER, visit.patient.site)
    entry_guard()
    if visit.is_log:
        raise DomainError("The logs are not a visit.")
    if is_in_future(day, timezone_name=visit.patient.site.timezone):
        raise DomainError("The date is in the future.", field="day")
    if day < visit.patient.liver_resection_date:
        raise DomainError("The visit cannot be before the liver resection.", field="day")
    data = {"done_on": day, "missed_reason": ""}
    reason = "Visit done" if not visit.done_on else f"Visit date corrected from {visit.done_on:%d %b %Y}"
    visit = record_update(obj=visit, data=data, actor=actor, reason=reason)
    if visit.code.startswith(FOLLOW_UP_VISIT_PREFIX):
        patient_status_refresh(patient=visit.patient, actor=actor, reason=f"{visit.code} done")
    return visit
