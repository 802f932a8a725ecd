"""Safety writes: AEs, SAE reports, the PI's signed assessment and the sponsor's review."""

from __future__ import annotations

import re
import zoneinfo

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.audit import record_create, record_update
from core.errors import DomainError
from core.policy import Action, require
from core.signatures import (
    plain_value,
    signature_apply,
    signature_status,
    signature_verify,
    signatures_invalidate,
    signatures_invalidate_stale,
)
from core.validators import is_in_future
from core.verification import verifications_clear_stale
from crf.locking import entry_guard
from crf.models import EndOfStudy, FormStatus
from crf.services import casebook_refresh
from patients.models import Patient

from . import clocks
from .models import (
    RELATED,
    AdverseEvent,
    Expectedness,
    Outcome,
    ReferenceSafetyInformation,
    ReportingTimelines,
    SaeReport,
)
from .terms import ctcae_match, grade_refusal

PI_MEANING = "I confirm my causality and expectedness assessment"
CRITERIA = [
    "criterion_death",
    "criterion_life_threatening",
    "criterion_hospitalisation",
    "criterion_disability",
    "criterion_congenital_anomaly",
    "criterion_important_medical_event",
]


ASSESSMENT_FIELDS = ("pi_causality_lutathera", "pi_causality_amino_acids", "pi_causality_procedures", "pi_expectedness")
# The site's report as a follow-up version starts from the previous version's (what was known).
SITE_REPORT_FIELDS = (
    "admission_date",
    "discharge_date",
    "last_dose_cycle",
    "last_dose_date",
    "last_dose_activity_mbq",
    "narrative",
    "treatment",
    "outcome",
)


class AssessmentInvalid(DomainError):
    """Missing answers of the PI's assessment, each at its field."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(m for _f, m in errors), field=errors[0][0])
        self.errors = errors


class AeInvalid(DomainError):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(m for _f, m in errors))
        self.errors = errors


def ae_check(data: dict, *, patient: Patient) -> list[tuple[str, str]]:
    """Edit checks of an AE (field, message). The planned radiation-protection rule is shown to the nurse."""
    errors = []
    onset, stop = data.get("onset_date"), data.get("stop_date")
    if is_in_future(onset, timezone_name=patient.site.timezone):
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
    # CTCAE v5.0 defines only some grades for some terms (no grade 5 for Nausea, for example).
    if refusal := grade_refusal(data.get("term") or "", data.get("grade")):
        errors.append(("grade", refusal))
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
    require(actor, Action.AE_REPORT, patient.site)
    entry_guard()
    merged = {f.name: getattr(instance, f.name) for f in AdverseEvent._meta.concrete_fields} if instance else {}
    merged |= data
    errors = ae_check(merged, patient=patient)
    if errors:
        raise AeInvalid(errors)
    if "term" in data:
        match = ctcae_match(data["term"])
        # A CTCAE term is stored as CTCAE spells it; free text stays as typed and waits for coding.
        data = data | (
            {"term": match.term, "ctcae_soc": match.soc, "needs_coding": False}
            if match
            else {"ctcae_soc": "", "needs_coding": True}
        )
        if instance is not None and instance.term != data["term"] and instance.coded_at:
            # The codes were for the old term: the new one is coded again.
            data |= {"meddra_llt_code": "", "meddra_pt_code": "", "meddra_version": "", "coded_by": None}
            data |= {"coded_at": None, "needs_coding": True}
    was_severe = bool(instance and (instance.criterion_death or instance.criterion_life_threatening))
    if instance is None:
        ae = record_create(obj=AdverseEvent(patient=patient, **data), actor=actor, reason="First entry")
    else:
        ae = record_update(obj=instance, data=data, actor=actor, reason=reason, expected_version=expected_version)
        # The PI's SAE signature covers the event too (21 CFR 11.70): a change to it voids the
        # signature on every report of the event, with the reason in their audit trail.
        for report in SaeReport.objects.filter(adverse_event=ae).order_by("number"):
            signatures_invalidate_stale(
                obj=report, actor=actor, reason=f"The adverse event changed: {(reason or '').strip()}"
            )
            # The monitor's verification of the report covers the same event content.
            verifications_clear_stale(
                obj=report, actor=actor, reason=f"The adverse event changed: {(reason or '').strip()}"
            )
        if not was_severe and (ae.criterion_death or ae.criterion_life_threatening):
            _susar_upgrade(ae=ae, actor=actor)
    if ae.serious and not SaeReport.objects.filter(adverse_event=ae, number=0).exists():
        record_create(
            obj=SaeReport(adverse_event=ae, number=0, aware_at=ae.aware_at, due_at=clocks.sae_initial_due(ae.aware_at)),
            actor=actor,
            reason="Opened: the adverse event is serious",
        )
    casebook_refresh(patient=patient, actor=actor, reason=f"Adverse event {ae.pk} changed: {reason or 'first entry'}")
    return ae


def _susar_upgrade(*, ae: AdverseEvent, actor: User) -> None:
    """A SUSAR classified non-fatal that becomes fatal or life-threatening gets a new 7-day clock
    from this awareness (EU CT Regulation 536/2014 art. 42); the EDC is where the sponsor learns it."""
    now = timezone.now()
    for report in SaeReport.objects.filter(adverse_event=ae, susar=True, susar_severe=False, susar_upgrade_at=None):
        record_update(
            obj=report,
            data={
                "susar_upgrade_at": now,
                "susar_upgrade_due_at": clocks.susar_due(now, fatal_or_life_threatening=True),
            },
            actor=actor,
            reason="The SUSAR became fatal or life-threatening: new 7-day clock",
        )


def death_record_missing(ae: AdverseEvent) -> bool:
    """A grade 5 AE needs the end of study / death CRF completed with the death."""
    if ae.grade != 5:
        return False

    end = EndOfStudy.objects.filter(patient=ae.patient).first()
    return end is None or end.reason != "death" or not end.death_date or end.status == FormStatus.IN_PROGRESS


@transaction.atomic
def sae_update(
    *, report: SaeReport, data: dict, actor: User, reason: str = "", expected_version: int | None = None
) -> SaeReport:
    """The site's report fields. A change after the PI signed invalidates the signature (audited)."""
    require(actor, Action.AE_REPORT, report.patient.site)
    entry_guard()
    merged = {**{n: getattr(report, n) for n in ("admission_date", "discharge_date")}, **data}
    if merged["admission_date"] and merged["discharge_date"] and merged["discharge_date"] < merged["admission_date"]:
        raise DomainError("The discharge is before the admission.", field="discharge_date")
    if not reason.strip():
        reason = "Report completed" if not signature_status(obj=report) else ""
    report = record_update(obj=report, data=data, actor=actor, reason=reason, expected_version=expected_version)
    casebook_refresh(patient=report.patient, actor=actor, reason=f"{report} changed: {reason}")
    return report


