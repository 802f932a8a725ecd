"""Normal ranges of each site's laboratory, with the dates they apply from (protocol CRF 9).

Maintained by the trial manager (or the site, through the trial manager) in the admin. A laboratory
form takes the limit it leaves blank from the range in force at its sample date, so the limit used
for a grade is on the form and in its audit trail.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import TrialRecord
from patients.codelists import Sex
from sites.models import Site


class LabReferenceRange(TrialRecord):
    class Limit(models.TextChoices):
        HAEMOGLOBIN_LLN = "haemoglobin_lln", _("Haemoglobin lower limit (g/L)")
        WBC_LLN = "wbc_lln", _("White cells lower limit (×10⁹/L)")
        ANC_LLN = "anc_lln", _("Neutrophils lower limit (×10⁹/L)")
        LYMPHOCYTES_LLN = "lymphocytes_lln", _("Lymphocytes lower limit (×10⁹/L)")
        PLATELETS_LLN = "platelets_lln", _("Platelets lower limit (×10⁹/L)")
        CREATININE_ULN = "creatinine_uln", _("Creatinine upper limit (µmol/L)")
        ALT_ULN = "alt_uln", _("ALT upper limit (U/L)")
        AST_ULN = "ast_uln", _("AST upper limit (U/L)")
        ALP_ULN = "alp_uln", _("ALP upper limit (U/L)")
        BILIRUBIN_ULN = "bilirubin_uln", _("Bilirubin upper limit (µmol/L)")
        ALBUMIN_LLN = "albumin_lln", _("Albumin lower limit (g/L)")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="lab_reference_ranges")
    limit = models.CharField(_("limit"), max_length=16, choices=Limit.choices)
    value = models.DecimalField(_("value"), max_digits=7, decimal_places=2, help_text=_("in SI, as the label says"))
    sex = models.CharField(_("sex"), max_length=1, blank=True, choices=Sex.choices, help_text=_("blank: both"))
    effective_from = models.DateField(_("in force from"))
    effective_to = models.DateField(_("in force until"), null=True, blank=True, help_text=_("blank: still in force"))

    class Meta:
        ordering = ["site__code", "limit", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=models.F("effective_from")),
                name="lab_range_ends_after_it_starts",
            )
        ]

    def __str__(self) -> str:
        return f"{self.site.code} {self.get_limit_display()} {self.value} from {self.effective_from:%d %b %Y}"

    def audit_site(self):
        return self.site


def limits_in_force(*, site: Site, sex: str, day: dt.date) -> dict[str, object]:
    """Limit name → value of the site's laboratory on ``day``: a sex-specific range before a general
    one, the most recent start first."""
    rows = LabReferenceRange.objects.filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=day),
        site=site,
        effective_from__lte=day,
        retired_at__isnull=True,
    ).filter(Q(sex="") | Q(sex=sex))
    limits: dict[str, object] = {}
    for row in sorted(rows, key=lambda r: (r.sex == "", -r.effective_from.toordinal())):
        limits.setdefault(row.limit, row.value)
    return limits
