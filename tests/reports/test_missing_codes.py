"""Missing-data codes at cell level (protocol.md "Analysis datasets": not entered, not done (with
reason), visit missed, not applicable (arm, sex, consent, withdrawal), unknown — distinguishable), read
back with pyreadstat: SPSS user-missing values (a missing range with value labels) and Stata extended
missing values. The codes are this EDC's convention, written here by hand from reports/missing.py's
documented table: not entered -991/.a, not done -992/.b, visit missed -993/.c, not applicable -994/.d,
unknown -995/.e."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pyreadstat
import pytest
from django.utils import timezone

from crf import services as crf
from crf.models import Demographics
from reports.dataset import export_dataset
from tests.crf.factories import scheduled_patient

pytestmark = [pytest.mark.django_db, pytest.mark.requirement("URS-EXP-002")]


@pytest.fixture
def exported(world, tmp_path):
    patient = scheduled_patient(world.site_a)
    crf.crf_save(
        model=Demographics, visit=patient.visits.get(code="RAND"), data={"height_cm": Decimal(170)}, actor=world.nurse_a
    )
    crf.visit_mark_done(visit=patient.visits.get(code="FU03"), day=timezone.localdate(), actor=world.nurse_a)
    crf.visit_mark_missed(visit=patient.visits.get(code="FU06"), reason="Patient in hospital", actor=world.nurse_a)
    export_dataset(formats=["csv", "sav", "dta"], out=tmp_path, allow_unlocked=True)
    return patient, tmp_path


def _by_visit(frame):
    return {row["visit"]: row for _i, row in frame.iterrows()}


def test_spss_holds_visit_missed_and_not_entered_as_labelled_user_missing_values(exported):
    _patient, out = exported
    frame, meta = pyreadstat.read_sav(
        str(out / "NOT-LOCKED-visits.sav"), user_missing=True, disable_datetime_conversion=True
    )
    visits = _by_visit(frame)
    assert visits["FU06"]["done_on"] == -993  # visit missed
    assert visits["FU09"]["done_on"] == -991  # not entered (not done yet, no reason)
    assert meta.missing_ranges["done_on"] == [{"lo": -995.0, "hi": -991.0}]
    assert meta.variable_value_labels["done_on"][-993] == "Visit missed (reason recorded)"
    assert meta.variable_value_labels["done_on"][-991] == "Not entered"
    # Read as a statistician usually does: the date is a date, the codes are missing.
    frame, meta = pyreadstat.read_sav(str(out / "NOT-LOCKED-visits.sav"))
    visits = _by_visit(frame)
    assert visits["FU03"]["done_on"] == timezone.localdate()
    assert visits["FU06"]["done_on"] != visits["FU06"]["done_on"] or visits["FU06"]["done_on"] is None

    frame, meta = pyreadstat.read_sav(str(out / "NOT-LOCKED-demographics.sav"), user_missing=True)
    assert frame["height_cm"].iloc[0] == 170
    assert frame["weight_kg"].iloc[0] == -991  # a field of a saved form left empty: not entered
    assert meta.missing_ranges["weight_kg"] == [{"lo": -995.0, "hi": -991.0}]


def test_stata_holds_the_codes_as_labelled_extended_missing_values(exported):
    _patient, out = exported
    frame, meta = pyreadstat.read_dta(str(out / "NOT-LOCKED-visits.dta"), user_missing=True)
    visits = _by_visit(frame)
    assert (visits["FU06"]["done_on"], visits["FU09"]["done_on"]) == ("c", "a")
    assert visits["FU03"]["done_on"] == timezone.localdate()
    assert set(meta.missing_user_values["done_on"]) == {"a", "c"}  # pyreadstat lists the codes present
    frame, meta = pyreadstat.read_dta(str(out / "NOT-LOCKED-demographics.dta"), user_missing=True)
    assert frame["weight_kg"].iloc[0] == "a"
    assert meta.variable_value_labels["weight_kg"]["a"] == "Not entered"
    # Without asking for them, extended missing values read as plain missing.
    frame, _meta = pyreadstat.read_dta(str(out / "NOT-LOCKED-demographics.dta"))
    assert frame["weight_kg"].iloc[0] != frame["weight_kg"].iloc[0]  # NaN


def test_the_dictionary_lists_the_codes_and_which_a_column_can_carry(exported):
    _patient, out = exported
    codes = list(csv.DictReader(io.StringIO((out / "NOT-LOCKED-missing_codes.csv").read_text())))
    assert [
        (c["code"], c["spss_user_missing"], c["stata_extended_missing"], c["sas_special_missing"]) for c in codes
    ] == [
        ("NE", "-991", ".a", ".A"),
        ("ND", "-992", ".b", ".B"),
        ("VM", "-993", ".c", ".C"),
        ("NA", "-994", ".d", ".D"),
        ("UNK", "-995", ".e", ".E"),
    ]
    dictionary = list(csv.DictReader(io.StringIO((out / "NOT-LOCKED-data_dictionary.csv").read_text())))
    done_on = next(r for r in dictionary if (r["dataset"], r["variable"]) == ("visits", "done_on"))
    assert done_on["missing_codes"] == "VM=visit_missed; NA=not_applicable; NE=not_entered"
    cycle1 = next(r for r in dictionary if (r["dataset"], r["variable"]) == ("subjects", "cycle1_date"))
    assert cycle1["missing_codes"] == "NA=not_applicable; NE=not_entered"
    trial_number = next(r for r in dictionary if (r["dataset"], r["variable"]) == ("visits", "trial_number"))
    assert trial_number["missing_codes"] == ""
    # The CSV keeps an empty cell: R, SAS and Stata read it as missing.
    visits = list(csv.DictReader(io.StringIO((out / "NOT-LOCKED-visits.csv").read_text())))
    assert {r["visit"]: r["done_on"] for r in visits}["FU06"] == ""
    assert dt.date.fromisoformat({r["visit"]: r["done_on"] for r in visits}["FU03"]) == timezone.localdate()