def minimum_criteria_missing(report: SaeReport) -> list[tuple[str, str]]:
    """ICH E2A's minimum criteria for a valid initial report: an identifiable patient, reporter,
    event and suspect product. The reporter is the person submitting; the suspect product is the
    Lutathera dose last given for an event after a cycle, and the trial procedures otherwise."""
    ae = report.adverse_event
    missing = []
    if not ae.patient.trial_number:
        missing.append(("patient", "The patient is not identifiable (no trial number)."))
    if not ae.term.strip():
        missing.append(("term", "The event has no term."))
    if ae.dosing_cycle and not (report.last_dose_cycle and report.last_dose_date):
        missing.append(("last_dose_date", "Give the last Lutathera dose (cycle and date): the suspect product."))
    return missing


def _submitted_content(report: SaeReport) -> dict:
    content = {name: plain_value(getattr(report, name)) for name in SITE_REPORT_FIELDS}
    content |= {k: plain_value(v) for k, v in report.signed_related_content().items()}
    return content


@transaction.atomic
def sae_submit(*, report: SaeReport, actor: User) -> SaeReport:
    """The site sends this version of the SAE report to the sponsor. Receipt of the initial report
    (minimum criteria met) is the sponsor's day 0 (protocol "Safety reporting"), with or without
    the PI's signature; a follow-up records what changed since the previous version sent."""
    require(actor, Action.AE_REPORT, report.patient.site)
    entry_guard()
    report = SaeReport.objects.select_for_update().get(pk=report.pk)
    if report.submitted_at:
        raise DomainError("This version was already sent to the sponsor: open a follow-up report.")
    missing = minimum_criteria_missing(report)
    if missing:
        raise DomainError("Not a valid initial report yet: " + " ".join(m for _f, m in missing), field=missing[0][0])
    return _submit(report=report, actor=actor)


