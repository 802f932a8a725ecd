"""The code lists patients own: one ``TextChoices`` per concept, used by every model, form,
validator, derivation, export and the ODM metadata (architecture.md, Decisions: one code list per
concept). Codes and labels come from ``/work/shared/docs/protocol.md``; the CRF number is cited on
each. A field that may hold only some levels (a stratum, say) takes a subset declared here with
``subset()``, so its labels cannot drift from the list.

Decisions where the sources disagreed (issue 21):
- primary site: the histopathology CRF coded colon/rectum ``colorectum``, eligibility
  ``colon_rectum``. The protocol gives the label only ("colon/rectum"), so the code stored in the
  primary table (eligibility, which sets the stratum) wins; patients/migrations/0006 and
  crf/migrations/0011 recode stored ``colorectum``.
- WHO grade and resection margin had three labellings each; the labels below are the protocol's
  own words (CRF 6 grading rule; Eligibility, exclusion "R2 (debulking) resection").
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Sex(models.TextChoices):
    """Protocol CRF 1 (screening log) and CRF 4 (demographics): sex."""

    FEMALE = "F", _("Female")
    MALE = "M", _("Male")


class PrimarySite(models.TextChoices):
    """Protocol CRF 6: site of the primary tumour (stomach, pancreas, duodenum, jejunum/ileum,
    appendix, colon/rectum). ``other`` is the eligibility answer that fails inclusion 4 ("primary in
    stomach, pancreas or gut"); the histopathology CRF keeps it too, so a non-GEP primary found on
    the pathology report can be recorded as it is (and queried) instead of forced into a GEP site."""

    STOMACH = "stomach", _("Stomach")
    PANCREAS = "pancreas", _("Pancreas")
    DUODENUM = "duodenum", _("Duodenum")
    JEJUNUM_ILEUM = "jejunum_ileum", _("Jejunum / ileum")
    APPENDIX = "appendix", _("Appendix")
    COLON_RECTUM = "colon_rectum", _("Colon / rectum")
    OTHER = "other", _("Other or unknown (not GEP)")


class PrimarySiteGroup(models.TextChoices):
    """Protocol, Stratification: the primary-site factor (pancreas / other GEP), derived from
    ``PrimarySite`` (patients.eligibility.derived_strata)."""

    PANCREAS = "pancreas", _("Pancreas")
    OTHER = "other", _("Other GEP")


class WhoGrade(models.TextChoices):
    """Protocol CRF 6: WHO grade (G1: Ki-67 < 3 % and mitoses < 2; G2: 3–20 % or 2–20; the higher
    index sets the grade, patients.grading). G3 is an exclusion (Eligibility), recorded as reported."""

    G1 = "G1", _("G1 (Ki-67 < 3 % and mitoses < 2)")
    G2 = "G2", _("G2 (Ki-67 3–20 % or mitoses 2–20)")
    G3 = "G3", _("G3 (Ki-67 or mitoses > 20)")


class ResectionMargin(models.TextChoices):
    """Protocol CRF 7 (R0/R1) and Eligibility (inclusion 5: R0 or R1; exclusion: "R2 (debulking)
    resection"): margin of the liver resection."""

    R0 = "R0", _("R0")
    R1 = "R1", _("R1")
    R2 = "R2", _("R2 (debulking)")


def subset(codelist: type[models.TextChoices], *members: models.TextChoices) -> list[tuple[str, str]]:
    """Choices for a field that holds only ``members`` of ``codelist``, with the list's labels."""
    if not all(isinstance(m, codelist) for m in members):
        raise TypeError(f"a subset of {codelist.__name__} takes members of that list")
    return [(m.value, m.label) for m in members]


# Stratification factor levels (protocol, Stratification: G1 / G2 and R0 / R1; G3 and R2 are
# exclusions, so they never set a stratum).
STRATUM_WHO_GRADES = (WhoGrade.G1, WhoGrade.G2)
STRATUM_MARGINS = (ResectionMargin.R0, ResectionMargin.R1)
STRATUM_WHO_GRADE_CHOICES = subset(WhoGrade, *STRATUM_WHO_GRADES)
STRATUM_MARGIN_CHOICES = subset(ResectionMargin, *STRATUM_MARGINS)

# Declared subsets, for tests/test_codelists.py: field choices that are a part of one list.
SUBSETS = {
    "STRATUM_WHO_GRADE_CHOICES": (WhoGrade, STRATUM_WHO_GRADE_CHOICES),
    "STRATUM_MARGIN_CHOICES": (ResectionMargin, STRATUM_MARGIN_CHOICES),
}
