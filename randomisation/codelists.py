"""The code lists randomisation owns (one ``TextChoices`` per concept; architecture.md, Decisions).

The exports and the data dictionary used to label the arms "Best supportive care" / "Lutathera"
beside the model's "A — best supportive care" / "B — Lutathera": one concept, two labellings. The
protocol (Design: "Arm A — best supportive care", "Arm B — 177Lu-DOTATATE (Lutathera)") names each
arm by its letter and treatment, as the model did, so that labelling is the one kept.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Arm(models.TextChoices):
    """Protocol, Design: randomised 1:1 to arm A or arm B."""

    A = "A", _("A — best supportive care")
    B = "B", _("B — Lutathera")
