"""The CRFs. Every data field is nullable so a nurse can save a form partly; what a complete form
needs is REQUIRED_FOR_COMPLETE, and the edit checks are in crf.validators. Units are in help_text."""

from __future__ import annotations

from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from patients.codelists import PrimarySite, ResectionMargin, WhoGrade
from patients.models import Patient

from ..codelists import ImagingModality, ImagingResult
from ..ctcae import si_unit, unit_choices
from ..dictionary import Column
from ..registry import register
from ..scoring import (
    GINET21_FIELD,
    QLQ_C30_SCALES,
    c30_field,
    ginet21_column,
    ginet21_scales,
    who_grade,
)
from .base import CrfForm


def rng(low, high, unit=""):
    low = Decimal(str(low)) if isinstance(low, float) else low
    high = Decimal(str(high)) if isinstance(high, float) else high
    if not unit:
        return [MinValueValidator(low), MaxValueValidator(high)]
    # The unit in the message: a nurse who typed 3.5 for a value asked in µmol/L sees why it is refused.
    return [
        MinValueValidator(low, message=f"At least {low} {unit}."),
        MaxValueValidator(high, message=f"At most {high} {unit}."),
    ]


def dec(label, low, high, unit, digits=6, places=1):
    return models.DecimalField(
        label,
        max_digits=digits,
        decimal_places=places,
        null=True,
        blank=True,
        validators=rng(low, high, unit),
        help_text=unit,
    )


def one_per_visit(code: str):
    return [models.UniqueConstraint(fields=["visit"], name=f"{code}_one_per_visit")]


@register
class Demographics(CrfForm):
    FORM_CODE = "demographics"
    FORM_TITLE = _("Demographics")

    class Ethnicity(models.TextChoices):
        WHITE = "white", _("White")
        BLACK = "black", _("Black")
        ASIAN = "asian", _("Asian")
        MIXED = "mixed", _("Mixed")
        OTHER = "other", _("Other")
        NOT_STATED = "not_stated", _("Not stated")

    ethnicity = models.CharField(_("ethnicity"), max_length=12, choices=Ethnicity.choices, blank=True)
    height_cm = dec(_("height"), 100, 230, "cm", places=1)
    weight_kg = dec(_("weight"), 25, 300, "kg", places=1)
    bmi = models.DecimalField(
        _("body-mass index"), max_digits=4, decimal_places=1, null=True, blank=True, editable=False, help_text="kg/m²"
    )

    SECTIONS = [(_("Demographics"), ["ethnicity", "height_cm", "weight_kg"])]
    DERIVED_FIELDS = ["bmi"]
    REQUIRED_FOR_COMPLETE = ["ethnicity", "height_cm", "weight_kg"]
    VALIDATOR = "crf.validators.DemographicsValidator"

    class Meta:
        constraints = one_per_visit("demographics")

    def derived(self) -> list[tuple[str, str]]:
        return [(_("Body-mass index"), "—" if self.bmi is None else f"{self.bmi} kg/m²")]


@register
class LiverResection(CrfForm):
    FORM_CODE = "liver_resection"
    FORM_TITLE = _("Liver resection")

    class Procedure(models.TextChoices):
        MAJOR = "major", _("Major hepatectomy (≥ 3 segments)")
        MINOR = "minor", _("Minor hepatectomy")
        SEGMENTECTOMY = "segmentectomy", _("Segmentectomy")
        WEDGE = "wedge", _("Wedge resection(s)")
        TWO_STAGE = "two_stage", _("Two-stage hepatectomy")
        ABLATION = "ablation", _("Resection with ablation adjunct")

    class Approach(models.TextChoices):
        OPEN = "open", _("Open")
        LAPAROSCOPIC = "laparoscopic", _("Laparoscopic")
        ROBOTIC = "robotic", _("Robotic")

    class ClavienDindo(models.TextChoices):
        I = "I", "I"  # noqa: E741 - the Clavien-Dindo grade is called I
        II = "II", "II"
        IIIA = "IIIa", "IIIa"
        IIIB = "IIIb", "IIIb"
        IVA = "IVa", "IVa"
        IVB = "IVb", "IVb"
        V = "V", "V"

    resection_date = models.DateField(_("date of liver resection"), null=True, blank=True)
    procedure = models.CharField(_("procedure"), max_length=14, choices=Procedure.choices, blank=True)
    approach = models.CharField(_("approach"), max_length=12, choices=Approach.choices, blank=True)
    metastases_count = models.PositiveSmallIntegerField(
        _("number of metastases"), null=True, blank=True, validators=rng(1, 100)
    )
    largest_mm = models.PositiveSmallIntegerField(
        _("largest metastasis"), null=True, blank=True, validators=rng(1, 300), help_text="mm"
    )
    bilobar = models.BooleanField(_("bilobar disease"), null=True, blank=True)
    perihilar_nodes = models.BooleanField(_("perihilar nodes involved"), null=True, blank=True)
    margin = models.CharField(_("resection margin"), max_length=2, blank=True, choices=ResectionMargin.choices)
    length_of_stay_days = models.PositiveSmallIntegerField(
        _("length of stay"), null=True, blank=True, validators=rng(0, 365), help_text=_("days")
    )
    complications = models.BooleanField(_("post-operative complications"), null=True, blank=True)
    clavien_dindo = models.CharField(
        _("worst complication (Clavien-Dindo)"), max_length=4, blank=True, choices=ClavienDindo.choices
    )

    SECTIONS = [
        (_("Operation"), ["resection_date", "procedure", "approach"]),
        (_("Pathology"), ["metastases_count", "largest_mm", "bilobar", "perihilar_nodes", "margin"]),
        (_("Recovery"), ["length_of_stay_days", "complications", "clavien_dindo"]),
    ]
    REQUIRED_FOR_COMPLETE = [
        "resection_date",
        "procedure",
        "approach",
        "metastases_count",
        "largest_mm",
        "margin",
        "length_of_stay_days",
        "complications",
    ]
    VALIDATOR = "crf.validators.LiverResectionValidator"

    class Meta:
        constraints = one_per_visit("liver_resection")


