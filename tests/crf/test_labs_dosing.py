"""Laboratory units, stored CTCAE grades, derived creatinine clearance, the label's dose-hold rules
before an arm B dose, dosing checks, queries that close themselves, repeating recurrences.

Sources: protocol.md CRF 8 (dosing), CRF 9 (laboratory, dose-hold rules, Cockcroft–Gault, units),
CRF 11 (recurrence), CRF 15 (end of study); Lutathera SmPC 4.2 / US label 2.4; CTCAE v5.0.
"""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crf import services
from crf.models import Demographics, EndOfStudy, Laboratory, LabReferenceRange, LutatheraDosing, Query, Recurrence
from crf.models.forms import Histopathology
from crf.registry import FORMS
from crf.selectors import first_recurrences
from patients import services as patients
from reports.dataset import collect
from tests.crf.factories import scheduled_patient
from tests.patients.factories import eligible_answers

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
D = Decimal


def days_ago(n):
    return TODAY - dt.timedelta(days=n)


def save(model, patient, code, data, user, **kwargs):
    return services.crf_save(model=model, visit=patient.visits.get(code=code), data=data, actor=user, **kwargs)


def weigh(patient, user, kg):
    save(Demographics, patient, "RAND", {"ethnicity": "white", "height_cm": D(175), "weight_kg": D(kg)}, user)


PANEL = {"haemoglobin": D(135), "anc": D("3.5"), "platelets": D(250), "bilirubin": D(10), "albumin": D(40)}


def lab(day, creatinine, **more):
    return PANEL | {"sample_date": day, "creatinine": D(creatinine)} | more


# --- Renal dose-hold (issue 23 acceptance) ------------------------------------------------------
# Man, 65 years as the older bound of his year of birth, 97.8 kg. Cockcroft–Gault (protocol CRF 9):
# creatinine 150 µmol/L: 75 × 97.8 / (0.815 × 150) = 7335 / 122.25 = 60 mL/min (not < 40);
# baseline creatinine 80: 7335 / 65.2 = 112.5 exactly → 113 mL/min (half up). 150 ≥ 1.4 × 80 = 112 → renal hold.


def _renal_patient(world, arm):
    sample = days_ago(19)
    if arm == "B":
        patient = scheduled_patient(
            world.site_a,
            arm="B",
            resection_days_ago=130,
            randomised_days_ago=100,
            sex="M",
            year_of_birth=sample.year - 65,
        )
    else:
        patient = scheduled_patient(
            world.site_a,
            arm="A",
            resection_days_ago=200,
            randomised_days_ago=170,
            sex="M",
            year_of_birth=sample.year - 65,
        )
    weigh(patient, world.nurse_a, "97.8")
    return patient


def test_creatinine_clearance_is_derived_by_cockcroft_gault_not_typed(world):
    patient = _renal_patient(world, "B")
    form = save(Laboratory, patient, "C1", lab(days_ago(76), 150), world.nurse_a)
    assert form.creatinine_clearance == D(60)
    assert "creatinine_clearance" not in Laboratory.data_field_names()


def test_renal_hold_flagged_before_cycle_2_when_creatinine_rose_40_percent(world):
    patient = _renal_patient(world, "B")
    save(Laboratory, patient, "C1", lab(days_ago(76), 80), world.nurse_a)
    c1_dose = {
        "dose_date": days_ago(74),
        "dose_level": "full",
        "administered_activity_mbq": D(7400),
        "infusion_start": dt.time(11, 0),
        "infusion_stop": dt.time(11, 30),
    }
    save(LutatheraDosing, patient, "C1", c1_dose, world.nurse_a)
    baseline = Laboratory.objects.get(visit__code="C1")
    assert baseline.creatinine_clearance == D(113)

    pre_c2 = save(Laboratory, patient, "C2", lab(days_ago(19), 150), world.nurse_a)
    assert pre_c2.creatinine_clearance == D(60)
    texts = list(Query.objects.filter(form_id=pre_c2.pk, form_code="laboratory").values_list("text", flat=True))
    assert any("Creatinine 150 µmol/L is ≥ 40 % above baseline 80 µmol/L" in t for t in texts), texts
    assert any("60 mL/min is ≥ 40 % below baseline 113 mL/min" in t for t in texts), texts
    assert not any("hold below 40" in t for t in texts)  # 60 mL/min is not below 40

    # The cycle 2 dose while the hold applies is refused at the field unless a reason is recorded.
    with pytest.raises(services.CheckFailed) as failure:
        save(LutatheraDosing, patient, "C2", c1_dose | {"dose_date": days_ago(18)}, world.nurse_a)
    assert [f for f, _m in failure.value.errors] == ["dose_hold_reason"]
    assert "40 % above baseline" in failure.value.errors[0][1]


