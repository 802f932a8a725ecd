"""Safety writes: AEs, SAE reports, the PI's signed assessment and the sponsor's review."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.audit import record_create, record_update
from accounts.errors import DomainError, NotPermitted
from accounts.models import User
from accounts.roles import INVESTIGATOR_ROLES, TrialRole
from accounts.signatures import signature_apply, signature_status, signature_verify
from crf.locking import entry_guard
from patients.models import Patient
from sites.models import Duty
from sites.selectors import user_has_duty

from . import clocks
from .models import RELATED, AdverseEvent, Expectedness, Outcome, ReferenceSafetyInformation, SaeReport

PI_MEANING = "I confirm my causality and expectedness assessment"
CRITERIA = [
    "criterion_death",
    "criterion_life_threatening",
    "criterion_hospitalisation",
    "criterion_disability",
    "criterion_congenital_anomaly",
    "criterion_important_medical_event",
]


class AeInvalid(DomainError):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(m for _f, m in errors))
        self.errors = errors


def ae_check(data: dict, *, patient: Patient) -> list[tuple[str, str]]:
    """Edit checks of an AE (field, message). The planned radiation-protection rule is shown to the nurse."""
    errors = []
    onset, stop = data.get("onset_date"), data.get("stop_date")
    today = timezone.localdate()
    if onset and onset > today:
        errors.append(("onset_date", "The onset is in the future."))
    first_consent = patient.consents.order_by("consented_at").first()
    if onset and first_consent and onset < timezone.localtime(first_consent.consented_at).date():
        errors.append(("onset_date", "Adverse events are recorded from consent: this onset is before it."))
    if stop and onset and stop < onset:
        errors.append(("stop_date", "The event stops before its onset."))
    if data.get("ongoing") and stop:
        errors.append(("stop_date", "An ongoing event has no stop date."))
    if not data.get("ongoing") and not stop and data.get("outcome") in (Outcome.RECOVERED, Outcome.SEQUELAE):
        errors.append(("stop_date", "A recovered event has a stop date."))
    criteria = [c for c in CRITERIA if data.get(c)]
    if data.get("serious") and not criteria:
        errors.append(("serious", "Tick the seriousness criterion that applies."))
    if criteria and not data.get("serious"):
        errors.append(("serious", "A seriousness criterion is ticked: the event is serious."))
    if data.get("planned_radiation_admission") and criteria == ["criterion_hospitalisation"]:
        errors.append(
            (
                "criterion_hospitalisation",
                "A planned admission for radiation protection after Lutathera is not an SAE: untick "
                "hospitalisation (and serious) unless another criterion applies.",
            )
        )
    if data.get("grade") == 5 and data.get("outcome") != Outcome.FATAL:
        errors.append(("outcome", "A grade 5 event is fatal: the outcome is Fatal."))
    if data.get("outcome") == Outcome.FATAL and data.get("grade") != 5:
        errors.append(("grade", "A fatal event is grade 5."))
    if data.get("grade") == 5 and not data.get("criterion_death"):
        errors.append(("criterion_death", "A grade 5 event results in death: tick the criterion."))
    if data.get("serious") and not data.get("aware_at"):
        errors.append(("aware_at", "Give when the site became aware: it starts the 24-hour reporting clock."))
    arm = getattr(getattr(patient, "allocation", None), "arm", None)
    if data.get("dosing_cycle") and arm != "B":
        errors.append(("dosing_cycle", "Only patients of arm B receive Lutathera."))
    return errors


def _require_ae_staff(actor: User, patient: Patient) -> None:
    if not actor.has_site_role(patient.site):
        raise NotPermitted("Adverse events are recorded by the site's delegated staff.")


@transaction.atomic
def ae_save(
    *,
    patient: Patient,
    data: dict,
    actor: User,
    instance: AdverseEvent | None = None,
    reason: str = "",
    expected_version: int | None = None,
) -> AdverseEvent:
    """Record or change an AE. Marking it serious opens exactly one initial SAE report, due
    SAE_INITIAL_HOURS after the site became aware."""
    _require_ae_staff(actor, patient)
    entry_guard()
    merged = {f.name: getattr(instance, f.name) for f in AdverseEvent._meta.concrete_fields} if instance else {}
    merged |= data
    errors = ae_check(merged, patient=patient)
    if errors:
        raise AeInvalid(errors)
    if instance is None:
        ae = record_create(obj=AdverseEvent(patient=patient, **data), actor=actor, reason="First entry")
    else:
        ae = record_update(obj=instance, data=data, actor=actor, reason=reason, expected_version=expected_version)
    if ae.serious and not SaeReport.objects.filter(adverse_event=ae, number=0).exists():
        record_create(
            obj=SaeReport(adverse_event=ae, number=0, aware_at=ae.aware_at, due_at=clocks.sae_initial_due(ae.aware_at)),
            actor=actor,
            reason="Opened: the adverse event is serious",
        )
    return ae


def death_record_missing(ae: AdverseEvent) -> bool:
    """A grade 5 AE needs the end of study / death CRF completed with the death."""
    if ae.grade != 5:
        return False
    from crf.models import EndOfStudy, FormStatus

    end = EndOfStudy.objects.filter(patient=ae.patient).first()
    return end is None or end.reason != "death" or not end.death_date or end.status == FormStatus.IN_PROGRESS


@transaction.atomic
def sae_update(
    *, report: SaeReport, data: dict, actor: User, reason: str = "", expected_version: int | None = None
) -> SaeReport:
    """The site's report fields. A change after the PI signed invalidates the signature (audited)."""
    _require_ae_staff(actor, report.patient)
    entry_guard()
    merged = {**{n: getattr(report, n) for n in ("admission_date", "discharge_date")}, **data}
    if merged["admission_date"] and merged["discharge_date"] and merged["discharge_date"] < merged["admission_date"]:
        raise DomainError("The discharge is before the admission.", field="discharge_date")
    if not reason.strip():
        reason = "Report completed" if not signature_status(obj=report) else ""
    return record_update(obj=report, data=data, actor=actor, reason=reason, expected_version=expected_version)


