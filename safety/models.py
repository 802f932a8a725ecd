"""Adverse events, SAE reports with the PI's signed assessment, sponsor review and SUSAR clocks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import NoDeleteQuerySet, TrialRecord
from patients.models import Patient
from sites.models import in_site_scope

# One code list per concept (safety.codelists); imported here so ``safety.models.Causality`` keeps working.
from .codelists import AdverseEventOutcome as Outcome
from .codelists import Causality, Expectedness

RELATED = {Causality.POSSIBLE, Causality.PROBABLE, Causality.DEFINITE}


class ReferenceSafetyInformation(TrialRecord):
    """A version of the RSI (Lutathera SmPC section 4.8) against which expectedness is assessed."""

    version = models.CharField(_("version"), max_length=30, unique=True)
    document = models.CharField(_("document"), max_length=200, default="Lutathera SmPC section 4.8")
    effective_date = models.DateField(_("in force from"))
    expected_terms = models.TextField(_("expected reactions"), help_text=_("one term per line"), blank=True)

    class Meta:
        ordering = ["-effective_date"]
        verbose_name = _("reference safety information")

    def __str__(self) -> str:
        return f"{self.document}, version {self.version} ({self.effective_date:%d %b %Y})"

    @classmethod
    def in_force(cls, day=None):
        day = day or timezone.localdate()
        return cls.objects.filter(effective_date__lte=day, retired_at__isnull=True).order_by("-effective_date").first()

    @classmethod
    def at_onset(cls, onset):
        """The version approved on the reaction's onset date: expectedness is judged against it
        (CTFG Q&A on the RSI, 2017), not against a version approved later, when it is signed."""
        return cls.in_force(onset)

    def lists(self, term: str) -> bool:
        terms = {t.strip().lower() for t in self.expected_terms.splitlines() if t.strip()}
        return term.strip().lower() in terms


class ReportingTimelines(TrialRecord):
    """The safety reporting timelines as configuration data: one row, reviewed on a page, each
    change audited with its reason. Until first saved, the regulatory defaults below apply."""

    # Where each default comes from (shown on the review page).
    SOURCES = {
        "sae_initial_hours": "Protocol; UK SI 2004/1031 reg. 32 (investigator reports immediately, 24 h)",
        "susar_fatal_days": "UK SI 2004/1031 reg. 33(1)(a); EU CTR 536/2014 art. 42(2)(a)",
        "susar_fatal_followup_days": "UK SI 2004/1031 reg. 33(2): within 8 days of sending the initial report",
        "susar_other_days": "UK SI 2004/1031 reg. 33(1)(b); EU CTR 536/2014 art. 42(2)(b)",
        "sponsor_timezone": "Sponsor's calendar (the sponsor is in the UK)",
    }

    sae_initial_hours = models.PositiveSmallIntegerField(_("site's initial SAE report (hours)"), default=24)
    susar_fatal_days = models.PositiveSmallIntegerField(_("fatal or life-threatening SUSAR (days)"), default=7)
    susar_fatal_followup_days = models.PositiveSmallIntegerField(
        _("follow-up of a fatal or life-threatening SUSAR (days after sending)"), default=8
    )
    susar_other_days = models.PositiveSmallIntegerField(_("other SUSAR (days)"), default=15)
    sponsor_timezone = models.CharField(_("sponsor's time zone"), max_length=64, default="Europe/London")

    class Meta:
        verbose_name = _("reporting timelines")

    def __str__(self) -> str:
        return "Safety reporting timelines"

    @classmethod
    def current(cls) -> ReportingTimelines:
        return cls.objects.order_by("pk").first() or cls()


class AdverseEventQuerySet(NoDeleteQuerySet):
    def visible_to(self, user):
        return in_site_scope(self, user, "patient__site_id")


SERIOUSNESS = [
    ("death", _("Results in death")),
    ("life_threatening", _("Life-threatening")),
    ("hospitalisation", _("Hospitalisation or prolongation of hospitalisation")),
    ("disability", _("Persistent or significant disability")),
    ("congenital_anomaly", _("Congenital anomaly / birth defect")),
    ("important_medical_event", _("Other important medical event")),
]


class AdverseEvent(TrialRecord):
    class Action(models.TextChoices):
        NONE = "none", _("None")
        DELAYED = "delayed", _("Dose delayed")
        REDUCED = "reduced", _("Dose reduced")
        DISCONTINUED = "discontinued", _("Lutathera discontinued")
        NOT_APPLICABLE = "not_applicable", _("Not applicable (arm A or after dosing)")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="adverse_events")
    term = models.CharField(_("event term"), max_length=200, help_text=_("CTCAE v5 term"))
    grade = models.PositiveSmallIntegerField(
        _("CTCAE v5 grade"), choices=[(g, str(g)) for g in range(1, 6)], help_text="1–5"
    )
    onset_date = models.DateField(_("onset"))
    stop_date = models.DateField(_("stop"), null=True, blank=True)
    ongoing = models.BooleanField(_("ongoing"), default=False)
    serious = models.BooleanField(_("serious"), default=False)
    criterion_death = models.BooleanField(_("results in death"), default=False)
    criterion_life_threatening = models.BooleanField(_("life-threatening"), default=False)
    criterion_hospitalisation = models.BooleanField(_("hospitalisation or its prolongation"), default=False)
    criterion_disability = models.BooleanField(_("persistent or significant disability"), default=False)
    criterion_congenital_anomaly = models.BooleanField(_("congenital anomaly"), default=False)
    criterion_important_medical_event = models.BooleanField(_("other important medical event"), default=False)
    planned_radiation_admission = models.BooleanField(
        _("admission planned for radiation protection only"),
        default=False,
        help_text=_("A planned admission for radiation protection after Lutathera is not an SAE."),
    )
    aware_at = models.DateTimeField(
        _("site became aware"), null=True, blank=True, help_text=_("local time at the site; starts the 24-hour clock")
    )
    causality_lutathera = models.CharField(_("related to Lutathera"), max_length=10, choices=Causality.choices)
    causality_amino_acids = models.CharField(_("related to amino acids"), max_length=10, choices=Causality.choices)
    causality_procedures = models.CharField(_("related to trial procedures"), max_length=10, choices=Causality.choices)
    action_taken = models.CharField(_("action with Lutathera"), max_length=14, choices=Action.choices)
    outcome = models.CharField(_("outcome"), max_length=14, choices=Outcome.choices)
    dosing_cycle = models.PositiveSmallIntegerField(
        _("after Lutathera cycle"), null=True, blank=True, choices=[(1, "1"), (2, "2")]
    )
    # Coding: the CTCAE v5 term picked or free text (flagged for coding); MedDRA codes, filled by
    # the coder for a sponsor holding a MedDRA licence.
    ctcae_soc = models.CharField(_("CTCAE v5 system organ class"), max_length=120, blank=True)
    needs_coding = models.BooleanField(_("free text: to be coded"), default=False)
    meddra_version = models.CharField(_("MedDRA version"), max_length=10, blank=True)
    meddra_llt_code = models.CharField(_("MedDRA LLT code"), max_length=8, blank=True)
    meddra_pt_code = models.CharField(_("MedDRA PT code"), max_length=8, blank=True)
    coded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    coded_at = models.DateTimeField(_("coded at"), null=True, blank=True)

    objects = AdverseEventQuerySet.as_manager()

    # Coding is the coder's work, not the site's data: it neither voids a signature nor the sign-off.
    UNSIGNED_FIELDS = frozenset(
        {"ctcae_soc", "needs_coding", "meddra_version", "meddra_llt_code", "meddra_pt_code", "coded_by", "coded_at"}
    )

    # What the PI's SAE signature covers of the event (protocol "Safety reporting"): every clinical
    # field the site records. Coding fields are left out: coding is not the investigator's judgement.
    SIGNED_WITH_SAE = (
        "term",
        "grade",
        "onset_date",
        "stop_date",
        "ongoing",
        "serious",
        "criterion_death",
        "criterion_life_threatening",
        "criterion_hospitalisation",
        "criterion_disability",
        "criterion_congenital_anomaly",
        "criterion_important_medical_event",
        "planned_radiation_admission",
        "aware_at",
        "causality_lutathera",
        "causality_amino_acids",
        "causality_procedures",
        "action_taken",
        "outcome",
        "dosing_cycle",
    )

    class Meta:
        ordering = ["patient", "onset_date", "pk"]

    def __str__(self) -> str:
        return f"{self.patient.trial_number} AE {self.pk}: {self.term} (grade {self.grade})"

    def audit_site(self):
        return self.patient.site

    def criteria(self) -> list[str]:
        return [str(label) for key, label in SERIOUSNESS if getattr(self, f"criterion_{key}")]


class SaeReportQuerySet(NoDeleteQuerySet):
    def visible_to(self, user):
        return in_site_scope(self, user, "adverse_event__patient__site_id")


class SaeReport(TrialRecord):
    """The SAE report (initial: number 0, then numbered follow-ups) with its clocks."""

    # The PI's signature covers the site's report and assessment; the sponsor's review and the
    # submission stamp come after it and do not invalidate it.
    UNSIGNED_FIELDS = frozenset(
        {
            "submitted_by",
            "snapshot",
            "changes",
            "susar_severe",
            "followup_reported_on",
            "susar_upgrade_at",
            "susar_upgrade_due_at",
            "upgrade_reported_on",
            "sponsor_causality",
            "sponsor_expectedness",
            "sponsor_comment",
            "sponsor_aware_at",
            "susar",
            "susar_due_at",
            "susar_followup_due_at",
            "reported_regulator_on",
            "reported_ethics_on",
            "reviewed_by",
            "reviewed_at",
            "submitted_at",
        }
    )

    adverse_event = models.ForeignKey(AdverseEvent, on_delete=models.PROTECT, related_name="sae_reports")
    number = models.PositiveSmallIntegerField(_("report number"), help_text=_("0 = initial, then follow-ups"))
    aware_at = models.DateTimeField(_("site became aware"))
    due_at = models.DateTimeField(_("report to the sponsor by"))
    # Receipt of this version by the sponsor: for the initial report it is the sponsor's day 0.
    submitted_at = models.DateTimeField(_("reported to the sponsor"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reporter"),
    )
    snapshot = models.JSONField(_("content as submitted"), default=dict, blank=True)
    changes = models.JSONField(_("changes since the previous version"), default=list, blank=True)
    # The site's report (protocol SAE form)
    admission_date = models.DateField(_("admission"), null=True, blank=True)
    discharge_date = models.DateField(_("discharge"), null=True, blank=True)
    last_dose_cycle = models.PositiveSmallIntegerField(_("last dose: cycle"), null=True, blank=True)
    last_dose_date = models.DateField(_("last dose: date"), null=True, blank=True)
    last_dose_activity_mbq = models.DecimalField(
        _("last dose: activity"), max_digits=7, decimal_places=1, null=True, blank=True, help_text="MBq"
    )
    narrative = models.TextField(_("narrative"), blank=True)
    treatment = models.TextField(_("treatment given"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=14, choices=Outcome.choices, blank=True)
    # The PI's assessment (signed)
    pi_causality_lutathera = models.CharField(
        _("causality: Lutathera"), max_length=10, choices=Causality.choices, blank=True
    )
    pi_causality_amino_acids = models.CharField(
        _("causality: amino acids"), max_length=10, choices=Causality.choices, blank=True
    )
    pi_causality_procedures = models.CharField(
        _("causality: trial procedures"), max_length=10, choices=Causality.choices, blank=True
    )
    pi_expectedness = models.CharField(_("expectedness"), max_length=10, choices=Expectedness.choices, blank=True)
    pi_comment = models.TextField(_("investigator's comment"), blank=True)
    rsi = models.ForeignKey(
        ReferenceSafetyInformation, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("RSI version")
    )
    # Sponsor review (both opinions are kept)
    sponsor_causality = models.CharField(
        _("sponsor causality (Lutathera)"), max_length=10, choices=Causality.choices, blank=True
    )
    sponsor_expectedness = models.CharField(
        _("sponsor expectedness"), max_length=10, choices=Expectedness.choices, blank=True
    )
    sponsor_comment = models.TextField(_("sponsor comment"), blank=True)
    sponsor_aware_at = models.DateTimeField(_("sponsor became aware"), null=True, blank=True)
    susar = models.BooleanField(_("SUSAR"), null=True, blank=True)
    susar_due_at = models.DateTimeField(_("report to regulator and ethics by"), null=True, blank=True)
    susar_severe = models.BooleanField(_("fatal or life-threatening at classification"), null=True, blank=True)
    susar_followup_due_at = models.DateTimeField(_("follow-up report by"), null=True, blank=True)
    reported_regulator_on = models.DateField(_("reported to the regulator"), null=True, blank=True)
    reported_ethics_on = models.DateField(_("reported to the ethics committee"), null=True, blank=True)
    followup_reported_on = models.DateField(_("follow-up report sent"), null=True, blank=True)
    # A non-fatal SUSAR that becomes fatal or life-threatening: a new 7-day clock (EU CTR art. 42).
    susar_upgrade_at = models.DateTimeField(_("became fatal or life-threatening"), null=True, blank=True)
    susar_upgrade_due_at = models.DateTimeField(_("upgraded SUSAR report by"), null=True, blank=True)
    upgrade_reported_on = models.DateField(_("upgraded SUSAR reported"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    objects = SaeReportQuerySet.as_manager()

    class Meta:
        ordering = ["-aware_at", "number"]
        constraints = [models.UniqueConstraint(fields=["adverse_event", "number"], name="sae_report_number_unique")]

    def __str__(self) -> str:
        kind = "initial" if self.number == 0 else f"follow-up {self.number}"
        return f"SAE {self.adverse_event.patient.trial_number}-{self.adverse_event_id} ({kind})"

    def audit_site(self):
        return self.adverse_event.patient.site

    @property
    def patient(self) -> Patient:
        return self.adverse_event.patient

    @property
    def initial_sent_on(self):
        """The day the initial SUSAR report was actually sent: the earlier of the two submissions,
        so the 8-day follow-up clock never starts later than the first one sent."""
        sent = [d for d in (self.reported_regulator_on, self.reported_ethics_on) if d]
        return min(sent) if sent else None

    def signed_related_content(self) -> dict:
        """The AE this report reports is part of what the PI signs (21 CFR 11.70): a change to the
        event's term, dates, grade, seriousness, outcome or the site's causality voids the signature."""
        ae = AdverseEvent.objects.get(pk=self.adverse_event_id)
        return {f"adverse_event.{name}": getattr(ae, name) for name in AdverseEvent.SIGNED_WITH_SAE}


class SaeEscalation(models.Model):
    """One escalation e-mail per (report, stage, recipient): sent once, recorded before it is queued."""

    class Stage(models.TextChoices):
        INITIAL_NEAR = "initial_near", _("Initial report due soon")
        INITIAL_OVERDUE = "initial_overdue", _("Initial report overdue")
        SIGNATURE_NEAR = "signature_near", _("PI signature due soon")
        SIGNATURE_OVERDUE = "signature_overdue", _("PI signature overdue")
        SUSAR_NEAR = "susar_near", _("SUSAR report due soon")
        SUSAR_OVERDUE = "susar_overdue", _("SUSAR report overdue")
        FOLLOWUP_NEAR = "followup_near", _("Fatal/life-threatening SUSAR follow-up due soon")
        FOLLOWUP_OVERDUE = "followup_overdue", _("Fatal/life-threatening SUSAR follow-up overdue")
        UPGRADE_NEAR = "upgrade_near", _("Upgraded SUSAR report due soon")
        UPGRADE_OVERDUE = "upgrade_overdue", _("Upgraded SUSAR report overdue")

    report = models.ForeignKey(SaeReport, on_delete=models.PROTECT, related_name="escalations")
    stage = models.CharField(max_length=20, choices=Stage.choices)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    notification = models.ForeignKey("accounts.Notification", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["report", "stage", "recipient"], name="sae_escalation_once_per_stage")
        ]

    def __str__(self) -> str:
        return f"{self.report} {self.stage} → {self.recipient}"