def test_the_same_panel_in_arm_a_at_month_6_raises_no_dose_hold_query(world):
    patient = _renal_patient(world, "A")
    save(Laboratory, patient, "RAND", lab(days_ago(170), 80), world.nurse_a)
    follow_up = save(Laboratory, patient, "FU06", lab(days_ago(19), 150), world.nurse_a)
    assert follow_up.creatinine_clearance == D(60)
    assert not Query.objects.filter(patient=patient).exists(), list(Query.objects.values_list("text", flat=True))
    # Graded against the arm A baseline visit: 150 > 1.5 × baseline 80 → creatinine increased grade 2.
    assert follow_up.creatinine_grade == 2


# --- Units and stored grades -------------------------------------------------------------------


def test_conventional_unit_is_converted_graded_and_kept_in_the_audit_trail(world):
    patient = _renal_patient(world, "B")
    form = save(
        Laboratory, patient, "C1", lab(days_ago(76), 80, bilirubin=D("3.5"), bilirubin_unit="mg/dL"), world.nurse_a
    )
    assert form.bilirubin == D("3.5") and form.bilirubin_unit == "mg/dL"
    # 3.5 × 17.1 = 59.85 → 59.9 µmol/L; ULN 21: > 1.5 × ULN (31.5), ≤ 3 × ULN (63) → grade 2.
    assert form.bilirubin_si == D("59.9") and form.bilirubin_grade == 2
    row = form.history.first()
    assert row.bilirubin_unit == "mg/dL" and row.bilirubin == D("3.5") and row.bilirubin_si == D("59.9")


def test_impossible_value_for_its_unit_is_refused_at_the_field_with_the_unit(world):
    patient = _renal_patient(world, "B")
    with pytest.raises(services.CheckFailed) as failure:
        save(Laboratory, patient, "C1", lab(days_ago(76), 80, albumin=D(35), albumin_unit="g/dL"), world.nurse_a)
    assert failure.value.errors == [("albumin", "35 g/dL is not possible: between 0.5 and 7 g/dL.")]
    assert not Laboratory.objects.exists()


def test_neutrophils_above_white_cells_is_impossible(world):
    patient = _renal_patient(world, "B")
    with pytest.raises(services.CheckFailed) as failure:
        save(Laboratory, patient, "C1", lab(days_ago(76), 80, wbc=D("3.0")), world.nurse_a)
    assert failure.value.errors[0][0] == "anc" and "×10⁹/L" in failure.value.errors[0][1]


def test_bilirubin_after_hepatectomy_is_graded_against_the_abnormal_baseline(world):
    # Baseline bilirubin 40 µmol/L with ULN 20 (abnormal): 55 is > 1.0 and ≤ 1.5 × baseline → grade 1,
    # where the normal-baseline row would say > 1.5–3 × ULN → grade 2.
    patient = scheduled_patient(world.site_a, arm="A", resection_days_ago=200, randomised_days_ago=170)
    weigh(patient, world.nurse_a, 70)
    save(Laboratory, patient, "RAND", lab(days_ago(170), 80, bilirubin=D(40), bilirubin_uln=D(20)), world.nurse_a)
    form = save(Laboratory, patient, "FU06", lab(days_ago(19), 80, bilirubin=D(55), bilirubin_uln=D(20)), world.nurse_a)
    assert form.bilirubin_grade == 1
    assert Laboratory.objects.get(visit__code="RAND").bilirubin_grade == 2  # the baseline itself: ULN row


def test_limits_left_blank_come_from_the_site_laboratory_in_force(world):
    patient = _renal_patient(world, "B")
    LabReferenceRange.objects.create(
        site=world.site_a, limit="platelets_lln", value=D(140), effective_from=days_ago(400), effective_to=days_ago(200)
    )
    LabReferenceRange.objects.create(
        site=world.site_a, limit="platelets_lln", value=D(180), effective_from=days_ago(199)
    )
    form = save(Laboratory, patient, "C1", lab(days_ago(76), 80, platelets=D(170)), world.nurse_a)
    # 170 < LLN 180 (the range in force on the sample date) → grade 1; with 140 it would be 0.
    assert form.platelets_lln == D(180) and form.platelets_grade == 1


