"""The nurse types a laboratory panel: the CTCAE v5.0 grade and the derived creatinine clearance
appear beside the values as they are typed, and equal what is stored when the form is saved.

Vectors from the CTCAE v5.0 table (protocol CRF 9): platelets 60 ×10⁹/L is grade 2 (< 75–50);
bilirubin 3.5 mg/dL = 59.9 µmol/L, with ULN 21 µmol/L > 1.5 × ULN and ≤ 3 × ULN, is grade 2.
Cockcroft–Gault: woman born 1960, 70 kg, creatinine 80 µmol/L on a sample of this year:
(140 − age) × 70 × 0.85 / (0.815 × 80), age = this year − 1960 (older bound).
"""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone

from crf import services
from crf.models import Demographics, Laboratory
from tests.crf.factories import scheduled_patient

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_grade_shown_while_typing_equals_the_stored_grade(page, live_server, world, login, shots, assert_accessible):
    patient = scheduled_patient(world.site_a)  # woman born 1960 (tests/patients/factories.py)
    services.crf_save(
        model=Demographics,
        visit=patient.visits.get(code="RAND"),
        data={"ethnicity": "white", "height_cm": Decimal(165), "weight_kg": Decimal(70)},
        actor=world.nurse_a,
    )
    login(page, world.nurse_a)
    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/C1/laboratory/")
    page.fill("#id_sample_date", timezone.localdate().isoformat())

    page.fill("#id_platelets", "60")
    page.wait_for_function("document.querySelector('[data-derived-for=platelets]').textContent === 'G2'")
    page.fill("#id_bilirubin", "3.5")
    page.select_option("#id_bilirubin_unit", "mg/dL")
    page.wait_for_function("document.querySelector('[data-derived-for=bilirubin]').textContent === 'G2'")
    page.fill("#id_creatinine", "80")
    age = timezone.localdate().year - 1960
    clearance = ((140 - age) * Decimal(70) * Decimal("0.85") / (Decimal("0.815") * 80)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    page.wait_for_function(
        "(t) => document.querySelector('[data-derived-for=creatinine_clearance]').textContent === t",
        arg=f"{clearance} mL/min",
    )
    shown = {key: page.inner_text(f"[data-derived-for={key}]") for key in ("platelets", "bilirubin", "creatinine")}
    assert_accessible(page)
    shots(page, "laboratory-typing")

    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/C1/laboratory/")
    stored = Laboratory.objects.get(patient=patient)
    assert shown["platelets"] == f"G{stored.platelets_grade}" == "G2"
    assert shown["bilirubin"] == f"G{stored.bilirubin_grade}" == "G2"
    assert shown["creatinine"] == f"G{stored.creatinine_grade}"
    assert stored.creatinine_clearance == clearance and stored.bilirubin_si == Decimal("59.9")
    # After the save the page shows the stored grades beside the values.
    assert page.inner_text("[data-derived-for=platelets]") == "G2"
    shots(page, "laboratory-saved")
