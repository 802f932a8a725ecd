"""Missing-data codes assigned cell by cell in every format, on a small scripted trial (factories).

Sources, and the vectors written by hand from them:
- protocol.md "Analysis datasets": not entered, not done (with reason), visit missed, not applicable
  (why: arm, sex, consent, withdrawal) and unknown are distinguishable;
- protocol.md "Visit schedule": RAND expects demographics, medical history, histopathology, liver
  resection, laboratory, quality of life and biomarker samples; follow-up month 3 and 6 expect the
  follow-up, laboratory, quality-of-life and biomarker forms; cycle 1 (arm B only) is 8 ± 2 weeks
  after the liver resection and expects laboratory and Lutathera dosing;
- protocol.md CRF 2: withdrawal at the follow-up level stops every further visit; treatment only
  stops Lutathera dosing, follow-up continues;
- protocol.md CRF 13: biomarker samples are expected only while the optional sample consent stands;
  pregnancy questions are not asked of male patients;
- protocol.md "Safety reporting": the SAE/AE outcome list includes "unknown".
The codes of each format are this EDC's convention (reports/missing.py's documented table):
NE -991/.a, ND -992/.b, VM -993/.c, NA -994/.d, UNK -995/.e; ODM: Annotation/Flag from CL.MISSING.

The scripted trial (today = D; liver resection R):
- P1, woman, arm B, R = D-200: RAND done, demographics saved, quality of life recorded not done
  ("Too unwell to complete the questionnaire"), medical history never entered; FU03 missed
  ("Patient in hospital"); an AE whose outcome is unknown.
- P2, man, arm A: no dosing visits at all; cycle dates not applicable (arm); the eligibility question
  "pregnant or breastfeeding" not applicable (sex).
- P3, woman, arm B, R = D-200: FU03 done with ECOG 0; withdrawn at the follow-up level on D-60. FU06
  (R + 6 months ± 14 days: its window closes about D-3, after D-60) and every later visit are not
  applicable (withdrawal); C1 (R + 56 ± 14 days: window closed D-130, before the withdrawal) was due
  while on study and stays not entered (no form rows: nothing recorded).
- P4, woman, arm B, R = D-40, no optional sample consent, RAND done: its biomarker form is not
  applicable (consent); withdrawn from treatment only on D-5: the C1 dosing form (window D+2 … D+30)
  is not applicable (withdrawal), while its C1 laboratory is still expected (no row: not yet due).
- P5, woman, arm B, R = D-200, died on D-30 (end of study form): FU06 (window closes about D-3) and
  later visits are not applicable (death); FU03 (window closed about D-94) stays not entered.
"""

import csv
import datetime as dt
import io

import pyreadstat
import pytest
from django.utils import timezone
from lxml import etree

from crf import services as crf
from crf.models import Demographics, EndOfStudy, FollowUp
from patients import services as patients
from randomisation import services as randomisation
from randomisation.models import Allocation
from reports.dataset import export_dataset
from reports.odm import validate_odm
from safety import services as safety
from tests.crf.factories import scheduled_patient
from tests.safety.factories import AE

pytestmark = [pytest.mark.django_db, pytest.mark.requirement("URS-EXP-002")]

NS = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
QOL_NOT_DONE = "Too unwell to complete the questionnaire"
MISSED = "Patient in hospital"


def _allocate(patient, arm, config, world, days_ago):
    Allocation.objects.create(
        patient=patient,
        arm=arm,
        randomised_at=timezone.now() - dt.timedelta(days=days_ago),
        randomised_by=world.nurse_a,
        stratum="pancreas|G1|R0",
        config=config,
    )


