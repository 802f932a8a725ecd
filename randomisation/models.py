"""Which arm, fairly and secretly: configuration, concealed allocation lists and allocations.

Concealment: the list (Slot rows) is readable only by the statistician's pages, which audit every
view; no other role's page, export or API reads Slot.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import NoDeleteQuerySet, TrialRecord
from patients.codelists import STRATUM_MARGINS, STRATUM_WHO_GRADES, PrimarySiteGroup
from patients.models import Patient

from .codelists import Arm


class Method(models.TextChoices):
    BLOCKS = "blocks", _("Stratified permuted blocks, generated in the EDC")
    IMPORTED = "imported", _("Stratified list imported from the statistician")
    MINIMISATION = "minimisation", _("Minimisation (Pocock–Simon)")


class Imbalance(models.TextChoices):
    RANGE = "range", _("Range")
    VARIANCE = "variance", _("Variance")


# Stratification factors the configuration may use, with their levels (from the patient record).
FACTOR_LEVELS: dict[str, list[str]] = {
    "primary_site": list(PrimarySiteGroup.values),
    "who_grade": [g.value for g in STRATUM_WHO_GRADES],
    "resection_margin": [m.value for m in STRATUM_MARGINS],
}


class RandomisationConfig(TrialRecord):
    """The randomisation design. Frozen at the first randomisation; a change is a new version."""

    number = models.PositiveIntegerField(_("version"), unique=True)
    method = models.CharField(_("method"), max_length=14, choices=Method.choices, default=Method.BLOCKS)
    ratio = models.CharField(_("allocation ratio A:B"), max_length=5, default="1:1", editable=False)
    factors = models.JSONField(_("stratification factors"), default=list)
    stratify_by_site = models.BooleanField(_("stratify by site as well"), default=False)
    block_sizes = models.JSONField(_("block sizes"), default=list)
    target = models.PositiveIntegerField(_("target number of patients"), default=90)
    headroom_percent = models.PositiveSmallIntegerField(
        _("list headroom per stratum (%)"), default=20, validators=[MinValueValidator(20)]
    )
    minimisation_probability = models.DecimalField(
        _("probability of the minimising arm"),
        max_digits=3,
        decimal_places=2,
        default=0.80,
        validators=[MinValueValidator(0.5), MaxValueValidator(1)],
    )
    imbalance = models.CharField(
        _("imbalance measure"), max_length=8, choices=Imbalance.choices, default=Imbalance.RANGE
    )
    minimisation_seed = models.CharField(max_length=64, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    frozen_at = models.DateTimeField(
        _("frozen at"), null=True, blank=True, help_text=_("Set at the first randomisation.")
    )
    reason = models.TextField(_("reason for this version"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"Randomisation configuration v{self.number} ({self.get_method_display()})"

    def uses_list(self) -> bool:
        return self.method in (Method.BLOCKS, Method.IMPORTED)


class AllocationList(TrialRecord):
    """A concealed allocation list for one configuration (generated from a recorded seed, or imported)."""

    config = models.ForeignKey(RandomisationConfig, on_delete=models.PROTECT, related_name="lists")
    source = models.CharField(max_length=10, choices=[("generated", _("Generated")), ("imported", _("Imported"))])
    seed = models.CharField(max_length=64, blank=True, help_text=_("Hex seed of the generator; empty if imported."))
    sha256 = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Allocation list {self.pk} ({self.source}) of {self.config}"


class Slot(models.Model):
    """One position of the concealed list. Never shown to site staff or the trial manager."""

    allocation_list = models.ForeignKey(AllocationList, on_delete=models.PROTECT, related_name="slots")
    stratum = models.CharField(max_length=100)
    sequence = models.PositiveIntegerField()
    block_number = models.PositiveIntegerField()
    block_size = models.PositiveSmallIntegerField()
    arm = models.CharField(max_length=1, choices=Arm.choices)

    objects = NoDeleteQuerySet.as_manager()

    class Meta:
        ordering = ["stratum", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["allocation_list", "stratum", "sequence"], name="slot_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.stratum} #{self.sequence}"


class StratumCursor(models.Model):
    """Next free position of a stratum's list; its row lock serialises randomisations per stratum."""

    allocation_list = models.ForeignKey(AllocationList, on_delete=models.PROTECT, related_name="cursors")
    stratum = models.CharField(max_length=100)
    next_sequence = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["allocation_list", "stratum"], name="cursor_unique_stratum"),
        ]

    def __str__(self) -> str:
        return f"{self.stratum} next #{self.next_sequence}"


class Allocation(TrialRecord):
    """A patient's arm. One per patient; a list slot is used by at most one allocation."""

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="allocation")
    arm = models.CharField(_("arm"), max_length=1, choices=Arm.choices)
    randomised_at = models.DateTimeField(_("randomised at"))
    randomised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    stratum = models.CharField(_("stratum"), max_length=100)
    config = models.ForeignKey(RandomisationConfig, on_delete=models.PROTECT, related_name="allocations")
    slot = models.OneToOneField(Slot, null=True, blank=True, on_delete=models.PROTECT, related_name="allocation")
    # Minimisation: the arm that minimised imbalance and whether the random element chose it.
    minimising_arm = models.CharField(max_length=1, choices=Arm.choices, blank=True)
    # Randomised later than the protocol allows after liver resection (cycle 1 window closes at 10
    # weeks): the protocol deviation's reason, required then (patients.selectors.randomisation_timing).
    late_reason = models.TextField(_("protocol deviation: reason for late randomisation"), blank=True)

    class Meta:
        ordering = ["randomised_at", "id"]

    def __str__(self) -> str:
        return f"{self.patient} → arm {self.arm}"

    def audit_site(self):
        return self.patient.site
