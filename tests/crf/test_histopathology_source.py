"""Protocol, Stratification: the factors come from source data. The histopathology CRF records
again what eligibility recorded (primary site, Ki-67, mitoses); a CRF that differs raises a query
on the field rather than leaving two answers that silently disagree."""

import pytest

from crf import services as crf
from crf.models import Histopathology, Query
from patients import services as patients
from tests.crf.factories import scheduled_patient
from tests.patients.factories import eligible_answers

pytestmark = pytest.mark.django_db


def test_a_histopathology_crf_differing_from_eligibility_raises_queries(world):
    patient = scheduled_patient(world.site_a)
    patients.eligibility_save(actor=world.nurse_a, patient=patient, data=eligible_answers(patient))
    rand = patient.visits.get(code="RAND")
    # eligible_answers: pancreas, Ki-67 5.0 %, mitoses 1.0
    crf.crf_save(
        model=Histopathology,
        visit=rand,
        data={"primary_site": "jejunum_ileum", "ki67_percent": 8, "mitoses_per_2mm2": 1},
        actor=world.nurse_a,
    )
    fields = set(Query.objects.filter(patient=patient, form_code="histopathology").values_list("field", flat=True))
    assert {"primary_site", "ki67_percent"} <= fields and "mitoses_per_2mm2" not in fields