@transaction.atomic
def sae_follow_up(*, report: SaeReport, actor: User, aware_at=None) -> SaeReport:
    """A numbered follow-up report on the same event."""
    _require_ae_staff(actor, report.patient)
    ae = report.adverse_event
    number = (ae.sae_reports.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    aware_at = aware_at or timezone.now()
    return record_create(
        obj=SaeReport(adverse_event=ae, number=number, aware_at=aware_at, due_at=clocks.sae_initial_due(aware_at)),
        actor=actor,
        reason=f"Follow-up report {number}",
    )


def sae_sign(
    *,
    report: SaeReport,
    actor: User,
    password: str,
    assessment: dict,
    otp_token: str = "",
    ip_address: str | None = None,
) -> SaeReport:
    """The PI or a delegated, medically qualified investigator assesses and signs (21 CFR 11.50/11.200).

    Only the signer's own password (and one-time code) signs: nobody signs for someone else.
    """
    patient = report.patient
    if not actor.has_site_role(patient.site, *INVESTIGATOR_ROLES) or not user_has_duty(
        actor, patient.site, Duty.SAE_ASSESSMENT
    ):
        raise NotPermitted("SAEs are signed by the PI or a delegated, medically qualified investigator.")
    missing = [
        k
        for k in ("pi_causality_lutathera", "pi_causality_amino_acids", "pi_causality_procedures", "pi_expectedness")
        if not assessment.get(k)
    ]
    if missing:
        raise DomainError("Give the causality to each product and procedure, and the expectedness.")
    if not report.narrative.strip():
        raise DomainError("The report has no narrative yet: the site completes it before the PI signs.")
    if death_record_missing(report.adverse_event):
        raise DomainError("A grade 5 event: complete the end of study / death form first.")
    # Before the signature is verified: a refused write must not leave a verified signature behind.
    entry_guard("the SAE report")
    rsi = ReferenceSafetyInformation.in_force(timezone.localdate())
    if rsi is None:
        raise DomainError("No Reference Safety Information is in force: the trial manager adds it.")
    # Outside the transaction: a refused signature leaves its audit record behind.
    signature_verify(
        user=actor, password=password, meaning=PI_MEANING, obj=report, ip_address=ip_address, otp_token=otp_token
    )
    with transaction.atomic():
        report = record_update(
            obj=report,
            data={**assessment, "rsi": rsi, "submitted_at": report.submitted_at or timezone.now()},
            actor=actor,
            reason="Investigator's assessment",
        )
        signature_apply(user=actor, meaning=PI_MEANING, obj=report, ip_address=ip_address)
    return report


def pi_signed(report: SaeReport) -> bool:
    return any(valid for _s, valid in signature_status(obj=report))


@transaction.atomic
def sponsor_review(
    *, report: SaeReport, actor: User, causality: str, expectedness: str, sponsor_aware_at, comment: str = ""
) -> SaeReport:
    """The sponsor's opinion (kept beside the PI's) and the SUSAR classification with its clock.

    SUSAR = related (by the PI or the sponsor: the sponsor cannot downgrade the investigator's
    causality) and unexpected (the sponsor's assessment against the RSI).
    """
    if not actor.has_trial_role(TrialRole.TRIAL_MANAGER):
        raise NotPermitted("The sponsor's review is done by the trial manager (sponsor safety).")
    if not pi_signed(report):
        raise DomainError("The PI has not signed this report (or the signature was invalidated).")
    if not causality or not expectedness or sponsor_aware_at is None:
        raise DomainError("Give the sponsor's causality, expectedness and when the sponsor became aware.")
    related = report.pi_causality_lutathera in RELATED or causality in RELATED
    susar = related and expectedness == Expectedness.UNEXPECTED
    due = follow_up = None
    if susar:
        ae = report.adverse_event
        severe = ae.criterion_death or ae.criterion_life_threatening
        due, follow_up = clocks.susar_due(sponsor_aware_at, fatal_or_life_threatening=severe)
    report = record_update(
        obj=report,
        data={
            "sponsor_causality": causality,
            "sponsor_expectedness": expectedness,
            "sponsor_comment": comment,
            "sponsor_aware_at": sponsor_aware_at,
            "susar": susar,
            "susar_due_at": due,
            "susar_followup_due_at": follow_up,
            "reviewed_by": actor,
            "reviewed_at": timezone.now(),
        },
        actor=actor,
        reason="Sponsor review" + (": SUSAR" if susar else ""),
    )
    return report


@transaction.atomic
def susar_reported(*, report: SaeReport, actor: User, regulator_on=None, ethics_on=None) -> SaeReport:
    if not actor.has_trial_role(TrialRole.TRIAL_MANAGER):
        raise NotPermitted("Regulatory submissions are recorded by the trial manager.")
    if not report.susar:
        raise DomainError("Only a SUSAR is reported to the regulator from here.")
    data = {k: v for k, v in (("reported_regulator_on", regulator_on), ("reported_ethics_on", ethics_on)) if v}
    return record_update(obj=report, data=data, actor=actor, reason="Submission recorded")


@transaction.atomic
def rsi_add(*, actor: User, data: dict) -> ReferenceSafetyInformation:
    if not actor.has_trial_role(TrialRole.TRIAL_MANAGER):
        raise NotPermitted("RSI versions are added by the trial manager.")
    if ReferenceSafetyInformation.objects.filter(version=data.get("version")).exists():
        raise DomainError("This RSI version exists.", field="version")
    return record_create(obj=ReferenceSafetyInformation(**data), actor=actor, reason="RSI version added")