# --- Dosing checks -----------------------------------------------------------------------------

C1_DOSE = {
    "dose_date": days_ago(1),
    "dose_level": "full",
    "batch_id": "LU-1",
    "administered_activity_mbq": D(7350),
    "infusion_start": dt.time(11, 0),
    "infusion_stop": dt.time(11, 30),
    "infusion_reaction": False,
}


def test_dose_dated_before_randomisation_is_refused_at_the_field(world):
    patient = scheduled_patient(world.site_a)  # randomised 30 days ago
    with pytest.raises(services.CheckFailed) as failure:
        save(LutatheraDosing, patient, "C1", C1_DOSE | {"dose_date": days_ago(31)}, world.nurse_a)
    assert any(f == "dose_date" and "before randomisation" in m for f, m in failure.value.errors)
    assert not LutatheraDosing.objects.exists()


def test_short_acting_ssa_25_hours_before_the_infusion_time_raises_no_query(world):
    # SSA 15 Mar 10:00, infusion 16 Mar 11:00 (site time): 25 hours ≥ 24 → no query.
    patient = scheduled_patient(world.site_a)
    london = ZoneInfo("Europe/London")
    dose_day = days_ago(1)
    ssa = dt.datetime.combine(dose_day - dt.timedelta(days=1), dt.time(10, 0), tzinfo=london)
    form = save(LutatheraDosing, patient, "C1", C1_DOSE | {"last_short_acting_ssa_at": ssa}, world.nurse_a)
    assert not Query.objects.filter(form_id=form.pk, field="last_short_acting_ssa_at").exists()
    # 23 hours before the infusion is asked about.
    later = ssa + dt.timedelta(hours=2)
    services.crf_save(
        model=LutatheraDosing,
        visit=form.visit,
        data={"last_short_acting_ssa_at": later},
        actor=world.nurse_a,
        reason="corrected from the drug chart",
    )
    query = Query.objects.get(form_id=form.pk, field="last_short_acting_ssa_at")
    assert "23.0 hours before the infusion" in query.text


@pytest.mark.parametrize(
    ("changes", "field", "text", "hard"),
    [
        ({"discharge_date": days_ago(2)}, "discharge_date", "discharge is before the infusion", True),
        ({"predose_bloods_date": TODAY - dt.timedelta(days=0)}, "predose_bloods_date", "after the dose", True),
        ({"predose_bloods_date": days_ago(16)}, "predose_bloods_date", "15 days before the dose", False),
        (
            {"dose_level": "not_given", "administered_activity_mbq": D(7350)},
            "administered_activity_mbq",
            "not given",
            True,
        ),
        (
            {"amino_acid_start": dt.time(10, 45), "amino_acid_stop": dt.time(14, 45)},
            "amino_acid_start",
            "15 minutes before Lutathera (at least 30",
            False,
        ),
        (
            {"amino_acid_start": dt.time(10, 30), "amino_acid_stop": dt.time(12, 30)},
            "amino_acid_stop",
            "ran 2.0 hours",
            False,
        ),
        (
            # 8000 − 100 = 7900 MBq is 550 MBq (7.5 %) from the 7350 MBq administered: more than 5 %.
            {"calibrated_activity_mbq": D(8000), "residual_activity_mbq": D(100)},
            "administered_activity_mbq",
            "Calibrated − residual is 7,900 MBq",
            False,
        ),
    ],
)
def test_dosing_checks(world, changes, field, text, hard):
    patient = scheduled_patient(world.site_a)
    data = C1_DOSE | changes
    if hard:
        with pytest.raises(services.CheckFailed) as failure:
            save(LutatheraDosing, patient, "C1", data, world.nurse_a)
        assert any(f == field and text in m for f, m in failure.value.errors), failure.value.errors
    else:
        form = save(LutatheraDosing, patient, "C1", data, world.nurse_a)
        assert text in Query.objects.get(form_id=form.pk, form_code="lutathera_dosing", field=field).text


