"""A dose-limiting toxicity that recurs after the reduced 3,700 MBq dose flags permanent
discontinuation (Lutathera SmPC 4.2 / US label 2.4; protocol CRF 9: "A held dose may be given within
16 weeks at the reduced 3,700 MBq once resolved to grade ≤ 1 …; a dose-limiting toxicity that recurs
at the reduced dose means permanent discontinuation").

Platelets by CTCAE v5.0 (protocol CRF 9 table, LLN 150): 60 ×10⁹/L is < 75–50 → grade 2, a dose-hold
(thrombocytopenia grade 2–4); 120 is < LLN–75 → grade 1, resolved.
"""

import datetime as dt
from decimal import Decimal

import pytest

from crf.models import Laboratory, LutatheraDosing, Query
from tests.crf.factories import scheduled_patient
from tests.crf.test_labs_dosing import days_ago, lab, save, weigh

pytestmark = pytest.mark.django_db

D = Decimal
DISCONTINUED = "Lutathera is discontinued permanently (label)"


def _dose(day, level, activity):
    return {
        "dose_date": day,
        "dose_level": level,
        "batch_id": "LU-1",
        "administered_activity_mbq": D(activity),
        "infusion_start": dt.time(11, 0),
        "infusion_stop": dt.time(11, 30),
        "infusion_reaction": False,
    }


def _after_cycle_2(world, c2_level):
    """Arm B: normal bloods and a full cycle 1; cycle 2 held for grade 2 thrombocytopenia, resolved to
    grade 1, then given at ``c2_level`` 105 days (15 weeks, within 16) after cycle 1."""
    patient = scheduled_patient(world.site_a, arm="B", resection_days_ago=210, randomised_days_ago=175, sex="F")
    weigh(patient, world.nurse_a, "70")
    save(Laboratory, patient, "C1", lab(days_ago(152), 70), world.nurse_a)
    save(LutatheraDosing, patient, "C1", _dose(days_ago(150), "full", 7400), world.nurse_a)
    held = save(Laboratory, patient, "C2", lab(days_ago(95), 70, platelets=D(60)), world.nurse_a)
    assert held.platelets_grade == 2
    assert Query.objects.filter(form_id=held.pk, form_code="laboratory", text__contains="Thrombocytopenia").exists()
    resolved = save(
        Laboratory,
        patient,
        "C2",
        {"sample_date": days_ago(47), "platelets": D(120)},
        world.nurse_a,
        reason="Repeat count after recovery",
        expected_version=held.version,
    )
    assert resolved.platelets_grade == 1
    activity = 3700 if c2_level == "reduced" else 7400
    save(LutatheraDosing, patient, "C2", _dose(days_ago(45), c2_level, activity), world.nurse_a)
    return patient


def _discontinuation_queries(patient):
    return list(
        Query.objects.filter(patient=patient, form_code="laboratory", text__contains=DISCONTINUED).values_list(
            "text", flat=True
        )
    )


def test_thrombocytopenia_again_after_the_reduced_dose_flags_discontinuation(world):
    patient = _after_cycle_2(world, "reduced")
    safety = save(Laboratory, patient, "SB1", lab(days_ago(17), 70, platelets=D(60)), world.nurse_a)
    assert safety.platelets_grade == 2
    texts = _discontinuation_queries(patient)
    assert len(texts) == 1, texts
    reduced = LutatheraDosing.objects.get(patient=patient, visit__code="C2")
    assert f"after the reduced dose of {reduced.dose_date:%d %b %Y}" in texts[0]
    assert "Thrombocytopenia grade 2" in texts[0]


def test_resolved_bloods_after_the_reduced_dose_flag_nothing(world):
    patient = _after_cycle_2(world, "reduced")
    save(Laboratory, patient, "SB1", lab(days_ago(17), 70, platelets=D(120)), world.nurse_a)
    assert _discontinuation_queries(patient) == []


def test_the_same_bloods_after_a_full_second_dose_do_not_flag_discontinuation(world):
    # Discontinuation is for a toxicity that recurs at the reduced dose; after a full dose there is
    # no reduced dose to recur at.
    patient = _after_cycle_2(world, "full")
    save(Laboratory, patient, "SB1", lab(days_ago(17), 70, platelets=D(60)), world.nurse_a)
    assert _discontinuation_queries(patient) == []