@pytest.fixture
def trial(world, tmp_path):
    today = timezone.localdate()
    config = randomisation.config_save(
        actor=world.statistician,
        data={"method": "blocks", "factors": list(randomisation.DEFAULT_FACTORS), "block_sizes": [2, 4], "target": 90},
    )
    nurse = world.nurse_a

    p1 = scheduled_patient(world.site_a, arm="B", sex="F", resection_days_ago=200, randomised_days_ago=150)
    _allocate(p1, "B", config, world, 150)
    rand = p1.visits.get(code="RAND")
    crf.visit_mark_done(visit=rand, day=today - dt.timedelta(days=150), actor=nurse)
    crf.crf_save(model=Demographics, visit=rand, data={"height_cm": 170}, actor=nurse)
    crf.crf_mark_not_done(visit=rand, form_code="quality_of_life", reason=QOL_NOT_DONE, actor=nurse)
    crf.visit_mark_missed(visit=p1.visits.get(code="FU03"), reason=MISSED, actor=nurse)
    p1.consents.update(consented_at=timezone.now() - dt.timedelta(days=160))
    ae = AE | {
        "onset_date": today - dt.timedelta(days=20),
        "aware_at": timezone.now() - dt.timedelta(days=19),
        "serious": False,
        "criterion_hospitalisation": False,
        "outcome": "unknown",
    }
    safety.ae_save(patient=p1, data=ae, actor=nurse)

    p2 = scheduled_patient(world.site_a, arm="A", sex="M", resection_days_ago=200, randomised_days_ago=150)
    _allocate(p2, "A", config, world, 150)
    patients.eligibility_save(actor=world.pi_a, patient=p2, data={"assessed_on": today - dt.timedelta(days=160)})

    p3 = scheduled_patient(world.site_a, arm="B", sex="F", resection_days_ago=200, randomised_days_ago=150)
    _allocate(p3, "B", config, world, 150)
    fu03 = p3.visits.get(code="FU03")
    crf.visit_mark_done(visit=fu03, day=today - dt.timedelta(days=108), actor=nurse)
    crf.crf_save(
        model=FollowUp, visit=fu03, data={"visit_date": today - dt.timedelta(days=108), "ecog": 0}, actor=nurse
    )
    withdrawn_on = today - dt.timedelta(days=60)
    patients.patient_withdraw(
        actor=nurse,
        patient=p3,
        data={"withdrawn_on": withdrawn_on, "initiated_by": "patient", "level": "follow_up", "reason": "Moving away"},
    )

    p4 = scheduled_patient(
        world.site_a, arm="B", sex="F", resection_days_ago=40, randomised_days_ago=10, sample_consent=False
    )
    _allocate(p4, "B", config, world, 10)
    crf.visit_mark_done(visit=p4.visits.get(code="RAND"), day=today - dt.timedelta(days=10), actor=nurse)
    treatment_stop = today - dt.timedelta(days=5)
    patients.patient_withdraw(
        actor=nurse,
        patient=p4,
        data={"withdrawn_on": treatment_stop, "initiated_by": "patient", "level": "treatment", "reason": "Declines"},
    )

    p5 = scheduled_patient(world.site_a, arm="B", sex="F", resection_days_ago=200, randomised_days_ago=150)
    _allocate(p5, "B", config, world, 150)
    died_on = today - dt.timedelta(days=30)
    crf.crf_save(
        model=EndOfStudy,
        visit=p5.visits.get(code="FU36"),
        data={
            "end_date": died_on,
            "reason": "death",
            "death_date": died_on,
            "death_cause": "NET",
            "death_relation": "net",
        },
        actor=nurse,
    )

    export_dataset(formats=["csv", "odm", "sav", "dta"], out=tmp_path, allow_unlocked=True)
    return {
        "out": tmp_path,
        "p1": p1.trial_number,
        "p2": p2.trial_number,
        "p3": p3.trial_number,
        "p4": p4.trial_number,
        "p5": p5.trial_number,
        "died_on": died_on,
        "withdrawn_on": withdrawn_on,
        "treatment_stop": treatment_stop,
    }


def _csv(out, name):
    return list(csv.DictReader(io.StringIO((out / f"NOT-LOCKED-{name}.csv").read_text())))


def _rows(rows, trial_number, visit):
    return [r for r in rows if r["trial_number"] == trial_number and r["visit"] == visit]


def _one(rows, trial_number, visit):
    found = _rows(rows, trial_number, visit)
    assert len(found) == 1, (trial_number, visit, found)
    return found[0]


def _sav(out, name, **options):
    frame, meta = pyreadstat.read_sav(
        str(out / f"NOT-LOCKED-{name}.sav"), user_missing=True, disable_datetime_conversion=True, **options
    )
    return frame, meta


def _dta(out, name):
    return pyreadstat.read_dta(str(out / f"NOT-LOCKED-{name}.dta"), user_missing=True)


def _cell(frame, trial_number, visit, column):
    found = frame[(frame["trial_number"] == trial_number) & (frame["visit"] == visit)]
    assert len(found) == 1, (trial_number, visit, len(found))
    return found[column].iloc[0]


# --- a form not done: a row with ND and the reason ------------------------------------------------