@register
class LutatheraDosing(CrfForm):
    FORM_CODE = "lutathera_dosing"
    FORM_TITLE = _("Lutathera dosing")

    class DoseLevel(models.TextChoices):
        FULL = "full", _("Full dose (7,400 MBq)")
        REDUCED = "reduced", _("Reduced dose (3,700 MBq)")
        NOT_GIVEN = "not_given", _("Not given")

    dose_date = models.DateField(_("date of administration"), null=True, blank=True)
    predose_bloods_date = models.DateField(_("date of pre-dose bloods"), null=True, blank=True)
    last_long_acting_ssa_date = models.DateField(
        _("last long-acting somatostatin analogue"),
        null=True,
        blank=True,
        help_text=_("at least 4 weeks before the dose"),
    )
    last_short_acting_ssa_at = models.DateTimeField(
        _("last short-acting somatostatin analogue"),
        null=True,
        blank=True,
        help_text=_("at least 24 hours before the dose"),
    )
    antiemetic = models.BooleanField(_("antiemetic given"), null=True, blank=True)
    amino_acid_product = models.CharField(_("amino-acid solution"), max_length=100, blank=True)
    amino_acid_start = models.TimeField(_("amino-acid infusion start"), null=True, blank=True)
    amino_acid_stop = models.TimeField(_("amino-acid infusion stop"), null=True, blank=True)
    amino_acid_volume_ml = models.PositiveIntegerField(
        _("amino-acid volume"), null=True, blank=True, validators=rng(0, 5000), help_text="mL"
    )
    batch_id = models.CharField(_("batch / vial id"), max_length=50, blank=True)
    dose_level = models.CharField(_("dose"), max_length=10, choices=DoseLevel.choices, blank=True)
    calibrated_activity_mbq = dec(_("calibrated activity"), 0, 9000, "MBq", digits=7)
    administered_activity_mbq = dec(_("administered activity"), 0, 9000, "MBq", digits=7)
    residual_activity_mbq = dec(_("residual activity"), 0, 9000, "MBq", digits=7)
    infusion_start = models.TimeField(_("Lutathera infusion start"), null=True, blank=True)
    infusion_stop = models.TimeField(_("Lutathera infusion stop"), null=True, blank=True)
    delay_days = models.PositiveSmallIntegerField(
        _("delay"), null=True, blank=True, validators=rng(0, 200), help_text=_("days")
    )
    delay_reason = models.CharField(_("reason for delay"), max_length=200, blank=True)
    dose_hold_reason = models.CharField(
        _("reason for dosing although a dose-hold rule is met"),
        max_length=300,
        blank=True,
        help_text=_("only when the pre-dose bloods meet a dose-hold rule of the label"),
    )
    infusion_reaction = models.BooleanField(_("infusion reaction"), null=True, blank=True)
    discharge_date = models.DateField(_("date of discharge"), null=True, blank=True)

    SECTIONS = [
        (
            _("Before the dose"),
            ["predose_bloods_date", "last_long_acting_ssa_date", "last_short_acting_ssa_at", "antiemetic"],
        ),
        (_("Amino acids"), ["amino_acid_product", "amino_acid_start", "amino_acid_stop", "amino_acid_volume_ml"]),
        (
            _("Lutathera"),
            [
                "dose_date",
                "dose_level",
                "batch_id",
                "calibrated_activity_mbq",
                "administered_activity_mbq",
                "residual_activity_mbq",
                "infusion_start",
                "infusion_stop",
            ],
        ),
        (
            _("Delay and after the dose"),
            ["delay_days", "delay_reason", "dose_hold_reason", "infusion_reaction", "discharge_date"],
        ),
    ]
    REQUIRED_FOR_COMPLETE = [
        "dose_level",
        "dose_date",
        "batch_id",
        "administered_activity_mbq",
        "infusion_start",
        "infusion_stop",
        "infusion_reaction",
    ]
    VALIDATOR = "crf.validators.LutatheraDosingValidator"

    class Meta:
        constraints = one_per_visit("lutathera_dosing")


def unit_field(analyte: str):
    return models.CharField(
        _("unit"), max_length=8, choices=unit_choices(analyte), default=si_unit(analyte), blank=True
    )


def derived_dec(label, unit, places=1, digits=7):
    return models.DecimalField(
        label, max_digits=digits, decimal_places=places, null=True, blank=True, editable=False, help_text=unit
    )


def grade_field(term):
    return models.PositiveSmallIntegerField(
        _("CTCAE v5 grade: %(t)s") % {"t": term}, null=True, blank=True, editable=False, help_text="0–4"
    )


