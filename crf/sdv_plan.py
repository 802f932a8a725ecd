"""The source data verification plan as data: which forms, and which fields of them, the monitor
verifies against the source (ICH E6(R3) 3.11.4 and Annex 1 §3.11.4.1: risk-proportionate
monitoring focused on the data critical to the trial's reliability and to patient safety).

One declared table, read by the SDV queue (reports.worklists.sdv_forms: which complete forms wait
for SDV and which may be locked without it), the monitor's form view (the fields to verify are
marked) and the plan page a trial manager reviews (crf:sdv_plan). A change to the plan is a code
change, reviewed like a protocol amendment.

Levels:

- ``full``: every field of every patient's form;
- ``targeted``: every patient's form, the listed fields only;
- ``sample``: every field, for a sample of patients: the first patient of each site and every
  SAMPLE_EVERY-th after (site sequence 1, 1 + N, 1 + 2N ...), so a site's first entries, where
  errors cluster, are always verified;
- ``none``: not source-verified (checked by edit checks and central review).

Forms not listed are sampled: the safer default for a form added later.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class SdvLevel(models.TextChoices):
    FULL = "full", _("100 % of fields")
    TARGETED = "targeted", _("Targeted fields")
    SAMPLE = "sample", _("Sample of patients")
    NONE = "none", _("No SDV")


# One patient in five, from each site's first.
SAMPLE_EVERY = 5


@dataclass(frozen=True)
class PlanEntry:
    level: str
    fields: tuple[str, ...] = ()
    why: str = ""


PLAN: dict[str, PlanEntry] = {
    # The primary endpoint: recurrence or death within 3 years from the liver resection
    # (protocol "Analysis datasets"); its event and time origin are verified in full.
    "recurrence": PlanEntry(SdvLevel.FULL, why=_("Primary endpoint event (first recurrence, its date)")),
    "end_of_study": PlanEntry(SdvLevel.FULL, why=_("Death and end of study: endpoint events and censoring")),
    "liver_resection": PlanEntry(
        SdvLevel.TARGETED,
        ("resection_date", "margin"),
        _("Time origin of every endpoint; resection margin is a stratification factor"),
    ),
    "follow_up": PlanEntry(
        SdvLevel.TARGETED,
        ("visit_date", "imaging_modality", "imaging_date", "imaging_result"),
        _("Disease assessments: dates of the primary endpoint and of censoring"),
    ),
    "imaging": PlanEntry(SdvLevel.FULL, why=_("Evidence of recurrence (primary endpoint)")),
    # Safety: the investigational product and the values that decide dosing (Lutathera SmPC 4.2:
    # dose modification for thrombocytopenia, anaemia, neutropenia, renal and hepatic toxicity).
    "lutathera_dosing": PlanEntry(SdvLevel.FULL, why=_("Investigational product administration")),
    "laboratory": PlanEntry(
        SdvLevel.TARGETED,
        ("sample_date", "haemoglobin", "anc", "platelets", "creatinine", "bilirubin", "albumin"),
        _("Values that decide a dose modification (Lutathera SmPC 4.2) and CTCAE grades"),
    ),
    "pregnancy": PlanEntry(SdvLevel.FULL, why=_("Safety: pregnancy exposure to the investigational product")),
    "demographics": PlanEntry(
        SdvLevel.TARGETED,
        ("height_cm", "weight_kg"),
        _("Weight enters the creatinine clearance (Cockcroft–Gault) used for the renal criterion"),
    ),
    "histopathology": PlanEntry(SdvLevel.SAMPLE, why=_("WHO grade is verified on the eligibility assessment")),
    "medical_history": PlanEntry(SdvLevel.SAMPLE),
    "quality_of_life": PlanEntry(SdvLevel.SAMPLE, why=_("Patient-reported: the source is the paper questionnaire")),
    "biomarker_sample": PlanEntry(SdvLevel.SAMPLE),
    "con_med": PlanEntry(SdvLevel.SAMPLE),
    "deviation": PlanEntry(SdvLevel.SAMPLE),
}
DEFAULT = PlanEntry(SdvLevel.SAMPLE, why=_("Not in the plan: sampled"))

# Records outside the CRFs that the monitoring plan covers in full. Listed for the plan page; their
# verification is the investigator's signature (eligibility) and the SAE reconciliation, not the
# CRF SDV queue.
OTHER_RECORDS = (
    (_("Informed consent"), _("100 %: every patient, before any trial procedure (ICH E6(R3) 2.8)")),
    (_("Eligibility assessment"), _("100 %: every criterion and its evidence date")),
    (_("Serious adverse events"), _("100 %: every field of the SAE report (ICH E2A)")),
)


def plan_for(form_code: str) -> PlanEntry:
    return PLAN.get(form_code, DEFAULT)


def sampled(site_sequence: int | None) -> bool:
    """Whether a patient is in the SDV sample (their site's first, then every SAMPLE_EVERY-th)."""
    return bool(site_sequence) and (site_sequence - 1) % SAMPLE_EVERY == 0


def needs_sdv(form_code: str, site_sequence: int | None) -> bool:
    entry = plan_for(form_code)
    if entry.level == SdvLevel.NONE:
        return False
    return entry.level != SdvLevel.SAMPLE or sampled(site_sequence)


def fields_to_verify(form_code: str, site_sequence: int | None, all_fields: list[str]) -> list[str]:
    """The fields the monitor verifies on this patient's form (none when it needs no SDV)."""
    if not needs_sdv(form_code, site_sequence):
        return []
    entry = plan_for(form_code)
    return list(entry.fields) if entry.level == SdvLevel.TARGETED else list(all_fields)
