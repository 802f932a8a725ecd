"""Demo safety data: the RSI in force, AEs, an SAE awaiting the PI and one overdue."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from accounts.models import User
from demo.randomisation import RANDOMISED
from patients.models import Patient
from safety import services
from safety.models import AdverseEvent, ReferenceSafetyInformation


def rsi_seed(*, effective_date: dt.date) -> None:
    """The demo's RSI (SmPC 4.8), in force from ``effective_date``, unless an RSI exists."""
    if not ReferenceSafetyInformation.objects.exists():
        services.rsi_add(
            actor=User.objects.get(username="tm"),
            data={
                "version": "2024-06",
                "document": "Lutathera SmPC section 4.8",
                "effective_date": effective_date,
                "expected_terms": "Nausea\nVomiting\nFatigue\nThrombocytopenia\nLymphopenia\nAnaemia\n"
                "Neutropenia\nAbdominal pain\nAlopecia\nRenal impairment",
            },
        )


def seed(*, stdout) -> None:
    # The curated patients only: the simulated history (demo.history) has its own events.
    curated = Patient.objects.filter(trial_number__in=RANDOMISED, allocation__isnull=False)
    if AdverseEvent.objects.filter(patient__in=curated).exists():
        return
    today = timezone.localdate()
    rsi_seed(effective_date=today - dt.timedelta(days=500))
    base = {
        "stop_date": None,
        "ongoing": True,
        "causality_amino_acids": "unrelated",
        "causality_procedures": "unrelated",
        "outcome": "recovering",
    }
    for patient in curated.order_by("trial_number"):
        nurse = User.objects.get(username=f"nurse.{patient.site.code.lower()}")
        arm = patient.allocation.arm
        services.ae_save(
            patient=patient,
            actor=nurse,
            data=base
            | {
                "term": "Nausea",
                "grade": 1,
                "onset_date": today - dt.timedelta(days=1),
                "causality_lutathera": "probable" if arm == "B" else "unrelated",
                "action_taken": "none" if arm == "B" else "not_applicable",
            },
        )
    first = curated.order_by("trial_number").first()
    if first is not None:
        nurse = User.objects.get(username=f"nurse.{first.site.code.lower()}")
        ae = services.ae_save(
            patient=first,
            actor=nurse,
            data=base
            | {
                "term": "Small bowel obstruction",
                "grade": 3,
                "onset_date": today - dt.timedelta(days=2),
                "serious": True,
                "criterion_hospitalisation": True,
                "aware_at": timezone.now() - dt.timedelta(hours=30),
                "causality_lutathera": "unlikely",
                "action_taken": "not_applicable" if first.allocation.arm == "A" else "delayed",
            },
        )
        report = ae.sae_reports.get()
        services.sae_update(
            report=report,
            actor=nurse,
            data={
                "admission_date": today - dt.timedelta(days=2),
                "narrative": "Admitted with colicky abdominal pain and vomiting; CT showed adhesional "
                "small bowel obstruction. Managed conservatively with a nasogastric tube.",
                "treatment": "IV fluids, nasogastric decompression",
                "outcome": "recovering",
            },
        )
    stdout.write(f"  {AdverseEvent.objects.count()} adverse events, RSI {ReferenceSafetyInformation.in_force()}")