def test_amino_acids_30_minutes_before_and_4_hours_raise_nothing(world):
    patient = scheduled_patient(world.site_a)
    data = C1_DOSE | {
        "amino_acid_start": dt.time(10, 30),
        "amino_acid_stop": dt.time(14, 30),
        "calibrated_activity_mbq": D(7450),
        "residual_activity_mbq": D(100),
    }
    form = save(LutatheraDosing, patient, "C1", data, world.nurse_a)
    assert not Query.objects.filter(form_id=form.pk).exists()


# --- Automatic queries close themselves --------------------------------------------------------

RESECTION = {
    "procedure": "major",
    "approach": "open",
    "metastases_count": 3,
    "largest_mm": 25,
    "margin": "R0",
    "length_of_stay_days": 7,
    "complications": False,
}


def test_automatic_query_closes_when_the_data_is_corrected_and_a_manual_one_stays_open(world):
    # The liver-resection date now follows the registration (issue 22: one source, a differing date
    # is refused at the field), so the automatic check here is the histopathology CRF's Ki-67
    # against the eligibility answer that set the stratum (protocol, Stratification).
    patient = scheduled_patient(world.site_a)
    patients.eligibility_save(actor=world.nurse_a, patient=patient, data=eligible_answers(patient))  # Ki-67 5.0
    rand = patient.visits.get(code="RAND")
    form = save(Histopathology, patient, "RAND", {"primary_site": "pancreas", "ki67_percent": 8}, world.nurse_a)
    automatic = Query.objects.get(form_id=form.pk, field="ki67_percent")
    assert automatic.automatic
    manual = services.query_raise(
        form=form, field="ki67_percent", text="Please attach the pathology report.", actor=world.data_manager
    )

    services.crf_save(
        model=Histopathology,
        visit=rand,
        data={"ki67_percent": 5},
        actor=world.nurse_a,
        reason="typo: Ki-67 from the pathology report",
    )

    automatic.refresh_from_db()
    manual.refresh_from_db()
    assert automatic.status == Query.Status.CLOSED and automatic.closed_at
    assert manual.status == Query.Status.OPEN
    closing = automatic.history.first()
    assert closing.status == "closed" and closing.history_change_reason == services.RESOLVED_BY_DATA_CHANGE
    assert closing.history_user is None  # the system, not a person
    assert [m.text for m in automatic.messages.all()] == [services.RESOLVED_BY_DATA_CHANGE]
    # No new query for the corrected value.
    assert Query.objects.filter(form_id=form.pk, field="ki67_percent").count() == 2


# --- Recurrence repeating ----------------------------------------------------------------------


def test_two_recurrences_bone_then_liver_give_the_first_and_first_liver_dates(world):
    patient = scheduled_patient(world.site_a)
    log = patient.visits.get(code="LOG")
    bone = {
        "recurrence_date": days_ago(20),
        "confirmation": "imaging",
        "site_liver": False,
        "site_nodes": False,
        "site_bone": True,
    }
    liver = {"recurrence_date": days_ago(5), "confirmation": "imaging", "site_liver": True, "site_nodes": False}
    services.crf_save(model=Recurrence, visit=log, data=bone, actor=world.nurse_a)
    services.crf_save(model=Recurrence, visit=log, data=liver, actor=world.nurse_a)
    assert Recurrence.objects.filter(patient=patient).count() == 2

    first = first_recurrences(patient)
    assert (first.first_any, first.first_liver) == (days_ago(20), days_ago(5))
    table = next(t for t in collect(lock=None) if t.name == "patients")
    names = [c.name for c in table.columns]
    row = next(r for r in table.iter_rows() if r[0] == patient.trial_number)
    assert row[names.index("first_recurrence_date")] == days_ago(20)
    assert row[names.index("first_liver_recurrence_date")] == days_ago(5)

    # End of study: "recurrence-free" contradicts the recorded recurrences.
    with pytest.raises(services.CheckFailed, match="not recurrence-free"):
        save(
            EndOfStudy,
            patient,
            "FU36",
            {"end_date": days_ago(1), "reason": "withdrawal", "recurrence_free": True},
            world.nurse_a,
        )


def test_completed_36_months_needs_36_months_since_resection(world):
    patient = scheduled_patient(world.site_a)
    with pytest.raises(services.CheckFailed, match="Completed 36 months needs"):
        save(
            EndOfStudy,
            patient,
            "FU36",
            {"end_date": days_ago(1), "reason": "completed", "recurrence_free": False},
            world.nurse_a,
        )