def _submit(*, report: SaeReport, actor: User) -> SaeReport:
    snapshot = _submitted_content(report)
    previous = (
        SaeReport.objects.filter(
            adverse_event=report.adverse_event, number__lt=report.number, submitted_at__isnull=False
        )
        .order_by("-number")
        .first()
    )
    changes = []
    if previous is not None:
        changes = [
            {"field": k, "old": previous.snapshot.get(k), "new": v}
            for k, v in snapshot.items()
            if previous.snapshot.get(k) != v
        ]
    return record_update(
        obj=report,
        data={"submitted_at": timezone.now(), "submitted_by": actor, "snapshot": snapshot, "changes": changes},
        actor=actor,
        reason="Sent to the sponsor" if report.number == 0 else f"Follow-up {report.number} sent to the sponsor",
    )


@transaction.atomic
def sae_follow_up(*, report: SaeReport, actor: User, aware_at=None) -> SaeReport:
    """A numbered follow-up report on the same event."""
    require(actor, Action.AE_REPORT, report.patient.site)
    ae = report.adverse_event
    latest = ae.sae_reports.order_by("-number").first()
    number = (latest.number if latest else 0) + 1
    aware_at = aware_at or timezone.now()
    known = {name: getattr(latest, name) for name in SITE_REPORT_FIELDS} if latest else {}
    return record_create(
        obj=SaeReport(
            adverse_event=ae, number=number, aware_at=aware_at, due_at=clocks.sae_initial_due(aware_at), **known
        ),
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
    username: str | None = None,
) -> SaeReport:
    """The PI or a delegated, medically qualified investigator assesses and signs (21 CFR 11.50/11.200).

    Only the signer's own password (and one-time code) signs: nobody signs for someone else.
    """
    patient = report.patient
    require(actor, Action.SAE_ASSESS_SIGN, patient.site)
    # No default answer stands in for the PI's judgement: each one is chosen, or signing stops here.
    missing = [
        (k, "Choose the causality." if k != "pi_expectedness" else "Choose the expectedness.")
        for k in ASSESSMENT_FIELDS
        if assessment.get(k) in (None, "")
    ]
    if missing:
        raise AssessmentInvalid(missing)
    if not report.narrative.strip():
        raise DomainError("The report has no narrative yet: the site completes it before the PI signs.")
    if death_record_missing(report.adverse_event):
        raise DomainError("A grade 5 event: complete the end of study / death form first.")
    # Before the signature is verified: a refused write must not leave a verified signature behind.
    entry_guard("the SAE report")
    rsi = ReferenceSafetyInformation.at_onset(report.adverse_event.onset_date)
    if rsi is None:
        raise DomainError("No Reference Safety Information was in force at the onset: the trial manager adds it.")
    # Outside the transaction: a refused signature leaves its audit record behind.
    signature_verify(
        user=actor,
        password=password,
        meaning=PI_MEANING,
        obj=report,
        ip_address=ip_address,
        otp_token=otp_token,
        username=username,
    )
    with transaction.atomic():
        data = {k: assessment[k] for k in ASSESSMENT_FIELDS} | {
            "pi_comment": assessment.get("pi_comment", ""),
            "rsi": rsi,
        }
        report = record_update(obj=report, data=data, actor=actor, reason="Investigator's assessment")
        if not report.submitted_at:
            # Signed before it was sent: the signed report is sent with the signature.
            report = _submit(report=report, actor=actor)
        if report.reviewed_at:
            report = _reclassify(report=report, actor=actor)
        signature_apply(user=actor, meaning=PI_MEANING, obj=report, ip_address=ip_address)
    return report


def investigator_related(report: SaeReport) -> bool:
    """Related to Lutathera in the site's judgement: the PI's once assessed, the reporter's on
    the AE until then (the sponsor assesses on the information it has, without waiting)."""
    causality = report.pi_causality_lutathera or report.adverse_event.causality_lutathera
    return causality in RELATED


def causality_disagrees(report: SaeReport) -> bool:
    return bool(report.pi_causality_lutathera and report.sponsor_causality) and (
        (report.pi_causality_lutathera in RELATED) != (report.sponsor_causality in RELATED)
    )


