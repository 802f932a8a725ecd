"""Who is in the trial: the pseudonymised patient record.

Screening log, consent, eligibility and withdrawal models extend this module (issue 3); other
domains rely only on ``Patient``, ``PatientQuerySet.visible_to`` and the selectors in
``patients.selectors``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import NoDeleteQuerySet, TrialRecord
from sites.models import Site, in_site_scope

# The code lists live in patients.codelists (one definition per concept); imported here so
# ``from patients.models import WhoGrade`` keeps working.
from .codelists import (
    STRATUM_MARGIN_CHOICES,
    STRATUM_WHO_GRADE_CHOICES,
    PrimarySite,
    PrimarySiteGroup,
    ResectionMargin,
    Sex,
    WhoGrade,
)


class PatientQuerySet(NoDeleteQuerySet):
    def visible_to(self, user) -> PatientQuerySet:
        """Patients of the sites the user may see (sites.models.visible_site_ids)."""
        return in_site_scope(self, user, "site_id")


class Patient(TrialRecord):
    class Status(models.TextChoices):
        CONSENTED = "consented", _("Consented")  # registered after consent; eligibility not confirmed
        ELIGIBLE = "eligible", _("Eligible")  # eligibility confirmed by PI/delegate; may be randomised
        INELIGIBLE = "ineligible", _("Ineligible")  # a criterion failed; cannot be randomised
        RANDOMISED = "randomised", _("Randomised")  # allocated; treatment/follow-up starting
        FOLLOW_UP = "follow_up", _("In follow-up")  # treatment phase over, in the 3-year follow-up
        COMPLETED = "completed", _("Completed")  # reached end of study
        WITHDRAWN = "withdrawn", _("Withdrawn")  # consent withdrawn or withdrawn by investigator
        DIED = "died", _("Died")
        LOST = "lost", _("Lost to follow-up")  # end of study form: the site could no longer reach them

    # No more visits are expected of a patient in one of these.
    OFF_STUDY = (Status.COMPLETED, Status.WITHDRAWN, Status.DIED, Status.LOST)

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    trial_number = models.CharField(_("trial number"), max_length=20, unique=True, editable=False)
    site_sequence = models.PositiveIntegerField(editable=False)
    initials = models.CharField(
        _("initials"),
        max_length=3,
        validators=[RegexValidator(r"^[A-Z]{2,3}$", _("Two or three capital letters, e.g. JS or JAS."))],
    )
    year_of_birth = models.PositiveSmallIntegerField(
        _("year of birth"), validators=[MinValueValidator(1900), MaxValueValidator(2100)]
    )
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    liver_resection_date = models.DateField(_("date of liver resection"))
    primary_resection_date = models.DateField(_("date of primary tumour resection"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.CONSENTED)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    # Stratification factors, captured from source at eligibility (null until then).
    primary_site_group = models.CharField(
        _("primary site (stratum)"), max_length=10, choices=PrimarySiteGroup.choices, blank=True
    )
    who_grade = models.CharField(_("WHO grade (stratum)"), max_length=2, choices=STRATUM_WHO_GRADE_CHOICES, blank=True)
    resection_margin = models.CharField(
        _("resection margin (stratum)"), max_length=2, choices=STRATUM_MARGIN_CHOICES, blank=True
    )

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["site__code", "site_sequence"]
        constraints = [
            models.UniqueConstraint(fields=["site", "site_sequence"], name="patient_unique_site_sequence"),
        ]

    def __str__(self) -> str:
        return self.trial_number

    def get_absolute_url(self) -> str:
        return reverse("patients:patient_detail", kwargs={"trial_number": self.trial_number})

    def stratification_factors(self) -> dict[str, str]:
        """Factor name → level; an empty string means not yet recorded."""
        return {
            "primary_site": self.primary_site_group,
            "who_grade": self.who_grade,
            "resection_margin": self.resection_margin,
        }

    def sample_consent_stands(self) -> bool:
        """The latest consent covers NETest/biobank samples and was not withdrawn (protocol, CRF 13).

        Read once per loaded patient: a timeline asks it for every visit. The consent services
        forget it when they change consent (``forget_sample_consent``).
        """
        if "_sample_consent" not in self.__dict__:
            latest = self.consents.order_by("-consented_at", "-id").first()
            self.__dict__["_sample_consent"] = bool(
                latest and latest.samples_biobank and latest.samples_withdrawn_on is None
            )
        return self.__dict__["_sample_consent"]

    @classmethod
    def prime_sample_consent(cls, patients) -> None:
        """Read ``sample_consent_stands`` for a page of patients in one query instead of one each."""
        pending = {p.pk: p for p in patients if "_sample_consent" not in p.__dict__}
        if not pending:
            return
        latest = {}
        for consent in Consent.objects.filter(patient_id__in=pending).order_by("patient_id", "-consented_at", "-id"):
            latest.setdefault(consent.patient_id, consent)
        for pk, patient in pending.items():
            consent = latest.get(pk)
            patient.__dict__["_sample_consent"] = bool(
                consent and consent.samples_biobank and consent.samples_withdrawn_on is None
            )

    def forget_sample_consent(self) -> None:
        self.__dict__.pop("_sample_consent", None)

    def is_on_study(self) -> bool:
        """Still expected to attend visits and have forms completed."""
        return self.status not in self.OFF_STUDY


class ScreeningQuerySet(NoDeleteQuerySet):
    def visible_to(self, user) -> ScreeningQuerySet:
        return in_site_scope(self, user, "site_id")

    def registrable(self) -> ScreeningQuerySet:
        """Entries a patient may be registered from (ScreeningEntry.offered_for_registration)."""
        return self.filter(patient__isnull=True, eligible=True).exclude(
            not_randomised_reason__in=ScreeningEntry.NOT_REGISTRABLE
        )


class ScreeningEntry(TrialRecord):
    """One anonymous line of a site's screening log: every patient considered, screen failures too."""

    class NotRandomisedReason(models.TextChoices):
        INELIGIBLE = "ineligible", _("Not eligible")
        DECLINED = "declined", _("Declined to take part")
        CLINICIAN = "clinician", _("Clinician decision")
        LOST = "lost", _("Lost before consent")
        OTHER = "other", _("Other")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="screening_entries")
    screened_on = models.DateField(_("date screened"))
    age = models.PositiveSmallIntegerField(_("age (years)"), validators=[MaxValueValidator(110)])
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    eligible = models.BooleanField(_("eligible on screening"))
    not_randomised_reason = models.CharField(
        _("reason not taking part"), max_length=12, choices=NotRandomisedReason.choices, blank=True
    )
    reason_detail = models.CharField(_("details"), max_length=300, blank=True)
    patient = models.OneToOneField(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="screening_entry"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)

    objects = ScreeningQuerySet.as_manager()

    class Meta:
        ordering = ["-screened_on", "-id"]
        verbose_name_plural = "screening entries"

    def __str__(self) -> str:
        return f"{self.screened_on:%d %b %Y} · {self.get_sex_display()}, {self.age} y (log #{self.pk})"

    # A patient who declined or was found not eligible on screening is not registered from that entry.
    NOT_REGISTRABLE = (NotRandomisedReason.INELIGIBLE, NotRandomisedReason.DECLINED)

    def offered_for_registration(self) -> bool:
        return self.patient_id is None and self.eligible and self.not_randomised_reason not in self.NOT_REGISTRABLE

    def audit_site(self):
        return self.site


