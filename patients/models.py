"""Who is in the trial: the pseudonymised patient record.

Screening log, consent, eligibility and withdrawal models extend this module (issue 3); other
domains rely only on ``Patient``, ``PatientQuerySet.visible_to`` and the selectors in
``patients.selectors``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import NoDeleteQuerySet, TrialRecord
from sites.models import Site


class PatientQuerySet(NoDeleteQuerySet):
    def visible_to(self, user) -> PatientQuerySet:
        """Patients of the sites the user may see (the site scope of sites.Site.visible_to)."""
        return self.filter(site__in=Site.objects.visible_to(user))


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")


class PrimarySiteGroup(models.TextChoices):
    """Stratification factor: primary tumour site."""

    PANCREAS = "pancreas", _("Pancreas")
    OTHER = "other", _("Other GEP")


class WhoGrade(models.TextChoices):
    """Stratification factor: WHO grade (G3 is an exclusion, so it is not a level)."""

    G1 = "G1", _("G1")
    G2 = "G2", _("G2")


class ResectionMargin(models.TextChoices):
    """Stratification factor: liver resection margin (R2 is an exclusion)."""

    R0 = "R0", _("R0")
    R1 = "R1", _("R1")


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
    who_grade = models.CharField(_("WHO grade (stratum)"), max_length=2, choices=WhoGrade.choices, blank=True)
    resection_margin = models.CharField(
        _("resection margin (stratum)"), max_length=2, choices=ResectionMargin.choices, blank=True
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
        from django.urls import reverse

        return reverse("patients:patient_detail", kwargs={"trial_number": self.trial_number})

    def stratification_factors(self) -> dict[str, str]:
        """Factor name → level; an empty string means not yet recorded."""
        return {
            "primary_site": self.primary_site_group,
            "who_grade": self.who_grade,
            "resection_margin": self.resection_margin,
        }

    def is_on_study(self) -> bool:
        """Still expected to attend visits and have forms completed."""
        return self.status not in (self.Status.COMPLETED, self.Status.WITHDRAWN, self.Status.DIED)
