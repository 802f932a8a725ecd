"""The casebook PDF shows each laboratory value with its stored CTCAE v5.0 grade beside it (issue 23:
"shown beside the value … in the casebook PDF"), read back from the PDF's text with pypdf.

Expected grades by hand from CTCAE v5.0 (protocol CRF 9 table), form limits by default: platelets
60 ×10⁹/L: < 75–50 → G2; haemoglobin 95 g/L: < 100–80 → G2; bilirubin 3.5 mg/dL × 17.1 = 59.85 µmol/L,
ULN 21: 59.85 / 21 = 2.85 × ULN, > 1.5–3 × ULN → G2 (arm A baseline visit: the baseline-normal row);
albumin 42 g/L ≥ LLN 35 → G0.
"""

import io
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from pypdf import PdfReader

from crf import services
from crf.backfill import derived_values_backfill
from crf.models import Laboratory
from reports.casebook import build_casebook
from tests.crf.factories import scheduled_patient
from tests.crf.test_casebook import _legacy_sign_off, _with_pre_0008_panel, finished  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def test_casebook_shows_the_stored_grade_beside_each_laboratory_value(world):
    patient = scheduled_patient(world.site_a, arm="A")
    lab = services.crf_save(
        model=Laboratory,
        visit=patient.visits.get(code="RAND"),
        data={
            "sample_date": timezone.localdate(),
            "platelets": Decimal(60),
            "haemoglobin": Decimal(95),
            "bilirubin": Decimal("3.5"),
            "bilirubin_unit": "mg/dL",
            "albumin": Decimal(42),
        },
        actor=world.nurse_a,
    )
    assert (lab.platelets_grade, lab.haemoglobin_grade, lab.bilirubin_grade, lab.albumin_grade) == (2, 2, 2, 0)

    built = build_casebook(patient.trial_number, lambda p: None)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(built.pdf.content)).pages)
    flat = re.sub(r"\s+", " ", text)
    # The value and its grade in one cell, on the row of the value.
    assert re.search(r"Platelets 60 ×10\S*/L · CTCAE v5\.0 G2", flat), flat
    assert re.search(r"Haemoglobin 95\.0 g/L or g/dL · CTCAE v5\.0 G2", flat), flat
    assert re.search(r"Bilirubin 3\.5 µmol/L or mg/dL · CTCAE v5\.0 G2", flat), flat
    assert "Albumin 42.0 g/L or g/dL · CTCAE v5.0 G0" in flat
    # The grade shown is the stored one: change it behind the form's back and the PDF follows.
    Laboratory.objects.filter(pk=lab.pk).update(platelets_grade=3)
    again = build_casebook(patient.trial_number, lambda p: None)
    flat = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(again.pdf.content)).pages))
    assert re.search(r"Platelets 60 ×10\S*/L · CTCAE v5\.0 G3", flat), flat


def test_the_casebook_pdf_says_which_derived_values_a_legacy_sign_off_does_not_cover(world, finished):  # noqa: F811
    """Issue 23 decision (21 CFR 11.50): the signed record shows what was signed. A sign-off from
    before crf 0008 added the grades stays valid after the backfill, and the PDF names the grade it
    does not cover."""
    _with_pre_0008_panel(finished, world.nurse_a)
    _legacy_sign_off(finished, world.pi_a)
    derived_values_backfill()  # platelets 60 ×10⁹/L → G2
    built = build_casebook(finished.trial_number, lambda p: None)
    flat = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(built.pdf.content)).pages))
    assert "SIGNATURE INVALIDATED" not in flat
    assert (
        "CTCAE v5 grade: Platelet count decreased: 2 (derived after signing, not covered by the signature)" in flat
    ), flat