class ConsentDocument(TrialRecord):
    """A version of the patient information sheet and consent form, as approved by the ethics committee."""

    document_version = models.CharField(_("version"), max_length=20, unique=True)
    document_date = models.DateField(_("document date"))
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True, help_text=_("Empty while in use."))
    ethics_approval_date = models.DateField(_("ethics approval date"))

    class Meta:
        ordering = ["-valid_from", "-id"]

    def __str__(self) -> str:
        return f"PIS/ICF v{self.document_version} ({self.document_date:%d %b %Y})"

    def is_valid_on(self, day) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class Consent(TrialRecord):
    """Written informed consent, with each optional consent recorded separately."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    document = models.ForeignKey(
        ConsentDocument,
        on_delete=models.PROTECT,
        related_name="consents",
        verbose_name=_("information sheet / consent form version"),
    )
    consented_at = models.DateTimeField(_("date and time of consent"))
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("consent taken by")
    )
    samples_biobank = models.BooleanField(_("NETest and biobank samples"), default=False)
    tissue = models.BooleanField(_("use of stored tumour tissue"), default=False)
    future_research = models.BooleanField(_("future research"), default=False)
    gp_letter = models.BooleanField(_("letter to the GP"), default=False)
    # The optional sample consent can be withdrawn on its own (protocol, CRF 2): from that date no
    # biomarker sample is expected or accepted (CRF 13).
    samples_withdrawn_on = models.DateField(_("sample consent withdrawn on"), null=True, blank=True)

    class Meta:
        ordering = ["-consented_at", "-id"]

    def __str__(self) -> str:
        return f"Consent of {self.patient} on {self.document}"

    def audit_site(self):
        return self.patient.site


class ReconsentTask(TrialRecord):
    """A newer consent version was approved while the patient is on study: consent them again."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="reconsent_tasks")
    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, related_name="+")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["patient", "document"], name="reconsent_once_per_version")]

    def __str__(self) -> str:
        return f"Re-consent {self.patient} on v{self.document.document_version}"

    def audit_site(self):
        return self.patient.site