def test_a_form_recorded_not_done_is_a_row_with_nd_and_its_reason_in_every_format(trial):
    out, p1 = trial["out"], trial["p1"]
    row = _one(_csv(out, "quality_of_life"), p1, "RAND")
    assert (row["form_status"], row["missing_reason"], row["not_applicable_why"]) == ("not_done", QOL_NOT_DONE, "")
    assert row["completed_on"] == "" and row["q1"] == ""
    frame, meta = _sav(out, "quality_of_life")
    assert _cell(frame, p1, "RAND", "completed_on") == -992
    assert _cell(frame, p1, "RAND", "q1") == -992
    assert meta.variable_value_labels["q1"][-992] == "Not done (reason recorded)"
    frame, meta = _dta(out, "quality_of_life")
    assert _cell(frame, p1, "RAND", "q1") == "b"
    assert _cell(frame, p1, "RAND", "completed_on") == "b"


def test_a_form_never_entered_at_a_done_visit_is_a_row_with_ne(trial):
    out, p1 = trial["out"], trial["p1"]
    row = _one(_csv(out, "medical_history"), p1, "RAND")
    assert (row["form_status"], row["missing_reason"]) == ("not_entered", "")
    frame, _meta = _sav(out, "medical_history")
    assert _cell(frame, p1, "RAND", "diagnosis_date") == -991
    frame, _meta = _dta(out, "medical_history")
    assert _cell(frame, p1, "RAND", "diagnosis_date") == "a"
    # The saved demographics keep their value; the field left empty is not entered.
    frame, _meta = _sav(out, "demographics")
    assert _cell(frame, p1, "RAND", "height_cm") == 170
    assert _cell(frame, p1, "RAND", "weight_kg") == -991


# --- a missed visit: VM in the visits table and on each of its forms ------------------------------


def test_a_missed_visit_codes_vm_in_the_visit_and_each_form_expected_there(trial):
    out, p1 = trial["out"], trial["p1"]
    visit = _one(_csv(out, "visits"), p1, "FU03")
    assert (visit["visit_status"], visit["missed_reason"], visit["done_on"]) == ("missed", MISSED, "")
    for form, field in (("follow_up", "ecog"), ("laboratory", "sample_date"), ("quality_of_life", "q1")):
        row = _one(_csv(out, form), p1, "FU03")
        assert (row["form_status"], row["missing_reason"]) == ("visit_missed", MISSED), form
        frame, _meta = _sav(out, form)
        assert _cell(frame, p1, "FU03", field) == -993, form
        frame, _meta = _dta(out, form)
        assert _cell(frame, p1, "FU03", field) == "c", form


# --- arm A: no dosing (NA: arm) --------------------------------------------------------------------


def test_arm_a_has_no_dosing_rows_and_its_cycle_dates_are_not_applicable_arm(trial):
    out, p2 = trial["out"], trial["p2"]
    assert [r for r in _csv(out, "lutathera_dosing") if r["trial_number"] == p2] == []
    assert [r for r in _csv(out, "visits") if r["trial_number"] == p2 and r["visit"] in ("C1", "C2")] == []
    subjects = {r["trial_number"]: r for r in _csv(out, "subjects")}
    assert (subjects[p2]["arm"], subjects[p2]["cycle1_date"], subjects[p2]["cycle2_date"]) == ("A", "", "")
    frame, _meta = pyreadstat.read_sav(
        str(out / "NOT-LOCKED-subjects.sav"), user_missing=True, disable_datetime_conversion=True
    )
    row = frame[frame["trial_number"] == p2].iloc[0]
    assert (row["cycle1_date"], row["cycle2_date"]) == (-994, -994)
    frame, _meta = _dta(out, "subjects")
    row = frame[frame["trial_number"] == p2].iloc[0]
    assert (row["cycle1_date"], row["cycle2_date"]) == ("d", "d")
    dictionary = {(r["dataset"], r["variable"]): r for r in _csv(out, "data_dictionary")}
    assert "arm A" in dictionary[("subjects", "cycle1_date")]["not_applicable_when"]
    assert "arm A has no dosing visits" in dictionary[("lutathera_dosing", "dose_date")]["not_applicable_when"]


# --- a man: the pregnancy question is not applicable (sex) -----------------------------------------


