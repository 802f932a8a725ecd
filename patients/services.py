"""Writes about patients: screening, registration, consent, eligibility and withdrawal.

Every service is atomic and audited; the rules that refuse an action raise DomainError with the
field it concerns, so every interface (pages, API, commands) shows the same message.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.audit import audit_event_record, record_create, record_update
from accounts.dataset_guard import dataset_write_guard
from accounts.errors import DomainError
from accounts.models import AuditEvent, User
from accounts.signatures import signature_apply, signature_verify
from core.policy import Action, require
from sites.models import Site

from .eligibility import evaluate, stratification_levels
from .models import (
    Consent,
    ConsentDocument,
    EligibilityAssessment,
    Patient,
    ReconsentTask,
    ScreeningEntry,
    Withdrawal,
)

ELIGIBILITY_MEANING = "I confirm this patient's eligibility assessment"
ON_STUDY = (Patient.Status.CONSENTED, Patient.Status.ELIGIBLE, Patient.Status.RANDOMISED, Patient.Status.FOLLOW_UP)


def _not_future(day: dt.date | None, field: str, what: str) -> None:
    if day is not None and day > timezone.localdate():
        raise DomainError(f"The {what} is in the future.", field=field)


@transaction.atomic
def screening_log_add(*, actor: User, site: Site, data: dict) -> ScreeningEntry:
    require(actor, Action.SCREENING_LOG_ADD, site)
    _not_future(data.get("screened_on"), "screened_on", "screening date")
    if not data.get("eligible") and not data.get("not_randomised_reason"):
        raise DomainError("Give the reason this patient is not taking part.", field="not_randomised_reason")
    entry = record_create(obj=ScreeningEntry(site=site, created_by=actor, **data), actor=actor, reason="Screened")
    return entry


def _check_consent_document(document: ConsentDocument, consented_at: dt.datetime) -> None:
    day = timezone.localtime(consented_at).date()
    if not document.is_valid_on(day):
        until = (
            f" (valid {document.valid_from:%d %b %Y} to {document.valid_to:%d %b %Y})"
            if document.valid_to
            else (f" (valid from {document.valid_from:%d %b %Y})")
        )
        raise DomainError(
            f"Version {document.document_version} of the consent form was not valid on {day:%d %b %Y}{until}. "
            "Use the version approved for that date.",
            field="document",
        )
    if consented_at > timezone.now():
        raise DomainError("The consent time is in the future.", field="consented_at")


@transaction.atomic
def patient_register(
    *,
    actor: User,
    site: Site,
    data: dict,
    consent: dict,
    screening: ScreeningEntry | None = None,
    confirm_possible_duplicate: bool = False,
) -> Patient:
    """Register a consented patient and give them the next trial number of the site.

    ``data``: initials, year_of_birth, sex, liver_resection_date, primary_resection_date.
    ``consent``: document, consented_at and the optional consents.
    """
    require(actor, Action.PATIENT_REGISTER, site)
    if not site.can_recruit():
        raise DomainError(f"Site {site.code} is {site.get_status_display().lower()}: it cannot register patients.")
    initials = data["initials"].upper()
    _not_future(data["liver_resection_date"], "liver_resection_date", "date of liver resection")
    _not_future(data["primary_resection_date"], "primary_resection_date", "date of primary resection")
    if data["primary_resection_date"] > data["liver_resection_date"]:
        raise DomainError(
            "The primary must be resected before or with the liver metastases (protocol inclusion 6).",
            field="primary_resection_date",
        )
    consented_at = consent["consented_at"]
    _check_consent_document(consent["document"], consented_at)
    age = timezone.localtime(consented_at).year - data["year_of_birth"]
    if age < 18:
        raise DomainError(
            f"Born in {data['year_of_birth']}, the patient is {age} at most: under 18.", field="year_of_birth"
        )
    if screening is not None and screening.site_id != site.pk:
        raise DomainError("That screening entry belongs to another patient.", field="screening")

    # Lock the site row: registrations at one site are serialised, so two nurses registering at the
    # same moment get consecutive numbers. Patients are never deleted, so a number is never reused.
    Site.objects.select_for_update().get(pk=site.pk)
    if screening is not None:
        # Read again under the site lock: the entry passed in was read before it. A repeat of the
        # same registration (a double click, a retried post, three tabs) returns the patient the
        # first one made, even with "not a duplicate" ticked; one screening line is one patient.
        screening = ScreeningEntry.objects.select_related("patient").get(pk=screening.pk)
        if screening.patient_id is not None:
            linked = screening.patient
            if (linked.initials, linked.year_of_birth, linked.sex) == (initials, data["year_of_birth"], data["sex"]):
                return linked
            raise DomainError("That screening entry belongs to another patient.", field="screening")
    if not confirm_possible_duplicate:
        twin = Patient.objects.filter(
            site=site, initials=initials, year_of_birth=data["year_of_birth"], sex=data["sex"]
        ).first()
        if twin is not None:
            raise DomainError(
                f"{twin.trial_number} has the same initials, year of birth and sex. If this is a different "
                "person, tick “not a duplicate” and save again.",
                code="possible_duplicate",
                field="initials",
            )
    sequence = (Patient.objects.filter(site=site).aggregate(m=Max("site_sequence"))["m"] or 0) + 1
    patient = record_create(
        obj=Patient(
            site=site,
            site_sequence=sequence,
            trial_number=f"NEL-{site.code}-{sequence:03d}",
            registered_by=actor,
            **{**data, "initials": initials},
        ),
        actor=actor,
        reason="Registered after consent",
    )
    record_create(obj=Consent(patient=patient, taken_by=actor, **consent), actor=actor, reason="Initial consent")
    if screening is not None:
        record_update(
            obj=screening,
            data={"patient": patient, "eligible": True, "not_randomised_reason": ""},
            actor=actor,
            reason=f"Registered as {patient.trial_number}",
        )
    audit_event_record(
        kind=AuditEvent.Kind.PATIENT_REGISTERED,
        actor=actor,
        target=patient,
        summary=f"{patient.trial_number} registered (consent v{consent['document'].document_version})",
    )
    return patient


@transaction.atomic
def consent_record(*, actor: User, patient: Patient, data: dict) -> Consent:
    """Record a (re-)consent; it completes the re-consent task for that version."""
    require(actor, Action.CONSENT_RECORD, patient.site)
    if not patient.is_on_study():
        raise DomainError(f"{patient.trial_number} is {patient.get_status_display().lower()}.")
    _check_consent_document(data["document"], data["consented_at"])
    consent = record_create(obj=Consent(patient=patient, taken_by=actor, **data), actor=actor, reason="Re-consent")
    for task in patient.reconsent_tasks.filter(document=data["document"], completed_at__isnull=True):
        record_update(obj=task, data={"completed_at": timezone.now()}, actor=actor, reason="Patient re-consented")
    audit_event_record(
        kind=AuditEvent.Kind.CONSENT_RECORDED,
        actor=actor,
        target=patient,
        summary=f"{patient.trial_number} consented on v{data['document'].document_version}",
    )
    return consent


@transaction.atomic
def consent_document_add(*, actor: User, data: dict) -> ConsentDocument:
    """A new approved version; every patient on study who has not signed it gets a re-consent task."""
    require(actor, Action.CONSENT_DOCUMENT_MANAGE)
    if ConsentDocument.objects.filter(document_version=data["document_version"]).exists():
        raise DomainError(f"Version {data['document_version']} already exists.", field="document_version")
    if data.get("valid_to") and data["valid_to"] < data["valid_from"]:
        raise DomainError("“Valid to” is before “valid from”.", field="valid_to")
    document = record_create(obj=ConsentDocument(**data), actor=actor, reason="New consent version approved")
    previous = ConsentDocument.objects.exclude(pk=document.pk).filter(
        valid_to__isnull=True, valid_from__lt=document.valid_from
    )
    for old in previous:
        record_update(
            obj=old,
            data={"valid_to": document.valid_from - dt.timedelta(days=1)},
            actor=actor,
            reason=f"Superseded by v{document.document_version}",
        )
    patients = Patient.objects.filter(status__in=ON_STUDY).exclude(consents__document=document)
    for patient in patients:
        record_create(
            obj=ReconsentTask(patient=patient, document=document),
            actor=actor,
            reason=f"Consent v{document.document_version} approved",
        )
    return document


@transaction.atomic
def patient_withdraw(*, actor: User, patient: Patient, data: dict) -> Withdrawal:
    """Withdraw a patient at a level; their data stays, later forms stop being expected."""
    require(actor, Action.PATIENT_WITHDRAW, patient.site)
    if patient.status in Patient.OFF_STUDY:
        raise DomainError(f"{patient.trial_number} is already {patient.get_status_display().lower()}.")
    _not_future(data["withdrawn_on"], "withdrawn_on", "withdrawal date")
    withdrawal = record_create(
        obj=Withdrawal(patient=patient, recorded_by=actor, **data), actor=actor, reason=data["reason"]
    )
    if withdrawal.level != Withdrawal.Level.TREATMENT:
        record_update(
            obj=patient,
            data={"status": Patient.Status.WITHDRAWN},
            actor=actor,
            reason=f"Withdrawn ({withdrawal.get_level_display()}): {data['reason']}",
        )
    audit_event_record(
        kind=AuditEvent.Kind.CONSENT_WITHDRAWN,
        actor=actor,
        target=patient,
        reason=data["reason"],
        summary=f"{patient.trial_number} withdrawn: {withdrawal.get_level_display()}",
    )
    return withdrawal


@transaction.atomic
def eligibility_save(
    *, actor: User, patient: Patient, data: dict, reason: str = "", expected_version: int | None = None
) -> EligibilityAssessment:
    """Save the answers (partially is fine). A change after confirmation needs a reason, invalidates
    the signature and sends the assessment back for confirmation."""
    require(actor, Action.ELIGIBILITY_ASSESS, patient.site)
    for field in ("assessed_on", "mri_date", "pet_date", "other_treatment_date", "liver_directed_therapy_date"):
        _not_future(data.get(field), field, str(EligibilityAssessment._meta.get_field(field).verbose_name))
    existing = EligibilityAssessment.objects.filter(patient=patient).first()
    # The date of assessment is the one answer the record cannot exist without: refused at the
    # field, not left to the database's NOT NULL (a 500 from the API, issue 19).
    if ("assessed_on" in data or existing is None) and not data.get("assessed_on"):
        raise DomainError("Enter the date of assessment.", code="required", field="assessed_on")
    if existing is None:
        return record_create(
            obj=EligibilityAssessment(patient=patient, **data), actor=actor, reason="Eligibility assessment started"
        )
    was_confirmed = existing.outcome != EligibilityAssessment.Outcome.PENDING
    version_before = existing.version
    assessment = record_update(obj=existing, data=data, actor=actor, reason=reason, expected_version=expected_version)
    if was_confirmed and assessment.version != version_before:
        assessment = record_update(
            obj=assessment,
            data={
                "outcome": EligibilityAssessment.Outcome.PENDING,
                "failed_criteria": [],
                "confirmed_at": None,
                "confirmed_by": None,
            },
            actor=actor,
            reason=f"Changed after confirmation: {reason}",
        )
        if patient.status in (Patient.Status.ELIGIBLE, Patient.Status.INELIGIBLE):
            record_update(
                obj=patient,
                data={"status": Patient.Status.CONSENTED},
                actor=actor,
                reason=f"Eligibility to be confirmed again: {reason}",
            )
    return assessment


def eligibility_confirm(
    *, actor: User, patient: Patient, password: str, otp_token: str = "", ip_address: str | None = None
) -> EligibilityAssessment:
    """The PI or a delegated investigator confirms the outcome with an electronic signature."""
    require(actor, Action.ELIGIBILITY_CONFIRM, patient.site)
    assessment = EligibilityAssessment.objects.filter(patient=patient).first()
    if assessment is None:
        raise DomainError("Enter the eligibility assessment first.")
    if patient.status not in (Patient.Status.CONSENTED, Patient.Status.ELIGIBLE, Patient.Status.INELIGIBLE):
        raise DomainError(f"{patient.trial_number} is {patient.get_status_display().lower()}: eligibility is settled.")
    # Before the signature is verified: a refused write must not leave a verified signature behind.
    dataset_write_guard(what="the eligibility confirmation")
    result = evaluate(assessment, patient)
    if not result.complete:
        raise DomainError(
            "Answer every criterion before confirming: " + "; ".join(f.text for f in result.missing) + "."
        )
    # Outside the transaction: a refused signature must leave its audit record behind.
    signature_verify(
        user=actor,
        password=password,
        meaning=ELIGIBILITY_MEANING,
        obj=assessment,
        ip_address=ip_address,
        otp_token=otp_token,
    )
    with transaction.atomic():
        outcome = (
            EligibilityAssessment.Outcome.ELIGIBLE if result.eligible else EligibilityAssessment.Outcome.INELIGIBLE
        )
        assessment = record_update(
            obj=assessment,
            data={
                "outcome": outcome,
                "failed_criteria": [f.text for f in result.failed],
                "confirmed_at": timezone.now(),
                "confirmed_by": actor,
            },
            actor=actor,
            reason="Confirmed by investigator",
        )
        status = Patient.Status.ELIGIBLE if result.eligible else Patient.Status.INELIGIBLE
        factors = stratification_levels(assessment) if result.eligible else {}
        record_update(
            obj=patient,
            data={"status": status, **factors},
            actor=actor,
            reason="Eligibility confirmed"
            if result.eligible
            else "Not eligible: " + "; ".join(f.text for f in result.failed),
        )
        signature_apply(user=actor, meaning=ELIGIBILITY_MEANING, obj=assessment, ip_address=ip_address)
        audit_event_record(
            kind=AuditEvent.Kind.ELIGIBILITY_CONFIRMED,
            actor=actor,
            target=patient,
            summary=f"{patient.trial_number}: {assessment.get_outcome_display()}",
            detail={"failed": [f.code for f in result.failed]},
        )
    return assessment
