import pytest
from django.utils import timezone

from patients.models import Consent
from randomisation import services
from tests.patients.factories import ConsentDocumentFactory, EligiblePatientFactory


@pytest.fixture
def blocks_design(world):
    config = services.config_save(
        actor=world.statistician,
        data={"method": "blocks", "factors": list(services.DEFAULT_FACTORS), "block_sizes": [2, 4], "target": 90},
    )
    services.list_generate(actor=world.statistician, seed="ab" * 32)
    return config


@pytest.fixture
def make_patient(world):
    document = ConsentDocumentFactory()

    def make(site=None, **factors):
        patient = EligiblePatientFactory(site=site or world.site_a, **factors)
        Consent.objects.create(patient=patient, document=document, consented_at=timezone.now(), taken_by=world.nurse_a)
        return patient

    return make