def test_the_pregnancy_question_of_a_man_is_not_applicable_sex(trial):
    out, p2 = trial["out"], trial["p2"]
    row = next(r for r in _csv(out, "eligibility") if r["trial_number"] == p2)
    assert row["pregnant_or_breastfeeding"] == "NA"
    frame, meta = pyreadstat.read_sav(str(out / "NOT-LOCKED-eligibility.sav"), user_missing=True)
    assert frame[frame["trial_number"] == p2]["pregnant_or_breastfeeding"].iloc[0] == "NA"
    assert meta.missing_ranges["pregnant_or_breastfeeding"] == [{"lo": "NA", "hi": "NA"}]
    # Read as usual, the value is missing, not an answer.
    frame, _meta = pyreadstat.read_sav(str(out / "NOT-LOCKED-eligibility.sav"))
    assert frame[frame["trial_number"] == p2]["pregnant_or_breastfeeding"].isna().iloc[0]
    frame, meta = _dta(out, "eligibility")
    assert frame[frame["trial_number"] == p2]["pregnant_or_breastfeeding"].iloc[0] == "d"
    assert meta.variable_value_labels["pregnant_or_breastfeeding"]["d"].startswith("Not applicable")
    dictionary = {(r["dataset"], r["variable"]): r for r in _csv(out, "data_dictionary")}
    entry = dictionary[("eligibility", "pregnant_or_breastfeeding")]
    assert entry["missing_codes"] == "NA=not_applicable; NE=not_entered"
    assert entry["not_applicable_when"].startswith("sex")


# --- a withdrawn patient: later visits NA (withdrawal), earlier visits keep their data -------------


def test_visits_due_after_a_follow_up_withdrawal_are_not_applicable_and_earlier_data_is_kept(trial):
    out, p3 = trial["out"], trial["p3"]
    visits = _csv(out, "visits")
    later = ["FU06", "FU09", "FU12", "FU18", "FU24", "FU30", "FU36"]
    for code in later:
        visit = _one(visits, p3, code)
        assert (visit["visit_status"], visit["not_applicable_why"], visit["done_on"]) == (
            "not_applicable",
            "withdrawal",
            "",
        ), code
    # Due while the patient was on study (window closed before the withdrawal): not entered, not NA.
    assert _one(visits, p3, "C1")["visit_status"] == "not_done_yet"
    assert _one(visits, p3, "FU03")["visit_status"] == "done"
    follow_up = _csv(out, "follow_up")
    kept = _one(follow_up, p3, "FU03")
    assert (kept["form_status"], kept["ecog"], kept["missing_reason"]) == ("in_progress", "0", "")
    reason = f"follow_up level, withdrawn on {trial['withdrawn_on'].isoformat()}"
    for code in later:
        row = _one(follow_up, p3, code)
        assert (row["form_status"], row["not_applicable_why"], row["missing_reason"]) == (
            "not_applicable",
            "withdrawal",
            reason,
        )
    assert _rows(_csv(out, "lutathera_dosing"), p3, "C1") == []  # C1: nothing recorded, nothing to code
    frame, _meta = _sav(out, "visits")
    assert _cell(frame, p3, "FU06", "done_on") == -994
    assert _cell(frame, p3, "C1", "done_on") == -991
    frame, _meta = _dta(out, "visits")
    assert _cell(frame, p3, "FU06", "done_on") == "d"
    assert _cell(frame, p3, "C1", "done_on") == "a"
    frame, _meta = _sav(out, "follow_up")
    assert _cell(frame, p3, "FU03", "ecog") == 0
    assert _cell(frame, p3, "FU36", "ecog") == -994
    frame, _meta = _dta(out, "follow_up")
    assert _cell(frame, p3, "FU36", "ecog") == "d"


def test_no_sample_consent_and_a_treatment_withdrawal_make_those_forms_not_applicable(trial):
    out, p4 = trial["out"], trial["p4"]
    sample = _one(_csv(out, "biomarker_sample"), p4, "RAND")
    assert (sample["form_status"], sample["not_applicable_why"]) == ("not_applicable", "consent")
    dosing = _one(_csv(out, "lutathera_dosing"), p4, "C1")
    assert (dosing["form_status"], dosing["not_applicable_why"]) == ("not_applicable", "withdrawal")
    # Treatment only: the visits go on, the C1 bloods are still expected (not yet due: no row).
    assert _one(_csv(out, "visits"), p4, "C1")["visit_status"] == "not_done_yet"
    assert _rows(_csv(out, "laboratory"), p4, "C1") == []
    frame, _meta = _sav(out, "biomarker_sample")
    assert _cell(frame, p4, "RAND", "netest_score") == -994
    frame, _meta = _dta(out, "lutathera_dosing")
    assert _cell(frame, p4, "C1", "dose_date") == "d"


# --- unknown ---------------------------------------------------------------------------------------