@register
class Laboratory(CrfForm):
    """Laboratory panel (protocol CRF 9).

    The value is kept as entered with its unit (CDISC LBORRES/LBORRESU) and in SI (``*_si``,
    LBSTRESN): haemoglobin, creatinine, albumin and bilirubin accept the common conventional unit.
    The derived fields (SI values, creatinine clearance, CTCAE v5.0 grades) are written by the save
    service from crf.derivations, never typed; they are listed in DERIVED_FIELDS for the data
    dictionary and exports.
    """

    FORM_CODE = "laboratory"
    FORM_TITLE = _("Laboratory")

    sample_date = models.DateField(_("date of sample"), null=True, blank=True)
    haemoglobin = dec(_("haemoglobin"), 2, 250, "g/L or g/dL")
    haemoglobin_unit = unit_field("haemoglobin")
    haemoglobin_lln = dec(_("haemoglobin lower limit"), 80, 160, "g/L")
    wbc = dec(_("white cells"), 0, 200, "×10⁹/L", places=2)
    wbc_lln = dec(_("white cells lower limit"), 2, 6, "×10⁹/L", places=2)
    anc = dec(_("neutrophils"), 0, 100, "×10⁹/L", places=2)
    anc_lln = dec(_("neutrophils lower limit"), 0.5, 3, "×10⁹/L", places=2)
    lymphocytes = dec(_("lymphocytes"), 0, 100, "×10⁹/L", places=2)
    lymphocytes_lln = dec(_("lymphocytes lower limit"), 0.3, 2, "×10⁹/L", places=2)
    platelets = dec(_("platelets"), 0, 2000, "×10⁹/L", places=0)
    platelets_lln = dec(_("platelets lower limit"), 100, 200, "×10⁹/L", places=0)
    creatinine = dec(_("creatinine"), 0.1, 2000, "µmol/L or mg/dL", places=1)
    creatinine_unit = unit_field("creatinine")
    creatinine_uln = dec(_("creatinine upper limit"), 40, 200, "µmol/L", places=0)
    alt = dec(_("ALT"), 0, 5000, "U/L", places=0)
    alt_uln = dec(_("ALT upper limit"), 10, 100, "U/L", places=0)
    ast = dec(_("AST"), 0, 5000, "U/L", places=0)
    ast_uln = dec(_("AST upper limit"), 10, 100, "U/L", places=0)
    alp = dec(_("ALP"), 0, 5000, "U/L", places=0)
    alp_uln = dec(_("ALP upper limit"), 30, 400, "U/L", places=0)
    bilirubin = dec(_("bilirubin"), 0, 1000, "µmol/L or mg/dL", places=1)
    bilirubin_unit = unit_field("bilirubin")
    bilirubin_uln = dec(_("bilirubin upper limit"), 10, 40, "µmol/L", places=0)
    albumin = dec(_("albumin"), 0.5, 70, "g/L or g/dL", places=1)
    albumin_unit = unit_field("albumin")
    albumin_lln = dec(_("albumin lower limit"), 25, 45, "g/L", places=0)
    inr = dec(_("INR"), 0.5, 10, "ratio", places=2)

    # Derived (crf.derivations.laboratory_derived): SI values, Cockcroft–Gault clearance, grades.
    haemoglobin_si = derived_dec(_("haemoglobin (SI)"), "g/L")
    creatinine_si = derived_dec(_("creatinine (SI)"), "µmol/L")
    albumin_si = derived_dec(_("albumin (SI)"), "g/L")
    bilirubin_si = derived_dec(_("bilirubin (SI)"), "µmol/L")
    creatinine_clearance = models.DecimalField(
        _("creatinine clearance (Cockcroft–Gault)"),
        max_digits=6,
        decimal_places=0,
        null=True,
        blank=True,
        editable=False,
        help_text="mL/min",
    )
    haemoglobin_grade = grade_field("Anaemia")
    wbc_grade = grade_field("White blood cell decreased")
    anc_grade = grade_field("Neutrophil count decreased")
    lymphocytes_grade = grade_field("Lymphocyte count decreased")
    platelets_grade = grade_field("Platelet count decreased")
    creatinine_grade = grade_field("Creatinine increased")
    alt_grade = grade_field("ALT increased")
    ast_grade = grade_field("AST increased")
    alp_grade = grade_field("Alkaline phosphatase increased")
    bilirubin_grade = grade_field("Blood bilirubin increased")
    albumin_grade = grade_field("Hypoalbuminemia")
    inr_grade = grade_field("INR increased")

    SECTIONS = [
        (_("Sample"), ["sample_date"]),
        (
            _("Haematology"),
            [
                "haemoglobin",
                "haemoglobin_unit",
                "haemoglobin_lln",
                "wbc",
                "wbc_lln",
                "anc",
                "anc_lln",
                "lymphocytes",
                "lymphocytes_lln",
                "platelets",
                "platelets_lln",
            ],
        ),
        (_("Renal"), ["creatinine", "creatinine_unit", "creatinine_uln"]),
        (
            _("Liver"),
            [
                "alt",
                "alt_uln",
                "ast",
                "ast_uln",
                "alp",
                "alp_uln",
                "bilirubin",
                "bilirubin_unit",
                "bilirubin_uln",
                "albumin",
                "albumin_unit",
                "albumin_lln",
                "inr",
            ],
        ),
    ]
    DERIVED_FIELDS = [
        "haemoglobin_si",
        "creatinine_si",
        "albumin_si",
        "bilirubin_si",
        "creatinine_clearance",
        "haemoglobin_grade",
        "wbc_grade",
        "anc_grade",
        "lymphocytes_grade",
        "platelets_grade",
        "creatinine_grade",
        "alt_grade",
        "ast_grade",
        "alp_grade",
        "bilirubin_grade",
        "albumin_grade",
        "inr_grade",
    ]
    # The analyte a grade belongs to, to show it beside the value.
    GRADE_OF = {
        "haemoglobin": "haemoglobin_grade",
        "wbc": "wbc_grade",
        "anc": "anc_grade",
        "lymphocytes": "lymphocytes_grade",
        "platelets": "platelets_grade",
        "creatinine": "creatinine_grade",
        "alt": "alt_grade",
        "ast": "ast_grade",
        "alp": "alp_grade",
        "bilirubin": "bilirubin_grade",
        "albumin": "albumin_grade",
        "inr": "inr_grade",
    }
    REQUIRED_FOR_COMPLETE = [
        "sample_date",
        "haemoglobin",
        "anc",
        "platelets",
        "creatinine",
        "bilirubin",
        "albumin",
    ]
    VALIDATOR = "crf.validators.LaboratoryValidator"

    class Meta:
        constraints = one_per_visit("laboratory")

    def derived(self) -> list[tuple[str, str]]:
        rows = [
            (
                _("Creatinine clearance (Cockcroft–Gault)"),
                "—" if self.creatinine_clearance is None else f"{self.creatinine_clearance} mL/min",
            ),
        ]
        for analyte, grade_name in self.GRADE_OF.items():
            value = getattr(self, grade_name)
            if getattr(self, analyte) is not None:
                label = self._meta.get_field(grade_name).verbose_name
                rows.append((str(label), "—" if value is None else f"G{value}"))
        return rows


