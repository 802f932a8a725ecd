"""The SDV plan as data (crf/sdv_plan.py, issue 26): which forms and fields the monitor verifies,
read by the SDV queue, the data manager's forms to lock and the monitor's form view.

Vectors by hand from the plan's rule (ICH E6(R3) 3.11.4, risk-proportionate monitoring): the
primary endpoint forms in full, the dosing-relevant laboratory values and the weight targeted,
other forms for a sample of patients: site sequence 1, 6, 11 … (1 + 5k).
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from crf import sdv_plan
from crf import services as crf
from crf.models import Demographics, MedicalHistory
from crf.registry import FORMS
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db
QUEUE = reverse("reports:sdv_queue")


@pytest.mark.parametrize(
    ("sequence", "sampled"), [(1, True), (2, False), (5, False), (6, True), (11, True), (12, False)]
)
def test_the_sample_is_each_sites_first_patient_and_every_fifth_after(sequence, sampled):
    assert sdv_plan.sampled(sequence) is sampled


def test_what_each_level_asks_of_a_form():
    every = ["a", "b"]
    assert sdv_plan.fields_to_verify("recurrence", 2, every) == every  # full: every patient
    assert sdv_plan.fields_to_verify("demographics", 2, every) == ["height_cm", "weight_kg"]  # targeted
    assert sdv_plan.fields_to_verify("medical_history", 2, every) == []  # sampled, not in the sample
    assert sdv_plan.fields_to_verify("medical_history", 6, every) == every
    assert sdv_plan.plan_for("a_form_added_later").level == sdv_plan.SdvLevel.SAMPLE  # the safer default


def test_the_plan_covers_every_form_and_names_only_fields_that_exist():
    assert set(sdv_plan.PLAN) == set(FORMS)
    for code, entry in sdv_plan.PLAN.items():
        assert entry.level in sdv_plan.SdvLevel.values, code
        assert set(entry.fields) <= set(FORMS[code].data_field_names()), code
        assert bool(entry.fields) == (entry.level == sdv_plan.SdvLevel.TARGETED), code


def _complete_history(site, nurse, sequence):
    patient = scheduled_patient(site, site_sequence=sequence)
    data = {
        "diagnosis_date": dt.date(2020, 5, 1),
        "functional_syndrome": "none",
        "men1": False,
        "carcinoid_heart_disease": False,
        "prior_ssa": False,
    }
    form = crf.crf_save(model=MedicalHistory, visit=patient.visits.get(code="RAND"), data=data, actor=nurse)
    return crf.crf_mark_complete(form=form, actor=nurse)


def test_a_sampled_form_outside_the_sample_skips_the_queue_and_may_be_locked(client, world):
    in_sample = _complete_history(world.site_a, world.nurse_a, 101)  # 1 + 5 × 20
    outside = _complete_history(world.site_a, world.nurse_a, 102)
    client.force_login(world.data_manager)

    def listed(kind):
        return {(r.form_code, r.form_id) for r in client.get(QUEUE, {"kind": kind}).context["rows"]}

    assert listed("awaiting") == {("medical_history", in_sample.pk)}
    assert listed("lockable") == {("medical_history", outside.pk)}
    crf.crf_verify(form=in_sample, actor=world.monitor)
    assert listed("lockable") == {("medical_history", outside.pk), ("medical_history", in_sample.pk)}


def test_the_monitor_sees_the_fields_to_verify_and_the_nurse_does_not(client, world):
    patient = scheduled_patient(world.site_a)
    form = crf.crf_save(
        model=Demographics,
        visit=patient.visits.get(code="RAND"),
        data={"ethnicity": "white", "height_cm": Decimal("170"), "weight_kg": Decimal("70")},
        actor=world.nurse_a,
    )
    crf.crf_mark_complete(form=form, actor=world.nurse_a)
    url = reverse("crf:form", args=[patient.trial_number, "RAND", "demographics"])
    client.force_login(world.monitor)
    page = client.get(url)
    assert page.context["sdv_fields"] == {"height_cm", "weight_kg"}
    assert page.content.decode().count('sdv-target"') == 2  # weight and height, not ethnicity
    assert "verify 2 fields of this form" in page.content.decode()
    client.force_login(world.nurse_a)
    page = client.get(url)
    assert page.context["sdv_fields"] == set() and "sdv-target" not in page.content.decode()


@pytest.mark.parametrize(("role", "status"), [("trial_manager", 200), ("monitor", 200), ("nurse_a", 403)])
def test_the_plan_page_shows_the_plan_to_the_trial_manager_and_monitor(client, world, role, status):
    client.force_login(getattr(world, role))
    response = client.get(reverse("crf:sdv_plan"))
    assert response.status_code == status
    if status == 200:
        body = response.content.decode()
        assert "Targeted fields" in body and "Weight" in body and "Recurrence" in body


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
