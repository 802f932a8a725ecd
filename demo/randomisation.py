"""Demo randomisation: a permuted-block design with a generated list, and some patients randomised."""

from accounts.models import User
from patients.models import Patient
from patients.selectors import randomisation_timing
from randomisation import services
from randomisation.models import Allocation

DEMO_SEED = "6e656c6d61732d64656d6f2d6c6973742d736565642d32303236"  # recorded so the list can be verified
# The curated demo patients randomised today, after the simulated history (demo.history) was.
RANDOMISED = ("NEL-GB01-001", "NEL-GB01-002", "NEL-NL01-001")


def design_seed() -> None:
    """The demo design and its generated list (idempotent)."""
    if services.active_config() is None:
        stats = User.objects.get(username="stats")
        services.config_save(
            actor=stats,
            data={"method": "blocks", "factors": list(services.DEFAULT_FACTORS), "block_sizes": [2, 4], "target": 90},
        )
        services.list_generate(actor=stats, seed=DEMO_SEED)


def seed(*, stdout) -> None:
    design_seed()
    if Allocation.objects.filter(patient__trial_number__in=RANDOMISED).exists():
        return
    for trial_number in RANDOMISED:
        patient = Patient.objects.filter(trial_number=trial_number, status=Patient.Status.ELIGIBLE).first()
        if patient is not None:
            nurse = User.objects.get(username=f"nurse.{patient.site.code.lower()}")
            # A demo patient past 10 weeks shows how the late randomisation's deviation is recorded.
            late = randomisation_timing(patient).deviation
            services.patient_randomise(
                patient=patient, actor=nurse, late_reason="Patient took longer to decide" if late else ""
            )
    stdout.write(f"  {Allocation.objects.count()} demo patients randomised")