@register
class FollowUp(CrfForm):
    FORM_CODE = "follow_up"
    FORM_TITLE = _("Follow-up visit")

    # The imaging lists are shared with the imaging form (crf.codelists); the names stay for callers.
    Modality = ImagingModality
    ImagingResult = ImagingResult

    visit_date = models.DateField(_("date of visit"), null=True, blank=True)
    ecog = models.PositiveSmallIntegerField(
        _("ECOG performance status"), null=True, blank=True, validators=rng(0, 4), help_text="0–4"
    )
    symptoms = models.TextField(_("symptoms"), blank=True)
    imaging_modality = models.CharField(_("imaging"), max_length=4, choices=Modality.choices, blank=True)
    imaging_date = models.DateField(_("date of imaging"), null=True, blank=True)
    imaging_result = models.CharField(_("imaging result"), max_length=14, choices=ImagingResult.choices, blank=True)
    chromogranin_a = dec(_("chromogranin A"), 0, 100000, "µg/L", digits=8)
    hiaa_5 = dec(_("urinary 5-HIAA"), 0, 10000, "µmol/24 h", digits=8)
    netest_sample_taken = models.BooleanField(_("NETest sample taken"), null=True, blank=True)
    qol_done = models.BooleanField(_("quality-of-life questionnaires done"), null=True, blank=True)

    SECTIONS = [
        (_("Clinical review"), ["visit_date", "ecog", "symptoms"]),
        (_("Imaging"), ["imaging_modality", "imaging_date", "imaging_result"]),
        (_("Biomarkers and questionnaires"), ["chromogranin_a", "hiaa_5", "netest_sample_taken", "qol_done"]),
    ]
    REQUIRED_FOR_COMPLETE = [
        "visit_date",
        "ecog",
        "imaging_modality",
        "imaging_date",
        "imaging_result",
        "netest_sample_taken",
        "qol_done",
    ]
    VALIDATOR = "crf.validators.FollowUpValidator"

    class Meta:
        constraints = one_per_visit("follow_up")


