"""SAS, SPSS and Stata files a statistician can use as they come: dates as dates, datetimes with
formats, value labels, the 8-character XPT names mapped in the data dictionary, XPT v5's 200-byte
character limit (SAS Technical Support TS-140, "The record layout of a data set in SAS transport
(XPORT) format": names of 8 characters, character values of at most 200 bytes)."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pandas as pd
import pyreadstat
import pytest
from django.utils import timezone

from crf import services as crf
from crf.models import ConcomitantMedication, Demographics
from reports.dataset import export_dataset
from tests.crf.factories import scheduled_patient

pytestmark = [pytest.mark.django_db, pytest.mark.requirement("URS-EXP-002")]


@pytest.fixture
def exported(world, tmp_path):
    patient = scheduled_patient(world.site_a, sex="F")
    crf.crf_save(
        model=Demographics, visit=patient.visits.get(code="RAND"), data={"height_cm": Decimal(170)}, actor=world.nurse_a
    )
    crf.crf_save(
        model=ConcomitantMedication,
        visit=patient.visits.get(code="LOG"),
        data={"drug": "Ondansetron " + "é" * 105, "start_date": timezone.localdate() - dt.timedelta(days=3)},
        actor=world.nurse_a,
    )
    export_dataset(formats=["csv", "xpt", "sav", "dta"], out=tmp_path, allow_unlocked=True)
    return patient, tmp_path


def test_dates_are_dates_and_codes_carry_value_labels_in_spss_and_stata(exported):
    patient, out = exported
    for reader, suffix in ((pyreadstat.read_sav, "sav"), (pyreadstat.read_dta, "dta")):
        frame, meta = reader(str(out / f"NOT-LOCKED-patients.{suffix}"))
        assert frame["liver_resection_date"].iloc[0] == patient.liver_resection_date, suffix
        assert meta.variable_value_labels["sex"]["F" if suffix == "sav" else 1] == "Female", suffix
        frame, meta = reader(str(out / f"NOT-LOCKED-con_med.{suffix}"))
        assert frame["start_date"].iloc[0] == timezone.localdate() - dt.timedelta(days=3)
    frame, meta = pyreadstat.read_sav(str(out / "NOT-LOCKED-subjects.sav"))
    # One labelling of the arms (randomisation.codelists.Arm; protocol, Design: "Arm A — best supportive care").
    assert meta.variable_value_labels["arm"] == {"A": "A — best supportive care", "B": "B — Lutathera"}
    assert meta.variable_value_labels["data_use_withdrawn"] == {0: "No", 1: "Yes"}


def test_xpt_dates_have_sas_formats_names_are_mapped_and_long_text_is_cut_at_200_bytes(exported):
    patient, out = exported
    frame, meta = pyreadstat.read_xport(str(out / "NOT-LOCKED-patients.xpt"))
    assert meta.original_variable_types["LIVERRES"] == "DATE9"
    assert frame["LIVERRES"].iloc[0] == patient.liver_resection_date
    assert meta.original_variable_types["RANDOMIS"] == "DATETIME20"
    frame, _meta = pyreadstat.read_xport(str(out / "NOT-LOCKED-conmed.xpt"))
    assert len(frame["DRUG"].iloc[0].encode("utf-8")) <= 200
    assert frame["DRUG"].iloc[0].startswith("Ondansetron é")
    # The CSV keeps the full text.
    assert "é" * 105 in (out / "NOT-LOCKED-con_med.csv").read_text()
    dictionary = list(csv.DictReader(io.StringIO((out / "NOT-LOCKED-data_dictionary.csv").read_text())))
    row = next(r for r in dictionary if r["dataset"] == "patients" and r["variable"] == "liver_resection_date")
    assert (row["xpt_dataset"], row["xpt_variable"]) == ("PATIENTS", "LIVERRES")
    row = next(r for r in dictionary if r["dataset"] == "con_med" and r["variable"] == "drug")
    assert "200 bytes" in row["note"]


def test_every_xpt_is_readable_by_pandas_and_empty_ones_by_pyreadstat(exported):
    _patient, out = exported
    files = sorted(out.glob("*.xpt"))
    assert len(files) > 15
    for path in files:
        frame, meta = pyreadstat.read_xport(str(path))
        if meta.number_rows:
            assert len(pd.read_sas(str(path), format="xport", encoding="utf-8")) == meta.number_rows, path.name
        else:
            assert len(frame) == 0 and list(frame.columns), path.name
            # pandas.read_sas raises StopIteration for any XPT without observations (pandas'
            # XportReader.read, by design); its reader still opens the file and names its columns.
            with pd.read_sas(str(path), format="xport", encoding="utf-8", iterator=True) as reader:
                assert (reader.nobs, list(reader.columns)) == (0, list(frame.columns)), path.name


def test_visits_forms_not_done_withdrawals_and_consents_are_exported(world, tmp_path):
    """protocol.md "Analysis datasets": every form's status and every kind of missing value is
    distinguishable; withdrawal level and date and the optional consents are exported."""
    from patients import services as patients
    from patients.models import Consent
    from tests.patients.factories import ConsentDocumentFactory

    patient = scheduled_patient(world.site_a)
    Consent.objects.create(
        patient=patient,
        document=ConsentDocumentFactory(),
        consented_at=timezone.now() - dt.timedelta(days=80),
        taken_by=world.nurse_a,
        tissue=True,
        samples_biobank=True,  # the biomarker sample stays expected (protocol CRF 13)
    )
    fu03, fu06 = patient.visits.get(code="FU03"), patient.visits.get(code="FU06")
    crf.visit_mark_done(visit=fu03, day=timezone.localdate(), actor=world.nurse_a)
    crf.visit_mark_missed(visit=fu06, reason="Patient in hospital", actor=world.nurse_a)
    crf.crf_mark_not_done(visit=fu03, form_code="biomarker_sample", reason="Kit not available", actor=world.nurse_a)
    patients.patient_withdraw(
        actor=world.nurse_a,
        patient=patient,
        data={"withdrawn_on": timezone.localdate(), "initiated_by": "patient", "level": "follow_up", "reason": "Moved"},
    )
    export_dataset(formats=["csv"], out=tmp_path, allow_unlocked=True)

    def rows(name):
        return list(csv.DictReader(io.StringIO((tmp_path / f"NOT-LOCKED-{name}.csv").read_text())))

    visits = {r["visit"]: r for r in rows("visits") if r["trial_number"] == patient.trial_number}
    assert visits["FU03"]["visit_status"] == "done" and visits["FU03"]["done_on"] == timezone.localdate().isoformat()
    assert (visits["FU06"]["visit_status"], visits["FU06"]["missed_reason"]) == ("missed", "Patient in hospital")
    # Due after the follow-up withdrawal (protocol CRF 2: no more visits): not applicable, not "not entered".
    assert (visits["FU09"]["visit_status"], visits["FU09"]["not_applicable_why"]) == ("not_applicable", "withdrawal")
    assert visits["FU09"]["window_end"]
    assert rows("forms_not_done") == [
        {
            "trial_number": patient.trial_number,
            "visit": "FU03",
            "form": "biomarker_sample",
            "reason": "Kit not available",
        }
    ]
    (withdrawal,) = rows("withdrawals")
    assert (withdrawal["level"], withdrawal["withdrawn_on"]) == ("follow_up", timezone.localdate().isoformat())
    # The factory's patient consented once already (2020, no tissue); this test's re-consent adds tissue.
    (consent,) = [r for r in rows("consents") if r["tissue"] == "1"]
    assert (consent["trial_number"], consent["tissue"], consent["taken_by"]) == (
        patient.trial_number,
        "1",
        world.nurse_a.username,
    )
    assert {"samples_biobank", "tissue", "future_research", "gp_letter"} <= set(rows("consents")[0])
