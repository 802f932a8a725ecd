import datetime as dt

from django.utils import timezone

from safety import services
from safety.models import ReferenceSafetyInformation
from tests.crf.factories import scheduled_patient


def rsi():
    return ReferenceSafetyInformation.objects.get_or_create(
        version="2024-06",
        defaults={
            "effective_date": timezone.localdate() - dt.timedelta(days=300),
            "expected_terms": "Nausea\nVomiting\nThrombocytopenia\nLymphopenia",
        },
    )[0]


AE = {
    "term": "Febrile neutropenia",
    "grade": 3,
    "onset_date": None,
    "stop_date": None,
    "ongoing": True,
    "serious": True,
    "criterion_hospitalisation": True,
    "causality_lutathera": "possible",
    "causality_amino_acids": "unrelated",
    "causality_procedures": "unrelated",
    "action_taken": "delayed",
    "outcome": "recovering",
}


NOW = object()


def serious_ae(site, nurse, *, aware_at=NOW, **changes):
    patient = scheduled_patient(site)
    patient.consents.update(consented_at=timezone.now() - dt.timedelta(days=60))
    aware_at = timezone.now() if aware_at is NOW else aware_at
    data = AE | {"onset_date": timezone.localdate() - dt.timedelta(days=2), "aware_at": aware_at}
    return services.ae_save(patient=patient, data=data | changes, actor=nurse)