def test_laboratory_grades_are_exported_beside_the_values(world):
    patient = _renal_patient(world, "B")
    save(Laboratory, patient, "C1", lab(days_ago(76), 80, platelets=D(60)), world.nurse_a)
    table = next(t for t in collect(lock=None) if t.name == "laboratory")
    names = [c.name for c in table.columns]
    row = next(iter(table.iter_rows()))
    assert row[names.index("platelets_grade")] == 2  # 50 ≤ 60 < 75
    assert row[names.index("creatinine_clearance")] == D(113)


# --- Sex-specific pregnancy window, protocol PET, patient page ----------------------------------


@pytest.mark.parametrize(("sex", "subject", "months"), [("F", "patient", 7), ("M", "partner", 4)])
def test_pregnancy_after_the_reporting_window_is_queried(world, sex, subject, months):
    # Protocol CRF 13: reporting runs to 7 months after the last dose for women, 4 months for men.
    from crf.models import Pregnancy
    from crf.schedule import add_months

    patient = scheduled_patient(world.site_a, sex=sex)
    save(LutatheraDosing, patient, "C1", C1_DOSE, world.nurse_a)
    until = add_months(C1_DOSE["dose_date"], months)
    log = patient.visits.get(code="LOG")
    base = {"aware_date": days_ago(0), "subject": subject, "outcome": "ongoing"}
    inside = services.crf_save(
        model=Pregnancy, visit=log, data=base | {"last_menstrual_period": days_ago(0)}, actor=world.nurse_a
    )
    assert until > TODAY and not Query.objects.filter(form_id=inside.pk, form_code="pregnancy").exists()

    from crf.validators import PregnancyValidator

    result = PregnancyValidator().rules(
        base | {"last_menstrual_period": until + dt.timedelta(days=1)},
        patient=patient,
        visit=log,
        result=(found := services.CheckResult()),
    )
    assert result is None
    assert any(f"{months} months after the last dose" in m for _f, m in found.soft), found.soft
    same_day = services.CheckResult()
    PregnancyValidator().rules(base | {"last_menstrual_period": until}, patient=patient, visit=log, result=same_day)
    assert not same_day.soft  # the last day of the window is inside it


def test_protocol_pet_is_an_expected_imaging_form_at_months_12_and_36(world):
    from crf.access import expected_forms

    patient = scheduled_patient(world.site_a)
    codes = {v.code: expected_forms(v) for v in patient.visits.all()}
    assert "imaging" in codes["FU12"] and "imaging" in codes["FU36"]
    assert "imaging" not in codes["FU06"] and "imaging" not in codes["FU24"]
    result = services.crf_check(
        FORMS["imaging"],
        {"imaging_date": days_ago(1), "modality": "mri", "reason": "scheduled", "result": "ned"},
        patient=patient,
        visit=patient.visits.get(code="FU12"),
    )
    assert [f for f, _m in result.soft] == ["modality", "reason"]


def test_patient_page_shows_the_latest_grades_and_clearance(client, world):
    patient = _renal_patient(world, "B")
    save(Laboratory, patient, "C1", lab(days_ago(76), 80, platelets=D(60)), world.nurse_a)
    client.force_login(world.nurse_a)
    page = client.get(patient.get_absolute_url()).content.decode()
    assert "Platelets G2" in page and "creatinine clearance 113 mL/min" in page


def test_trial_manager_records_a_site_range_that_supersedes_the_one_in_force(client, world):
    first = services.lab_reference_range_add(
        site=world.site_a, limit="alt_uln", value=D(40), effective_from=days_ago(300), actor=world.trial_manager
    )
    second = services.lab_reference_range_add(
        site=world.site_a, limit="alt_uln", value=D(35), effective_from=days_ago(100), actor=world.trial_manager
    )
    first.refresh_from_db()
    assert first.effective_to == days_ago(101) and second.effective_to is None
    assert first.history.first().history_change_reason == "Superseded by a new range"
    with pytest.raises(services.NotPermitted):
        services.lab_reference_range_add(
            site=world.site_a, limit="alt_uln", value=D(30), effective_from=days_ago(10), actor=world.nurse_a
        )
    client.force_login(world.trial_manager)
    page = client.get("/crf/laboratory-ranges/")
    assert page.status_code == 200 and "ALT upper limit (U/L)" in page.content.decode()
    client.force_login(world.nurse_a)
    assert client.get("/crf/laboratory-ranges/").status_code == 403
