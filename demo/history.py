"""Demo history: a year and two months of simulated recruitment and follow-up before today.

Without it every demo patient is randomised "today", and the recruitment chart, the forecast, the
overdue lists and the reminders show a trial on its first day. The history is built by the same
simulation as ``simulate_trial`` (demo.simulation), from a fixed seed, at the sites already open.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from demo.randomisation import RANDOMISED, design_seed
from demo.safety import rsi_seed
from randomisation.models import Allocation

from .simulation import simulate_trial

HISTORY_PATIENTS = 36
HISTORY_MONTHS = 14
HISTORY_SEED = 2026


def seed(*, stdout, patients: int = HISTORY_PATIENTS) -> None:
    if patients <= 0 or Allocation.objects.exclude(patient__trial_number__in=RANDOMISED).exists():
        return
    start = timezone.localdate() - dt.timedelta(days=round(HISTORY_MONTHS * 30.44))
    design_seed()
    rsi_seed(effective_date=start - dt.timedelta(days=90))
    counts = simulate_trial(patients_n=patients, seed=HISTORY_SEED, start=start)
    stdout.write(f"  {counts['randomised']} patients of simulated history since {start:%b %Y}")