def _classification(report: SaeReport, *, causality: str, expectedness: str, day0) -> dict:
    # The sponsor may upgrade but never downgrade the investigator's causality: related if either says so.
    related = investigator_related(report) or causality in RELATED
    susar = related and expectedness == Expectedness.UNEXPECTED
    ae = report.adverse_event
    severe = bool(ae.criterion_death or ae.criterion_life_threatening)
    data = {"susar": susar, "susar_severe": severe if susar else None}
    if susar and not report.susar:
        data["susar_due_at"] = clocks.susar_due(day0, fatal_or_life_threatening=severe)
    elif not susar:
        data |= {"susar_due_at": None, "susar_followup_due_at": None}
    return data


def _reclassify(*, report: SaeReport, actor: User) -> SaeReport:
    """The PI's assessment arrived after the sponsor's: an investigator's "related" can make it a
    SUSAR (clock from now, when the sponsor learns it); it never unmakes one."""
    if report.susar:
        return report
    data = _classification(
        report, causality=report.sponsor_causality, expectedness=report.sponsor_expectedness, day0=timezone.now()
    )
    return record_update(obj=report, data=data, actor=actor, reason="Investigator's causality: SUSAR")


def pi_signed(report: SaeReport) -> bool:
    return any(valid for _s, valid in signature_status(obj=report))


@transaction.atomic
def sponsor_review(
    *,
    report: SaeReport,
    actor: User,
    causality: str,
    expectedness: str,
    sponsor_aware_at=None,
    comment: str = "",
) -> SaeReport:
    """The sponsor's opinion (kept beside the PI's) and the SUSAR classification with its clock.

    The sponsor does not wait for the investigator: it assesses as soon as the report arrives.
    SUSAR = related (by the site or the sponsor: the sponsor cannot downgrade the investigator's
    causality) and unexpected (the sponsor's assessment against the RSI at onset). Day 0 is the
    receipt of the report, or an earlier awareness the sponsor records; never a later one.
    """
    require(actor, Action.SPONSOR_REVIEW, report.patient.site)
    report = SaeReport.objects.select_for_update().get(pk=report.pk)
    if not report.submitted_at:
        raise DomainError("The site has not sent this report to the sponsor yet.")
    if not causality or not expectedness:
        raise DomainError("Give the sponsor's causality and expectedness.", field="causality")
    day0 = min(report.submitted_at, sponsor_aware_at) if sponsor_aware_at else report.submitted_at
    rsi = report.rsi or ReferenceSafetyInformation.at_onset(report.adverse_event.onset_date)
    data = {
        "sponsor_causality": causality,
        "sponsor_expectedness": expectedness,
        "sponsor_comment": comment,
        "sponsor_aware_at": day0,
        "reviewed_by": actor,
        "reviewed_at": timezone.now(),
    }
    if rsi is not None and report.rsi_id is None:
        data["rsi"] = rsi
    data |= _classification(report, causality=causality, expectedness=expectedness, day0=day0)
    return record_update(
        obj=report, data=data, actor=actor, reason="Sponsor review" + (": SUSAR" if data["susar"] else "")
    )


@transaction.atomic
def susar_reported(
    *, report: SaeReport, actor: User, regulator_on=None, ethics_on=None, followup_on=None, upgrade_on=None
) -> SaeReport:
    """The dates the sponsor actually sent the SUSAR reports. The follow-up of a fatal or
    life-threatening SUSAR is then due 8 days after the first initial report sent (reg. 33(2)),
    recomputed each time a date is recorded."""
    require(actor, Action.SUSAR_SUBMISSION_RECORD, report.patient.site)
    report = SaeReport.objects.select_for_update().get(pk=report.pk)
    if not report.susar:
        raise DomainError("Only a SUSAR is reported to the regulator from here.")
    # Dates the sponsor sent the reports: the sponsor's calendar (safety.clocks), not a site's.
    sponsor_zone = clocks.sponsor_timezone()
    sent = {
        "reported_regulator_on": regulator_on,
        "reported_ethics_on": ethics_on,
        "followup_reported_on": followup_on,
        "upgrade_reported_on": upgrade_on,
    }
    for field, day in sent.items():
        if is_in_future(day, timezone_name=sponsor_zone):
            raise DomainError("This date is in the future.", field=field)
    data = {k: v for k, v in sent.items() if v}
    merged = SaeReport(**{k: getattr(report, k) for k in ("reported_regulator_on", "reported_ethics_on")})
    for k in ("reported_regulator_on", "reported_ethics_on"):
        if k in data:
            setattr(merged, k, data[k])
    if report.susar_severe and merged.initial_sent_on:
        data["susar_followup_due_at"] = clocks.susar_followup_due(merged.initial_sent_on)
    elif report.susar_upgrade_at and (data.get("upgrade_reported_on") or report.upgrade_reported_on):
        data["susar_followup_due_at"] = clocks.susar_followup_due(
            data.get("upgrade_reported_on") or report.upgrade_reported_on
        )
    return record_update(obj=report, data=data, actor=actor, reason="Submission recorded")