class Withdrawal(TrialRecord):
    """Withdrawal from the trial, by the patient or the investigator, at one of three levels."""

    class Level(models.TextChoices):
        TREATMENT = "treatment", _("Treatment only: no more Lutathera; follow-up continues")
        FOLLOW_UP = "follow_up", _("Follow-up: no more visits; data collected so far is kept and used")
        DATA_USE = "data_use", _("Further use of data: no visits and no further use beyond what is already analysed")

    class InitiatedBy(models.TextChoices):
        PATIENT = "patient", _("Patient withdrew consent")
        INVESTIGATOR = "investigator", _("Investigator decision")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="withdrawals")
    withdrawn_on = models.DateField(_("date of withdrawal"))
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    initiated_by = models.CharField(_("initiated by"), max_length=12, choices=InitiatedBy.choices)
    reason = models.TextField(_("reason"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-withdrawn_on", "-id"]

    def __str__(self) -> str:
        return f"Withdrawal of {self.patient} ({self.get_level_display()})"

    def audit_site(self):
        return self.patient.site

    def stops(self) -> list[str]:
        """What this withdrawal stops, in words shown to the nurse and on the patient page."""
        if self.level == self.Level.TREATMENT:
            return [str(_("Lutathera dosing"))]
        stopped = [
            str(_("Lutathera dosing")),
            str(_("all further visits and forms")),
            str(_("reminders and new data entry")),
        ]
        if self.level == self.Level.DATA_USE:
            stopped.append(str(_("use of the patient's data in analyses not yet done")))
        return stopped


class EligibilityAssessment(TrialRecord):
    """Every inclusion and exclusion criterion as an explicit answer, with the evidence dates.

    The date-window criteria are computed from the dates (patients.eligibility), not ticked; the PI
    or a delegated investigator confirms the outcome with an electronic signature.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Awaiting confirmation")  # answers being entered or changed since confirmation
        ELIGIBLE = "eligible", _("Eligible")  # confirmed, every criterion met
        INELIGIBLE = "ineligible", _("Not eligible")  # confirmed, at least one criterion failed

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="eligibility")
    assessed_on = models.DateField(_("date of assessment"))
    # Inclusion
    consent_before_procedures = models.BooleanField(
        _("written consent before any study procedure"), null=True, blank=True
    )
    # Only the year of birth is recorded: when the patient may be 17 or 18 at consent, inclusion 2
    # holds only on this explicit answer, part of what the investigator signs (protocol, Eligibility).
    eighteenth_birthday_confirmed = models.BooleanField(
        _("18th birthday on or before the date of consent (investigator)"), null=True, blank=True
    )
    ecog = models.PositiveSmallIntegerField(
        _("ECOG / WHO performance status"), null=True, blank=True, validators=[MaxValueValidator(4)]
    )
    histology_confirmed = models.BooleanField(
        _("well-differentiated GEP-NET confirmed by histology"), null=True, blank=True
    )
    primary_site = models.CharField(_("primary tumour site"), max_length=14, choices=PrimarySite.choices, blank=True)
    ki67_percent = models.DecimalField(
        _("Ki-67 index (%)"),
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    mitoses_per_2mm2 = models.DecimalField(
        _("mitoses per 2 mm²"),
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(200)],
    )
    # As written on the local pathology report; the stratification factor is the grade derived from
    # Ki-67 and mitoses (protocol, Eligibility), and a disagreement blocks randomisation.
    who_grade = models.CharField(_("WHO grade (as reported)"), max_length=2, choices=WhoGrade.choices, blank=True)
    nec = models.BooleanField(_("neuroendocrine carcinoma (NEC)"), null=True, blank=True)
    resection_margin = models.CharField(
        _("liver resection margin"), max_length=2, choices=ResectionMargin.choices, blank=True
    )
    liver_mets_histology_confirmed = models.BooleanField(
        _("liver metastases confirmed by histology"), null=True, blank=True
    )
    primary_resected = models.BooleanField(
        _("primary resected before or with the liver metastases"), null=True, blank=True
    )
    mri_date = models.DateField(_("date of pre-operative liver MRI"), null=True, blank=True)
    mri_no_extrahepatic = models.BooleanField(
        _("MRI: liver metastases, no extrahepatic disease"), null=True, blank=True
    )
    pet_date = models.DateField(_("date of 68Ga-DOTATATE PET/CT"), null=True, blank=True)
    pet_no_extrahepatic = models.BooleanField(_("PET/CT: no extrahepatic disease"), null=True, blank=True)
    # Exclusion
    other_treatment_date = models.DateField(
        _("date of last other anticancer treatment (if any)"), null=True, blank=True
    )
    unresectable_disease = models.BooleanField(
        _("non-resectable liver metastases, primary or perihilar nodes"), null=True, blank=True
    )
    pregnant_or_breastfeeding = models.BooleanField(_("pregnant or breastfeeding"), null=True, blank=True)
    unwilling_contraception = models.BooleanField(_("unwilling to use contraception"), null=True, blank=True)
    prior_prrt = models.BooleanField(_("any prior PRRT"), null=True, blank=True)
    liver_directed_therapy_date = models.DateField(
        _("date of last liver-directed therapy (if any)"), null=True, blank=True
    )
    # Outcome, written at confirmation
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    failed_criteria = models.JSONField(_("failed criteria"), default=list, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("confirmed by"),
    )

    class Meta:
        ordering = ["patient"]

    def __str__(self) -> str:
        return f"Eligibility of {self.patient}"

    def audit_site(self):
        return self.patient.site
