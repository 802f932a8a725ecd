import datetime as dt

from django.utils import timezone

from crf.services import visits_schedule_create
from patients.models import Patient
from tests.patients.factories import EligiblePatientFactory


def scheduled_patient(site, *, arm="B", resection_days_ago=70, randomised_days_ago=30, **fields) -> Patient:
    """A randomised patient of ``arm`` with their visits (as the randomisation signal creates them)."""
    today = timezone.localdate()
    patient = EligiblePatientFactory(
        site=site,
        status=Patient.Status.RANDOMISED,
        liver_resection_date=today - dt.timedelta(days=resection_days_ago),
        primary_resection_date=today - dt.timedelta(days=resection_days_ago),
        **fields,
    )
    visits_schedule_create(
        patient=patient, arm=arm, randomised_on=today - dt.timedelta(days=randomised_days_ago), actor=None
    )
    return patient
