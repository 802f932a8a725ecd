"""Writes about patients: screening, registration, consent, eligibility and withdrawal.

Every service is atomic and audited; the rules that refuse an action raise DomainError with the
field it concerns, so every interface (pages, API, commands) shows the same message.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import AuditEvent, User
from core.audit import audit_event_record, field_changes, record_create, record_update
from core.dataset_guard import dataset_write_guard
from core.errors import DomainError
from core.policy import Action, require
from core.signatures import signature_apply, signature_verify
from core.validators import is_in_future
from sites.models import Site

from .eligibility import evaluate, not_asked, stratification_levels
from .grading import age_range
from .models import (
    Consent,
    ConsentDocument,
    EligibilityAssessment,
    Patient,
    ReconsentTask,
    ScreeningEntry,
    Withdrawal,
)
from .signals import registration_corrected

ELIGIBILITY_MEANING = "I confirm this patient's eligibility assessment"
ON_STUDY = (Patient.Status.CONSENTED, Patient.Status.ELIGIBLE, Patient.Status.RANDOMISED, Patient.Status.FOLLOW_UP)


def _not_future(day: dt.date | None, field: str, what: str, *, site: Site) -> None:
    """The one rule (core.validators): after today on the site's calendar, not the server's."""
    if is_in_future(day, timezone_name=site.timezone):
        raise DomainError(f"The {what} is in the future.", field=field)


@transaction.atomic
def screening_log_add(*, actor: User, site: Site, data: dict) -> ScreeningEntry:
    require(actor, Action.SCREENING_LOG_ADD, site)
    _not_future(data.get("screened_on"), "screened_on", "screening date", site=site)
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


def _check_age_at_consent(year_of_birth: int, consented_at: dt.datetime) -> None:
    """Refuse a patient certainly under 18 at consent (protocol, Eligibility: "Age").

    From the year of birth alone the patient is one of two ages; a patient who may be 17 or 18 is
    registered, and inclusion 2 then waits for the investigator's explicit answer at eligibility.
    """
    day = timezone.localtime(consented_at).date()
    low, high = age_range(year_of_birth, day)
    if high < 18:
        raise DomainError(
            f"Born in {year_of_birth}, the patient was {low} or {high} on the day of consent "
            f"({day:%d %b %Y}): under 18, so not able to take part.",
            field="year_of_birth",
        )


def _check_screening_entry(screening: ScreeningEntry, *, site: Site, sex: str) -> None:
    # An entry already linked to a patient is settled under the site lock in patient_register (a
    # repeat of the same registration returns that patient).
    if screening.site_id != site.pk:
        raise DomainError("That screening entry belongs to another patient.", field="screening")
    if not screening.eligible or screening.not_randomised_reason in ScreeningEntry.NOT_REGISTRABLE:
        recorded = screening.get_not_randomised_reason_display() or "not eligible"
        raise DomainError(
            f"That screening entry records the patient as “{recorded}”: "
            "choose the patient's own entry, or add a new one to the screening log.",
            field="screening",
        )
    if sex and screening.sex != sex:
        raise DomainError(
            f"The screening entry records the sex as {screening.get_sex_display().lower()}. Check which is right: "
            "choose the patient's own entry or correct the sex.",
            field="sex",
        )


class RegistrationRefused(DomainError):
    """Every rule the registration breaks, each at its field (``errors``: [(field, message)])."""

    code = "registration_refused"

    def __init__(self, problems: list[DomainError]) -> None:
        super().__init__(" ".join(p.message for p in problems), field=problems[0].field)
        self.errors = [(p.field, p.message) for p in problems]


def registration_problems(
    *, site: Site, data: dict, consent: dict, screening: ScreeningEntry | None = None
) -> list[DomainError]:
    """All the cross-field rules a registration breaks, at once (so a nurse corrects them in one go).

    Checks what is given: the registration form calls it with the fields that parsed, the service
    with all of them.
    """
    problems: list[DomainError] = []

    def check(rule, *args, **kwargs) -> None:
        try:
            rule(*args, **kwargs)
        except DomainError as exc:
            problems.append(exc)

    liver, primary = data.get("liver_resection_date"), data.get("primary_resection_date")
    check(_not_future, liver, "liver_resection_date", "date of liver resection", site=site)
    check(_not_future, primary, "primary_resection_date", "date of primary resection", site=site)
    if liver and primary and primary > liver:
        problems.append(
            DomainError(
                "The primary must be resected before or with the liver metastases (protocol inclusion 6).",
                field="primary_resection_date",
            )
        )
    consented_at = consent.get("consented_at")
    if consented_at and consent.get("document"):
        check(_check_consent_document, consent["document"], consented_at)
    if consented_at and data.get("year_of_birth"):
        check(_check_age_at_consent, data["year_of_birth"], consented_at)
    if screening is not None:
        check(_check_screening_entry, screening, site=site, sex=data.get("sex"))
    return problems


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
    problems = registration_problems(site=site, data=data, consent=consent, screening=screening)
    if problems:
        raise RegistrationRefused(problems)

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
    patient.forget_sample_consent()
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
    _not_future(data["withdrawn_on"], "withdrawn_on", "withdrawal date", site=patient.site)
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
    for field in not_asked(patient):
        if data.get(field) is not None:
            label = EligibilityAssessment._meta.get_field(field).verbose_name
            raise DomainError(
                f"{patient.trial_number} is male: “{label}” is not asked of male patients (protocol CRF 13). "
                "Leave it unanswered.",
                code="not_applicable",
                field=field,
            )
    for field in ("assessed_on", "mri_date", "pet_date", "other_treatment_date", "liver_directed_therapy_date"):
        _not_future(
            data.get(field), field, str(EligibilityAssessment._meta.get_field(field).verbose_name), site=patient.site
        )
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
    *,
    actor: User,
    patient: Patient,
    password: str,
    otp_token: str = "",
    ip_address: str | None = None,
    username: str | None = None,
) -> EligibilityAssessment:
    """The PI or a delegated investigator confirms the outcome with an electronic signature."""
    require(actor, Action.ELIGIBILITY_CONFIRM, patient.site)
    assessment = EligibilityAssessment.objects.filter(patient=patient).first()
    if assessment is None:
        raise DomainError("Enter the eligibility assessment first.")
    before_randomisation = patient.status in (
        Patient.Status.CONSENTED,
        Patient.Status.ELIGIBLE,
        Patient.Status.INELIGIBLE,
    )
    # After randomisation the assessment is confirmed again only when a correction voided its
    # signature; the patient's status and strata stay as randomised (intention to treat).
    if not before_randomisation and assessment.outcome != EligibilityAssessment.Outcome.PENDING:
        raise DomainError(f"{patient.trial_number} is {patient.get_status_display().lower()}: eligibility is settled.")
    # Before the signature is verified: a refused write must not leave a verified signature behind.
    dataset_write_guard(what="the eligibility confirmation")
    result = evaluate(assessment, patient)
    if not result.complete:
        raise DomainError(
            "Answer every criterion before confirming: " + "; ".join(f.text for f in result.missing) + "."
        )
    if result.only_waiting:
        raise DomainError(
            "Not yet eligible: "
            + "; ".join(f.text for f in result.failed)
            + f". Every criterion can be met from {result.met_on:%d %b %Y}: assess again then, rather than "
            "confirming the patient as not eligible.",
            code="not_yet_eligible",
        )
    # Outside the transaction: a refused signature must leave its audit record behind.
    signature_verify(
        user=actor,
        password=password,
        meaning=ELIGIBILITY_MEANING,
        obj=assessment,
        ip_address=ip_address,
        otp_token=otp_token,
        username=username,
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
        if before_randomisation:
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


# Registration data a site may correct (protocol, Eligibility and CRFs 4, 6, 7): each is an input of
# the eligibility assessment (age, windows from the resections, inclusion 6, the pregnancy
# criteria), so a change sends a confirmed assessment back for the investigator's signature.
CORRECTABLE_FIELDS = ("liver_resection_date", "primary_resection_date", "year_of_birth", "sex")


@transaction.atomic
def patient_registration_correct(
    *, actor: User, patient: Patient, data: dict, reason: str, expected_version: int | None = None
) -> Patient:
    """Correct registration data with a reason, before or after randomisation (audited, old → new).

    A confirmed eligibility assessment goes back to "awaiting confirmation", which voids its
    signature; the visit schedule and the CRFs showing the dates follow through the
    ``registration_corrected`` event (crf re-anchors undone visits on a new liver-resection date).
    """
    unknown = set(data) - set(CORRECTABLE_FIELDS)
    if unknown:
        raise DomainError(f"Not correctable here: {', '.join(sorted(unknown))}.")
    # Correcting what registration recorded is part of registering (the same delegated duty).
    require(actor, Action.PATIENT_REGISTER, patient.site)
    if not reason or not reason.strip():
        raise DomainError("Give the reason for the correction.", field="reason")
    # Lock the patient row: a correction and a randomisation (which reads the dates) are serialised.
    locked = Patient.objects.select_for_update().select_related("site").get(pk=patient.pk)
    merged = {name: data.get(name, getattr(locked, name)) for name in CORRECTABLE_FIELDS}
    _not_future(merged["liver_resection_date"], "liver_resection_date", "date of liver resection", site=locked.site)
    _not_future(
        merged["primary_resection_date"], "primary_resection_date", "date of primary resection", site=locked.site
    )
    if merged["primary_resection_date"] > merged["liver_resection_date"]:
        raise DomainError(
            "The primary must be resected before or with the liver metastases (protocol inclusion 6).",
            field="primary_resection_date",
        )
    first_consent = locked.consents.order_by("consented_at", "id").first()
    if first_consent is not None:
        _check_age_at_consent(merged["year_of_birth"], first_consent.consented_at)
    changes = {name: (old, new) for name, old, new in field_changes(locked, data)}
    if not changes:
        return locked
    reason = reason.strip()
    locked = record_update(
        obj=locked,
        data=data,
        actor=actor,
        reason=f"Registration data corrected: {reason}",
        expected_version=expected_version,
    )
    labels = ", ".join(str(Patient._meta.get_field(n).verbose_name) for n in changes)
    assessment = EligibilityAssessment.objects.filter(patient=locked).first()
    if assessment is not None and assessment.outcome != EligibilityAssessment.Outcome.PENDING:
        record_update(
            obj=assessment,
            data={
                "outcome": EligibilityAssessment.Outcome.PENDING,
                "failed_criteria": [],
                "confirmed_at": None,
                "confirmed_by": None,
            },
            actor=actor,
            reason=f"Registration data it rests on corrected ({labels}): {reason}",
        )
        if locked.status in (Patient.Status.ELIGIBLE, Patient.Status.INELIGIBLE):
            locked = record_update(
                obj=locked,
                data={"status": Patient.Status.CONSENTED},
                actor=actor,
                reason=f"Eligibility to be confirmed again after a correction ({labels}): {reason}",
            )
    audit_event_record(
        kind=AuditEvent.Kind.RECORD_CHANGED,
        actor=actor,
        target=locked,
        reason=reason,
        summary=f"{locked.trial_number}: registration data corrected ({labels})",
        detail={name: [str(old), str(new)] for name, (old, new) in changes.items()},
    )
    registration_corrected.send(sender=Patient, patient=locked, changes=changes, actor=actor, reason=reason)
    patient.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_state")})
    return locked


@transaction.atomic
def consent_samples_withdraw(*, actor: User, patient: Patient, withdrawn_on: dt.date, reason: str) -> Consent:
    """The patient withdraws the optional consent to NETest/biobank samples (protocol, CRF 2).

    Recorded on the consent standing (audited, with the reason): from then on no biomarker sample is
    expected or accepted (CRF 13); samples already taken stay recorded.
    """
    require(actor, Action.CONSENT_RECORD, patient.site)
    if not reason or not reason.strip():
        raise DomainError("Give the reason, or write what the patient said.", field="reason")
    _not_future(withdrawn_on, "withdrawn_on", "date of withdrawal", site=patient.site)
    consent = Consent.objects.select_for_update().filter(patient=patient).order_by("-consented_at", "-id").first()
    if consent is None or not consent.samples_biobank or consent.samples_withdrawn_on is not None:
        raise DomainError(f"{patient.trial_number} has no standing consent to samples to withdraw.")
    if withdrawn_on < timezone.localtime(consent.consented_at).date():
        raise DomainError("The withdrawal is before the consent it withdraws.", field="withdrawn_on")
    consent = record_update(
        obj=consent,
        data={"samples_withdrawn_on": withdrawn_on},
        actor=actor,
        reason=f"Sample consent withdrawn: {reason.strip()}",
    )
    patient.forget_sample_consent()
    audit_event_record(
        kind=AuditEvent.Kind.CONSENT_WITHDRAWN,
        actor=actor,
        target=patient,
        reason=reason.strip(),
        summary=f"{patient.trial_number}: consent to NETest/biobank samples withdrawn on {withdrawn_on:%d %b %Y}",
    )
    return consent
