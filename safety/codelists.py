"""The code lists safety owns: one ``TextChoices`` per concept, used by the AE and SAE models,
forms, exports and the ODM (architecture.md, Decisions). Codes and labels from protocol.md, Safety
reporting and the SAE form."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Causality(models.TextChoices):
    """Protocol, Safety reporting: the PI's (and the sponsor's) causality, to Lutathera, amino
    acids and trial procedures."""

    UNRELATED = "unrelated", _("Unrelated")
    UNLIKELY = "unlikely", _("Unlikely")
    POSSIBLE = "possible", _("Possible")
    PROBABLE = "probable", _("Probable")
    DEFINITE = "definite", _("Definite")


class Expectedness(models.TextChoices):
    """Protocol, Safety reporting: expectedness against the Reference Safety Information."""

    EXPECTED = "expected", _("Expected (listed in the RSI)")
    UNEXPECTED = "unexpected", _("Unexpected")


class AdverseEventOutcome(models.TextChoices):
    """Protocol, SAE form: outcome of the adverse event (recovered, recovering, not recovered,
    recovered with sequelae, fatal, unknown)."""

    RECOVERED = "recovered", _("Recovered")
    RECOVERING = "recovering", _("Recovering")
    NOT_RECOVERED = "not_recovered", _("Not recovered")
    SEQUELAE = "sequelae", _("Recovered with sequelae")
    FATAL = "fatal", _("Fatal")
    UNKNOWN = "unknown", _("Unknown")