def test_an_outcome_recorded_as_unknown_is_unk_where_the_variable_is_numeric(trial):
    out, p1 = trial["out"], trial["p1"]
    row = next(r for r in _csv(out, "adverse_events") if r["trial_number"] == p1)
    assert row["outcome"] == "unknown"  # the CSV keeps the coded value
    frame, meta = _dta(out, "adverse_events")
    assert frame[frame["trial_number"] == p1]["outcome"].iloc[0] == "e"
    assert meta.variable_value_labels["outcome"]["e"] == "Unknown"
    frame, meta = pyreadstat.read_sav(str(out / "NOT-LOCKED-adverse_events.sav"), user_missing=True)
    assert frame[frame["trial_number"] == p1]["outcome"].iloc[0] == "unknown"
    assert meta.missing_ranges["outcome"] == [{"lo": "unknown", "hi": "unknown"}]
    dictionary = {(r["dataset"], r["variable"]): r for r in _csv(out, "data_dictionary")}
    assert dictionary[("adverse_events", "outcome")]["missing_codes"] == "UNK=unknown; NE=not_entered"
    # The ODM keeps the value, with the code UNK beside it.
    tree = etree.parse(str(out / "NOT-LOCKED-nelmas-odm.xml"))
    subject = tree.find(f".//o:SubjectData[@SubjectKey='{p1}']", NS)
    (item,) = subject.findall(".//o:ItemData[@ItemOID='I.adverse_event.outcome']", NS)
    assert item.get("Value") == "unknown"
    assert item.find("o:Annotation/o:Flag/o:FlagValue", NS).text == "UNK"


# --- death -----------------------------------------------------------------------------------------


def test_visits_due_after_death_are_not_applicable_death(trial):
    out, p5 = trial["out"], trial["p5"]
    visits = _csv(out, "visits")
    assert (_one(visits, p5, "FU06")["visit_status"], _one(visits, p5, "FU06")["not_applicable_why"]) == (
        "not_applicable",
        "death",
    )
    assert _one(visits, p5, "FU03")["visit_status"] == "not_done_yet"
    row = _one(_csv(out, "follow_up"), p5, "FU36")
    assert (row["form_status"], row["missing_reason"]) == ("not_applicable", f"died on {trial['died_on'].isoformat()}")
    assert _one(_csv(out, "end_of_study"), p5, "FU36")["death_date"] == trial["died_on"].isoformat()  # saved, kept
    frame, _meta = _dta(out, "follow_up")
    assert _cell(frame, p5, "FU12", "ecog") == "d"


# --- the ODM archive -------------------------------------------------------------------------------


def _flag(subject, event, form=None):
    path = f"o:StudyEventData[@StudyEventOID='SE.{event}']"
    if form:
        path += f"/o:FormData[@FormOID='F.{form}']"
    annotations = subject.findall(f"{path}/o:Annotation", NS)
    return [(a.find("o:Flag/o:FlagValue", NS).text, a.find("o:Comment", NS).text) for a in annotations]


def test_the_odm_archive_carries_each_code_with_its_reason(trial):
    out = trial["out"]
    path = out / "NOT-LOCKED-nelmas-odm.xml"
    validate_odm(path)
    tree = etree.parse(str(path))

    def subject(key):
        return tree.find(f".//o:SubjectData[@SubjectKey='{trial[key]}']", NS)

    assert _flag(subject("p1"), "FU03") == [("VM", MISSED)]
    assert _flag(subject("p1"), "RAND", "quality_of_life") == [("ND", QOL_NOT_DONE)]
    withdrawal = f"withdrawal: follow_up level, withdrawn on {trial['withdrawn_on'].isoformat()}"
    for code in ["FU06", "FU09", "FU12", "FU18", "FU24", "FU30", "FU36"]:
        assert _flag(subject("p3"), code) == [("NA", withdrawal)], code
    assert _flag(subject("p3"), "FU03") == []  # done, data kept
    assert _flag(subject("p3"), "C1") == []  # due on study: no code, no data (not entered)
    assert _flag(subject("p4"), "RAND", "biomarker_sample") == [("NA", "consent: no optional sample consent")]
    assert _flag(subject("p4"), "C1", "lutathera_dosing") == [
        ("NA", f"withdrawal: no dosing after a withdrawal, withdrawn on {trial['treatment_stop'].isoformat()}")
    ]
    assert _flag(subject("p4"), "C1") == []  # the visit itself goes on
    codes = [i.get("CodedValue") for i in tree.findall(".//o:CodeList[@OID='CL.MISSING']/o:CodeListItem", NS)]
    assert codes == ["NE", "ND", "VM", "NA", "UNK"]
