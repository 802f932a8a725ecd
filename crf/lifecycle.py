"""A randomised patient's status, kept from the forms that establish it.

protocol.md "Analysis datasets": the status is one of in follow-up, completed, withdrawn (with level
and date), lost to follow-up, died. The sources are the end of study / death form (CRF 13), the
withdrawal record (patients) and the visits done:

- died: the end of study form gives a date of death, or "death" as the reason;
- withdrawn: a withdrawal from follow-up or from further use of data, or "withdrawal" as the end
  of study reason (a withdrawal from treatment only leaves follow-up going on);
- lost to follow-up: "lost" as the end of study reason;
- completed: "completed 36 months", or the study ended by the sponsor's decision (no status of its
  own in the protocol; the reason is exported beside the status);
- in follow-up: a follow-up visit (FUnn) took place;
- randomised: otherwise.

Death outranks the others (a patient withdrawn or lost whose death is later recorded has died);
a recorded withdrawal outranks an end of study reason that contradicts it.
"""

from __future__ import annotations

from accounts.models import User
from core.audit import record_update
from patients.models import Patient, Withdrawal

from .models import EndOfStudy, Visit

RANDOMISED_STATUSES = (
    Patient.Status.RANDOMISED,
    Patient.Status.FOLLOW_UP,
    Patient.Status.COMPLETED,
    Patient.Status.WITHDRAWN,
    Patient.Status.DIED,
    Patient.Status.LOST,
)
FOLLOW_UP_VISIT_PREFIX = "FU"
STOPS_FOLLOW_UP = (Withdrawal.Level.FOLLOW_UP, Withdrawal.Level.DATA_USE)


def patient_status_from_sources(patient: Patient) -> str:
    """The status the source forms establish for a randomised patient (rules in the module doc)."""
    end = EndOfStudy.objects.filter(patient=patient).first()
    reason = end.reason if end else ""
    if (end and end.death_date) or reason == EndOfStudy.Reason.DEATH:
        return Patient.Status.DIED
    if (
        Withdrawal.objects.filter(patient=patient, level__in=STOPS_FOLLOW_UP, retired_at__isnull=True).exists()
        or reason == EndOfStudy.Reason.WITHDRAWAL
    ):
        return Patient.Status.WITHDRAWN
    if reason == EndOfStudy.Reason.LOST:
        return Patient.Status.LOST
    if reason in (EndOfStudy.Reason.COMPLETED, EndOfStudy.Reason.SPONSOR):
        return Patient.Status.COMPLETED
    if Visit.objects.filter(
        patient=patient, code__startswith=FOLLOW_UP_VISIT_PREFIX, done_on__isnull=False, retired_at__isnull=True
    ).exists():
        return Patient.Status.FOLLOW_UP
    return Patient.Status.RANDOMISED


def patient_status_refresh(*, patient: Patient, actor: User | None, reason: str) -> Patient:
    """Bring a randomised patient's status in line with the source forms (audited, with the reason).

    Called in the transaction of the write that changed a source: the end of study form, a visit
    date, a withdrawal. Patients not randomised are left to registration and eligibility.
    """
    current = Patient.objects.get(pk=patient.pk)
    if current.status not in RANDOMISED_STATUSES:
        return current
    status = patient_status_from_sources(current)
    if status == current.status:
        return current
    updated = record_update(obj=current, data={"status": status}, actor=actor, reason=f"Status from {reason}")
    patient.status = updated.status
    return updated
