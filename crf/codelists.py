"""The code lists the CRFs own and more than one form uses (one ``TextChoices`` per concept;
architecture.md, Decisions). A list used by one form only stays beside its field in
crf/models/forms.py; a concept another domain owns comes from that domain's codelists
(primary site, WHO grade and margin: patients.codelists)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ImagingModality(models.TextChoices):
    """Protocol CRF 10 and the visit schedule: liver MRI (or CT); 68Ga-DOTATATE PET at months 12
    and 36 or when recurrence is suspected."""

    MRI = "mri", _("Liver MRI")
    CT = "ct", _("CT")
    PET = "pet", _("68Ga-DOTATATE PET/CT")


class ImagingResult(models.TextChoices):
    """Protocol CRF 10: imaging result (no evidence of disease / indeterminate / recurrence)."""

    NED = "ned", _("No evidence of disease")
    INDETERMINATE = "indeterminate", _("Indeterminate")
    RECURRENCE = "recurrence", _("Recurrence")