@transaction.atomic
def rsi_add(*, actor: User, data: dict) -> ReferenceSafetyInformation:
    require(actor, Action.RSI_MANAGE)
    if ReferenceSafetyInformation.objects.filter(version=data.get("version")).exists():
        raise DomainError("This RSI version exists.", field="version")
    return record_create(obj=ReferenceSafetyInformation(**data), actor=actor, reason="RSI version added")


TIMELINE_FIELDS = (
    "sae_initial_hours",
    "susar_fatal_days",
    "susar_fatal_followup_days",
    "susar_other_days",
    "sponsor_timezone",
)


@transaction.atomic
def timelines_update(*, actor: User, data: dict, reason: str) -> ReportingTimelines:
    """Change the reporting timelines (trial manager, with a reason). Clocks already set keep
    their deadlines; new ones use the new timelines."""
    require(actor, Action.TIMELINES_MANAGE)
    if not (reason or "").strip():
        raise DomainError("Give the reason for the change (for example the protocol amendment).", field="reason")
    zone = data.get("sponsor_timezone")
    if zone is not None and zone not in zoneinfo.available_timezones():
        raise DomainError("Not a time zone name (for example Europe/London).", field="sponsor_timezone")
    for name in TIMELINE_FIELDS[:-1]:
        if name in data and not data[name]:
            raise DomainError("A timeline is at least 1.", field=name)
    row = ReportingTimelines.objects.select_for_update().order_by("pk").first()
    values = {k: v for k, v in data.items() if k in TIMELINE_FIELDS}
    if row is None:
        return record_create(obj=ReportingTimelines(**values), actor=actor, reason=reason.strip())
    return record_update(obj=row, data=values, actor=actor, reason=reason.strip())


MEDDRA_CODE = re.compile(r"^1\d{7}$")


@transaction.atomic
def ae_code(
    *, ae: AdverseEvent, actor: User, llt_code: str, pt_code: str, version: str, reason: str = ""
) -> AdverseEvent:
    """The medical coder records the MedDRA LLT and PT codes and the MedDRA version.

    The history row keeps who, when, the old and the new codes and the reason. Coding an uncoded
    term adds no judgement to what the PI signed (the verbatim term). A re-code (a code already
    recorded replaced by another) needs a reason and voids the PI's signature on the event's SAE
    reports: the protocol lists what the signature covers and is silent on MedDRA codes, so the
    safer reading is taken that a changed code may change what the SAE is reported as.
    """
    require(actor, Action.MEDDRA_CODE, ae.patient.site)
    for field, code in (("meddra_llt_code", llt_code), ("meddra_pt_code", pt_code)):
        if not MEDDRA_CODE.match(code or ""):
            raise DomainError("A MedDRA code has 8 digits and starts with 1.", field=field)
    if not re.match(r"^\d{1,2}\.\d$", version or ""):
        raise DomainError("Give the MedDRA version, for example 27.1.", field="meddra_version")
    recoded = bool(ae.meddra_llt_code or ae.meddra_pt_code) and (
        (ae.meddra_llt_code, ae.meddra_pt_code) != (llt_code, pt_code)
    )
    reason = (reason or "").strip()
    if recoded and not reason:
        raise DomainError("Give the reason for the re-code (it voids the PI's SAE signature).", field="reason")
    note = f"MedDRA coding ({version})" + (f": {reason}" if reason else "")
    ae = record_update(
        obj=ae,
        data={
            "meddra_llt_code": llt_code,
            "meddra_pt_code": pt_code,
            "meddra_version": version,
            "needs_coding": False,
            "coded_by": actor,
            "coded_at": timezone.now(),
        },
        actor=actor,
        reason=note,
    )
    if recoded:
        for report in SaeReport.objects.filter(adverse_event=ae).order_by("number"):
            signatures_invalidate(obj=report, actor=actor, reason=f"MedDRA re-code of the event: {reason}")
    return ae
