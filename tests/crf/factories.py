import datetime as dt

from django.utils import timezone

from crf.services import visits_schedule_create
from patients.models import Consent, ConsentDocument, Patient
from tests.patients.factories import ConsentDocumentFactory, EligiblePatientFactory


def scheduled_patient(
    site, *, arm="B", resection_days_ago=70, randomised_days_ago=30, sample_consent=True, **fields
) -> Patient:
    """A randomised patient of ``arm`` with their visits (as the randomisation signal creates them).

    Consented (with the optional sample consent unless ``sample_consent=False``: biomarker samples
    are expected only with it, protocol CRF 13).
    """
    today = timezone.localdate()
    patient = EligiblePatientFactory(
        site=site,
        status=Patient.Status.RANDOMISED,
        liver_resection_date=today - dt.timedelta(days=resection_days_ago),
        primary_resection_date=today - dt.timedelta(days=resection_days_ago),
        **fields,
    )
    document = ConsentDocument.objects.order_by("pk").first() or ConsentDocumentFactory()
    Consent.objects.create(
        patient=patient,
        document=document,
        # Dated early: tests written before patients had a consent use fixed event dates (e.g. an AE
        # onset in mid-2026) that a realistic consent date would put before consent.
        consented_at=dt.datetime(2020, 1, 1, 12, 0, tzinfo=dt.UTC),
        taken_by=site.pi,
        samples_biobank=sample_consent,
    )
    visits_schedule_create(
        patient=patient, arm=arm, randomised_on=today - dt.timedelta(days=randomised_days_ago), actor=None
    )
    return patient