@register
class EndOfStudy(CrfForm):
    FORM_CODE = "end_of_study"
    FORM_TITLE = _("End of study")

    class Reason(models.TextChoices):
        COMPLETED = "completed", _("Completed 36 months")
        WITHDRAWAL = "withdrawal", _("Withdrawal")
        LOST = "lost", _("Lost to follow-up")
        DEATH = "death", _("Death")
        SPONSOR = "sponsor", _("Sponsor decision")

    class Relation(models.TextChoices):
        NONE = "none", _("Not related")
        NET = "net", _("Neuroendocrine tumour")
        LUTATHERA = "lutathera", _("Lutathera")
        SURGERY = "surgery", _("Surgery")

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="end_of_study")
    end_date = models.DateField(_("date of end of study"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=12, choices=Reason.choices, blank=True)
    recurrence_free = models.BooleanField(_("recurrence-free at end of study"), null=True, blank=True)
    death_date = models.DateField(_("date of death"), null=True, blank=True)
    death_cause = models.CharField(_("cause of death"), max_length=200, blank=True)
    death_relation = models.CharField(_("death related to"), max_length=10, choices=Relation.choices, blank=True)

    SECTIONS = [
        (_("End of study"), ["end_date", "reason", "recurrence_free"]),
        (_("Death"), ["death_date", "death_cause", "death_relation"]),
    ]
    REQUIRED_FOR_COMPLETE = ["end_date", "reason", "recurrence_free"]
    VALIDATOR = "crf.validators.EndOfStudyValidator"

    class Meta:
        constraints = one_per_visit("end_of_study")


@register
class MedicalHistory(CrfForm):
    FORM_CODE = "medical_history"
    FORM_TITLE = _("Medical and NET history")

    class Syndrome(models.TextChoices):
        NONE = "none", _("None")
        CARCINOID = "carcinoid", _("Carcinoid syndrome")
        INSULINOMA = "insulinoma", _("Insulinoma")
        GASTRINOMA = "gastrinoma", _("Gastrinoma")
        OTHER = "other", _("Other")

    diagnosis_date = models.DateField(_("date of NET diagnosis"), null=True, blank=True)
    functional_syndrome = models.CharField(
        _("functional syndrome"), max_length=12, choices=Syndrome.choices, blank=True
    )
    functional_syndrome_other = models.CharField(_("other syndrome, specify"), max_length=100, blank=True)
    men1 = models.BooleanField(_("MEN1"), null=True, blank=True)
    carcinoid_heart_disease = models.BooleanField(_("carcinoid heart disease"), null=True, blank=True)
    prior_ssa = models.BooleanField(_("prior somatostatin analogue"), null=True, blank=True)
    prior_therapies = models.TextField(_("prior therapies"), blank=True, help_text=_("other than surgery"))
    comorbidities = models.TextField(_("relevant comorbidities"), blank=True)

    SECTIONS = [
        (_("Diagnosis"), ["diagnosis_date", "functional_syndrome", "functional_syndrome_other", "men1"]),
        (_("History"), ["carcinoid_heart_disease", "prior_ssa", "prior_therapies", "comorbidities"]),
    ]
    REQUIRED_FOR_COMPLETE = ["diagnosis_date", "functional_syndrome", "men1", "carcinoid_heart_disease", "prior_ssa"]
    VALIDATOR = "crf.validators.MedicalHistoryValidator"

    class Meta:
        constraints = one_per_visit("medical_history")


@register
class Histopathology(CrfForm):
    FORM_CODE = "histopathology"
    FORM_TITLE = _("Primary tumour histopathology")

    class Timing(models.TextChoices):
        SYNCHRONOUS = "synchronous", _("Synchronous")
        METACHRONOUS = "metachronous", _("Metachronous")

    # One list per concept (patients.codelists): the same codes as eligibility, which sets the stratum.
    primary_site = models.CharField(_("primary site"), max_length=14, choices=PrimarySite.choices, blank=True)
    primary_resection_date = models.DateField(_("date of primary resection"), null=True, blank=True)
    timing = models.CharField(_("liver metastases"), max_length=12, choices=Timing.choices, blank=True)
    pt = models.CharField(
        _("primary tumour (pT)"), max_length=3, blank=True, choices=[(c, c) for c in ("T1", "T2", "T3", "T4", "TX")]
    )
    pn = models.CharField(
        _("regional nodes (pN)"), max_length=3, blank=True, choices=[(c, c) for c in ("N0", "N1", "N2", "NX")]
    )
    nodes_positive = models.PositiveSmallIntegerField(
        _("nodes positive"), null=True, blank=True, validators=rng(0, 100)
    )
    nodes_examined = models.PositiveSmallIntegerField(
        _("nodes examined"), null=True, blank=True, validators=rng(0, 150)
    )
    ki67_percent = dec(_("Ki-67"), 0, 100, "%", digits=4, places=1)
    mitoses_per_2mm2 = dec(_("mitoses"), 0, 200, _("per 2 mm²"), digits=4, places=1)
    who_grade = models.CharField(_("WHO grade (as reported)"), max_length=2, choices=WhoGrade.choices, blank=True)

    SECTIONS = [
        (_("Primary tumour"), ["primary_site", "primary_resection_date", "timing", "pt", "pn"]),
        (_("Nodes"), ["nodes_positive", "nodes_examined"]),
        (_("Grade"), ["ki67_percent", "mitoses_per_2mm2", "who_grade"]),
    ]
    REQUIRED_FOR_COMPLETE = [
        "primary_site",
        "primary_resection_date",
        "timing",
        "pt",
        "pn",
        "ki67_percent",
        "who_grade",
    ]
    VALIDATOR = "crf.validators.HistopathologyValidator"

    class Meta:
        constraints = one_per_visit("histopathology")

    def derived(self) -> list[tuple[str, str]]:
        grade = who_grade(self.ki67_percent, self.mitoses_per_2mm2)
        return [(_("WHO grade derived from Ki-67 and mitoses"), grade or "—")]


QLQ_ITEMS = range(1, 52)  # QLQ-C30 items 1–30, then the QLQ-GI.NET21 items 31–51 (protocol CRF 14)


def _qlq_field(item: int):
    high = 7 if item in (29, 30) else 4
    return models.PositiveSmallIntegerField(
        _("item %(n)s") % {"n": item}, null=True, blank=True, validators=rng(1, high), help_text=f"1–{high}"
    )


def _qlq_score_field(label):
    return models.DecimalField(
        label, max_digits=4, decimal_places=1, null=True, blank=True, editable=False, help_text="0–100"
    )


@register
class QualityOfLife(CrfForm):
    """EORTC QLQ-C30 v3.0 and QLQ-GI.NET21 responses by item number (the item texts are copyrighted;
    see the paper form). The C30 scale scores and summary score are derived by the save service
    (crf.scoring) and stored, never typed."""

    FORM_CODE = "quality_of_life"
    FORM_TITLE = _("Quality of life (EORTC QLQ-C30, QLQ-GI.NET21)")
    COMPACT = True  # 51 short answers: four to a row

    completed_on = models.DateField(_("date completed"), null=True, blank=True)
    q1 = _qlq_field(1)
    q2 = _qlq_field(2)
    q3 = _qlq_field(3)
    q4 = _qlq_field(4)
    q5 = _qlq_field(5)
    q6 = _qlq_field(6)
    q7 = _qlq_field(7)
    q8 = _qlq_field(8)
    q9 = _qlq_field(9)
    q10 = _qlq_field(10)
    q11 = _qlq_field(11)
    q12 = _qlq_field(12)
    q13 = _qlq_field(13)
    q14 = _qlq_field(14)
    q15 = _qlq_field(15)
    q16 = _qlq_field(16)
    q17 = _qlq_field(17)
    q18 = _qlq_field(18)
    q19 = _qlq_field(19)
    q20 = _qlq_field(20)
    q21 = _qlq_field(21)
    q22 = _qlq_field(22)
    q23 = _qlq_field(23)
    q24 = _qlq_field(24)
    q25 = _qlq_field(25)
    q26 = _qlq_field(26)
    q27 = _qlq_field(27)
    q28 = _qlq_field(28)
    q29 = _qlq_field(29)
    q30 = _qlq_field(30)
    q31 = _qlq_field(31)
    q32 = _qlq_field(32)
    q33 = _qlq_field(33)
    q34 = _qlq_field(34)
    q35 = _qlq_field(35)
    q36 = _qlq_field(36)
    q37 = _qlq_field(37)
    q38 = _qlq_field(38)
    q39 = _qlq_field(39)
    q40 = _qlq_field(40)
    q41 = _qlq_field(41)
    q42 = _qlq_field(42)
    q43 = _qlq_field(43)
    q44 = _qlq_field(44)
    q45 = _qlq_field(45)
    q46 = _qlq_field(46)
    q47 = _qlq_field(47)
    q48 = _qlq_field(48)
    q49 = _qlq_field(49)
    q50 = _qlq_field(50)
    q51 = _qlq_field(51)

    # Derived (crf.scoring.quality_of_life_derived): the 15 C30 scales, one decimal place, and the
    # summary score from the unrounded scales.
    c30_ql2 = _qlq_score_field(_("QLQ-C30 global health status (QL2)"))
    c30_pf2 = _qlq_score_field(_("QLQ-C30 physical functioning (PF2)"))
    c30_rf2 = _qlq_score_field(_("QLQ-C30 role functioning (RF2)"))
    c30_ef = _qlq_score_field(_("QLQ-C30 emotional functioning (EF)"))
    c30_cf = _qlq_score_field(_("QLQ-C30 cognitive functioning (CF)"))
    c30_sf = _qlq_score_field(_("QLQ-C30 social functioning (SF)"))
    c30_fa = _qlq_score_field(_("QLQ-C30 fatigue (FA)"))
    c30_nv = _qlq_score_field(_("QLQ-C30 nausea and vomiting (NV)"))
    c30_pa = _qlq_score_field(_("QLQ-C30 pain (PA)"))
    c30_dy = _qlq_score_field(_("QLQ-C30 dyspnoea (DY)"))
    c30_sl = _qlq_score_field(_("QLQ-C30 insomnia (SL)"))
    c30_ap = _qlq_score_field(_("QLQ-C30 appetite loss (AP)"))
    c30_co = _qlq_score_field(_("QLQ-C30 constipation (CO)"))
    c30_di = _qlq_score_field(_("QLQ-C30 diarrhoea (DI)"))
    c30_fi = _qlq_score_field(_("QLQ-C30 financial difficulties (FI)"))
    c30_summary = _qlq_score_field(_("QLQ-C30 summary score"))
    # The GI.NET21 scales of the configured map (crf.scoring.ginet21_stored): scale code → score
    # to one place as text, None when missing by the half rule; None for a form never scored. One
    # JSON field, not a column per scale, because the map is configuration data: its scales are
    # known only once the EORTC map is entered, and entering or correcting it must need no schema
    # migration. The exports still give one column per scale (expanded_columns).
    ginet21_scores = models.JSONField(
        _("QLQ-GI.NET21 scale scores"), null=True, blank=True, editable=False, encoder=DjangoJSONEncoder
    )

    # The sections of the printed questionnaire (issue 26): C30 items 1–5, 6–7 and 8–28 (both about
    # the past week), 29–30 (global health), then the GI.NET21 module. The headings are the
    # system's own neutral words; the EORTC's wording appears only from a licence text file
    # (crf.qlq_paper, settings.EORTC_ITEM_TEXT_FILE).
    SECTIONS = [
        (_("Questionnaire"), ["completed_on"]),
        (_("QLQ-C30 items 1–5"), [f"q{n}" for n in range(1, 6)]),
        (_("QLQ-C30 items 6–7, during the past week"), ["q6", "q7"]),
        (_("QLQ-C30 items 8–28, during the past week"), [f"q{n}" for n in range(8, 29)]),
        (_("QLQ-C30 items 29–30, global health"), ["q29", "q30"]),
        (_("QLQ-GI.NET21 items 31–51"), [f"q{n}" for n in range(31, 52)]),
    ]
    # Entered as on the printed form: one row per item, its answers as radio buttons (crf.qlq_paper).
    PAPER_LAYOUT = True
    DERIVED_FIELDS = [
        "c30_ql2",
        "c30_pf2",
        "c30_rf2",
        "c30_ef",
        "c30_cf",
        "c30_sf",
        "c30_fa",
        "c30_nv",
        "c30_pa",
        "c30_dy",
        "c30_sl",
        "c30_ap",
        "c30_co",
        "c30_di",
        "c30_fi",
        "c30_summary",
        GINET21_FIELD,
    ]
    REQUIRED_FOR_COMPLETE = ["completed_on"]
    VALIDATOR = "crf.validators.QualityOfLifeValidator"

    class Meta:
        constraints = one_per_visit("quality_of_life")

    def responses(self) -> dict[int, int | None]:
        return {n: getattr(self, f"q{n}") for n in QLQ_ITEMS}

    def ginet21_score(self, code: str) -> Decimal | None:
        """The stored score of GI.NET21 scale ``code`` (None: missing, or not scored yet)."""
        value = (self.ginet21_scores or {}).get(code)
        return None if value is None else Decimal(str(value))

    def ginet21_rows(self) -> list[tuple[str, str, Decimal | None]]:
        """(code, label, stored score) of each configured GI.NET21 scale."""
        return [(code, label, self.ginet21_score(code)) for code, (label, _k, _i) in ginet21_scales().items()]

    @classmethod
    def expanded_columns(cls, name: str) -> list[Column]:
        """The export columns of ``ginet21_scores``: one per configured scale, read from its key."""
        columns = []
        for code, (label, kind, items) in ginet21_scales().items():
            columns.append(
                Column(
                    ginet21_column(code),
                    f"QLQ-GI.NET21 {label} ({code})",
                    "float",
                    "0–100",
                    derived_from=f"derived by the system (crf.scoring): EORTC {kind} scale of items "
                    f"{', '.join(map(str, items))}; missing if fewer than half answered",
                    expression=Cast(KT(f"{name}__{code}"), models.DecimalField(max_digits=4, decimal_places=1)),
                    read=lambda form, code=code: form.ginet21_score(code),
                )
            )
        return columns

    def derived(self) -> list[tuple[str, str]]:
        rows = []
        for code, (label, _kind, _items) in QLQ_C30_SCALES.items():
            score = getattr(self, c30_field(code))
            rows.append((label, "—" if score is None else f"{score}"))
        rows.append((_("Summary score"), "—" if self.c30_summary is None else f"{self.c30_summary}"))
        for code, label, score in self.ginet21_rows():
            rows.append((f"GI.NET21 {label} ({code})", "—" if score is None else f"{score}"))
        return rows


@register
class BiomarkerSample(CrfForm):
    FORM_CODE = "biomarker_sample"
    FORM_TITLE = _("Biomarker samples")
    NEEDS_SAMPLE_CONSENT = True

    blood_collected_at = models.DateTimeField(_("NETest whole blood collected"), null=True, blank=True)
    blood_tube_id = models.CharField(_("blood kit / tube id"), max_length=40, blank=True)
    urine_collected_at = models.DateTimeField(_("urine collected"), null=True, blank=True)
    urine_tube_id = models.CharField(_("urine kit / tube id"), max_length=40, blank=True)
    shipped_on = models.DateField(_("shipped"), null=True, blank=True)
    received_on = models.DateField(_("received by the laboratory"), null=True, blank=True)
    netest_score = models.PositiveSmallIntegerField(
        _("NETest score"), null=True, blank=True, validators=rng(0, 100), help_text="0–100"
    )

    SECTIONS = [
        (_("Collection"), ["blood_collected_at", "blood_tube_id", "urine_collected_at", "urine_tube_id"]),
        (_("Shipping and result"), ["shipped_on", "received_on", "netest_score"]),
    ]
    REQUIRED_FOR_COMPLETE = ["blood_collected_at", "blood_tube_id", "shipped_on"]
    VALIDATOR = "crf.validators.BiomarkerSampleValidator"

    class Meta:
        constraints = one_per_visit("biomarker_sample")


# Patient-level logs and events: recorded on the patient's "LOG" visit, several entries allowed
# where REPEATING is set.


@register
class Imaging(CrfForm):
    FORM_CODE = "imaging"
    FORM_TITLE = _("Imaging")
    REPEATING = True

    class Reason(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled follow-up")
        PET_PROTOCOL = "pet_protocol", _("Protocol PET (month 12 / 36)")
        SUSPECTED = "suspected", _("Suspected recurrence")

    imaging_date = models.DateField(_("date of imaging"), null=True, blank=True)
    modality = models.CharField(_("modality"), max_length=4, choices=FollowUp.Modality.choices, blank=True)
    reason = models.CharField(_("reason"), max_length=14, choices=Reason.choices, blank=True)
    result = models.CharField(_("result"), max_length=14, choices=FollowUp.ImagingResult.choices, blank=True)
    new_lesions = models.PositiveSmallIntegerField(_("new lesions"), null=True, blank=True, validators=rng(0, 100))
    report = models.TextField(_("report summary"), blank=True)

    SECTIONS = [(_("Imaging"), ["imaging_date", "modality", "reason", "result", "new_lesions", "report"])]
    REQUIRED_FOR_COMPLETE = ["imaging_date", "modality", "reason", "result"]
    VALIDATOR = "crf.validators.ImagingValidator"


@register
class Recurrence(CrfForm):
    FORM_CODE = "recurrence"
    FORM_TITLE = _("Recurrence")
    # A patient can have several (protocol CRF 11): the first anywhere is the primary event, the
    # first in the liver the event of liver disease-free survival (crf.selectors.first_recurrences).
    REPEATING = True

    class Confirmation(models.TextChoices):
        IMAGING = "imaging", _("Imaging")
        BIOPSY = "biopsy", _("Biopsy")
        BIOMARKER = "biomarker", _("Biomarker rise only")

    recurrence_date = models.DateField(
        _("date of recurrence"), null=True, blank=True, help_text=_("first imaging with unequivocal new disease")
    )
    site_liver = models.BooleanField(_("liver"), null=True, blank=True)
    site_nodes = models.BooleanField(_("lymph nodes"), null=True, blank=True)
    site_peritoneum = models.BooleanField(_("peritoneum"), null=True, blank=True)
    site_bone = models.BooleanField(_("bone"), null=True, blank=True)
    site_lung = models.BooleanField(_("lung"), null=True, blank=True)
    site_other = models.CharField(_("other site"), max_length=100, blank=True)
    confirmation = models.CharField(_("confirmed by"), max_length=10, choices=Confirmation.choices, blank=True)
    next_treatment = models.CharField(_("next anticancer treatment"), max_length=200, blank=True)
    next_treatment_start = models.DateField(_("start of next treatment"), null=True, blank=True)

    SECTIONS = [
        (_("Recurrence"), ["recurrence_date", "confirmation"]),
        (_("Sites"), ["site_liver", "site_nodes", "site_peritoneum", "site_bone", "site_lung", "site_other"]),
        (_("Next treatment"), ["next_treatment", "next_treatment_start"]),
    ]
    REQUIRED_FOR_COMPLETE = ["recurrence_date", "confirmation", "site_liver", "site_nodes"]
    VALIDATOR = "crf.validators.RecurrenceValidator"

    def liver_only(self) -> bool | None:
        others = [self.site_nodes, self.site_peritoneum, self.site_bone, self.site_lung]
        if self.site_liver is None:
            return None
        return bool(self.site_liver) and not any(others) and not self.site_other

    def derived(self) -> list[tuple[str, str]]:
        value = self.liver_only()
        return [(_("Liver-only recurrence"), "—" if value is None else (_("Yes") if value else _("No")))]


@register
class ConcomitantMedication(CrfForm):
    FORM_CODE = "con_med"
    FORM_TITLE = _("Concomitant medication")
    REPEATING = True

    drug = models.CharField(_("medication"), max_length=120, blank=True)
    indication = models.CharField(_("indication"), max_length=120, blank=True)
    dose = models.CharField(_("dose and unit"), max_length=60, blank=True)
    route = models.CharField(
        _("route"),
        max_length=12,
        blank=True,
        choices=[(c, c.capitalize()) for c in ("oral", "iv", "sc", "im", "topical", "inhaled", "other")],
    )
    start_date = models.DateField(_("start"), null=True, blank=True)
    stop_date = models.DateField(_("stop"), null=True, blank=True)
    ongoing = models.BooleanField(_("ongoing"), null=True, blank=True)

    SECTIONS = [(_("Medication"), ["drug", "indication", "dose", "route", "start_date", "stop_date", "ongoing"])]
    REQUIRED_FOR_COMPLETE = ["drug", "indication", "start_date", "ongoing"]
    VALIDATOR = "crf.validators.ConcomitantMedicationValidator"


@register
class ProtocolDeviation(CrfForm):
    FORM_CODE = "deviation"
    FORM_TITLE = _("Protocol deviation")
    REPEATING = True

    class Category(models.TextChoices):
        ELIGIBILITY = "eligibility", _("Eligibility")
        CONSENT = "consent", _("Consent")
        DOSING = "dosing", _("Dosing")
        VISIT = "visit", _("Visit out of window / missed")
        PROCEDURE = "procedure", _("Procedure not done")
        OTHER = "other", _("Other")

    deviation_date = models.DateField(_("date of deviation"), null=True, blank=True)
    category = models.CharField(_("category"), max_length=12, choices=Category.choices, blank=True)
    description = models.TextField(_("description"), blank=True)
    serious_breach = models.BooleanField(_("possible serious breach"), null=True, blank=True)
    corrective_action = models.TextField(_("corrective and preventive action"), blank=True)

    SECTIONS = [(_("Deviation"), ["deviation_date", "category", "description", "serious_breach", "corrective_action"])]
    REQUIRED_FOR_COMPLETE = ["deviation_date", "category", "description", "serious_breach"]
    VALIDATOR = "crf.validators.ProtocolDeviationValidator"


@register
class Pregnancy(CrfForm):
    FORM_CODE = "pregnancy"
    FORM_TITLE = _("Pregnancy report")
    REPEATING = True

    class Subject(models.TextChoices):
        PATIENT = "patient", _("Patient")
        PARTNER = "partner", _("Partner of a male patient")

    class Outcome(models.TextChoices):
        ONGOING = "ongoing", _("Ongoing")
        LIVE_BIRTH = "live_birth", _("Live birth")
        MISCARRIAGE = "miscarriage", _("Miscarriage")
        TERMINATION = "termination", _("Termination")
        ANOMALY = "anomaly", _("Congenital anomaly")

    aware_date = models.DateField(_("date site became aware"), null=True, blank=True)
    subject = models.CharField(_("who is pregnant"), max_length=8, choices=Subject.choices, blank=True)
    last_menstrual_period = models.DateField(_("last menstrual period"), null=True, blank=True)
    expected_delivery = models.DateField(_("expected delivery"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices, blank=True)
    outcome_date = models.DateField(_("date of outcome"), null=True, blank=True)

    SECTIONS = [
        (_("Report"), ["aware_date", "subject", "last_menstrual_period", "expected_delivery"]),
        (_("Outcome"), ["outcome", "outcome_date"]),
    ]
    REQUIRED_FOR_COMPLETE = ["aware_date", "subject", "outcome"]
    VALIDATOR = "crf.validators.PregnancyValidator"
