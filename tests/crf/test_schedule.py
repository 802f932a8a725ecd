"""The visit schedule matches the protocol table; a dosing delay moves cycle 2 and its bloods only."""

import datetime as dt

import pytest

from crf import schedule

RESECTION = dt.date(2026, 1, 15)
RANDOMISED = dt.date(2026, 2, 20)

# (code, target, window start, window end) for arm B, straight from the protocol's visit table.
PROTOCOL_B = [
    ("RAND", RANDOMISED, RANDOMISED, RANDOMISED),
    ("C1", RESECTION + dt.timedelta(weeks=8), RESECTION + dt.timedelta(weeks=6), RESECTION + dt.timedelta(weeks=10)),
    ("C2", RESECTION + dt.timedelta(weeks=16), RESECTION + dt.timedelta(weeks=15), RESECTION + dt.timedelta(weeks=17)),
    ("SB1", RESECTION + dt.timedelta(weeks=20), RESECTION + dt.timedelta(weeks=19), RESECTION + dt.timedelta(weeks=21)),
    ("SB2", RESECTION + dt.timedelta(weeks=24), RESECTION + dt.timedelta(weeks=23), RESECTION + dt.timedelta(weeks=25)),
    ("SB3", RESECTION + dt.timedelta(weeks=28), RESECTION + dt.timedelta(weeks=27), RESECTION + dt.timedelta(weeks=29)),
    ("FU03", dt.date(2026, 4, 15), dt.date(2026, 4, 1), dt.date(2026, 4, 29)),
    ("FU06", dt.date(2026, 7, 15), dt.date(2026, 7, 1), dt.date(2026, 7, 29)),
    ("FU09", dt.date(2026, 10, 15), dt.date(2026, 10, 1), dt.date(2026, 10, 29)),
    ("FU12", dt.date(2027, 1, 15), dt.date(2027, 1, 1), dt.date(2027, 1, 29)),
    ("FU18", dt.date(2027, 7, 15), dt.date(2027, 6, 17), dt.date(2027, 8, 12)),
    ("FU24", dt.date(2028, 1, 15), dt.date(2027, 12, 18), dt.date(2028, 2, 12)),
    ("FU30", dt.date(2028, 7, 15), dt.date(2028, 6, 17), dt.date(2028, 8, 12)),
    ("FU36", dt.date(2029, 1, 15), dt.date(2028, 12, 18), dt.date(2029, 2, 12)),
]
PROTOCOL_A = [row for row in PROTOCOL_B if row[0] not in ("C1", "C2", "SB1", "SB2", "SB3")]


@pytest.mark.parametrize(("arm", "table"), [("A", PROTOCOL_A), ("B", PROTOCOL_B)])
def test_schedule_matches_the_protocol_table(arm, table):
    planned = schedule.planned_visits(arm=arm, liver_resection=RESECTION, randomised_on=RANDOMISED)
    assert [(v.code, t, s, e) for v, t, s, e in planned] == table


@pytest.mark.parametrize("row", PROTOCOL_B, ids=lambda r: r[0])
def test_each_arm_b_visit_on_its_own(row):
    planned = {
        v.code: (t, s, e)
        for v, t, s, e in schedule.planned_visits(arm="B", liver_resection=RESECTION, randomised_on=RANDOMISED)
    }
    assert planned[row[0]] == row[1:]


def test_a_delayed_first_dose_moves_cycle_2_and_safety_bloods_but_not_follow_up():
    delayed = RESECTION + dt.timedelta(weeks=11)  # 3 weeks late
    base = {
        v.code: t for v, t, *_ in schedule.planned_visits(arm="B", liver_resection=RESECTION, randomised_on=RANDOMISED)
    }
    moved = {
        v.code: t
        for v, t, *_ in schedule.planned_visits(
            arm="B", liver_resection=RESECTION, randomised_on=RANDOMISED, cycle_1_dose=delayed
        )
    }
    assert moved["C2"] == delayed + dt.timedelta(weeks=8)
    for code in ("SB1", "SB2", "SB3"):
        assert moved[code] - base[code] == dt.timedelta(weeks=3)
    for code in ("C1", "RAND", "FU03", "FU06", "FU12", "FU36"):
        assert moved[code] == base[code]


def test_month_arithmetic_clamps_to_the_end_of_the_month():
    assert schedule.add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert schedule.add_months(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)


def test_settings_override_a_window_without_code(settings):
    settings.VISIT_SCHEDULE_OVERRIDES = {"C1": {"window_before": 7, "window_after": 7}}
    planned = {
        v.code: (s, e)
        for v, t, s, e in schedule.planned_visits(arm="B", liver_resection=RESECTION, randomised_on=RANDOMISED)
    }
    assert planned["C1"] == (RESECTION + dt.timedelta(weeks=7), RESECTION + dt.timedelta(weeks=9))


pytestmark = pytest.mark.requirement("URS-VIS-001")


@pytest.mark.django_db
@pytest.mark.parametrize("arm", ["A", "B"])
def test_scheduled_visits_are_saved_with_their_first_audit_row(world, arm):
    """Created in bulk, every visit still has its history row: who, when, which reason, the values."""
    from crf.services import visits_schedule_create
    from tests.patients.factories import PatientFactory

    patient = PatientFactory(site=world.site_a, liver_resection_date=RESECTION)
    visits = visits_schedule_create(patient=patient, arm=arm, randomised_on=RANDOMISED, actor=world.nurse_a)
    expected = [code for code, *_dates in (PROTOCOL_B if arm == "B" else PROTOCOL_A)] + ["LOG"]
    assert [v.code for v in visits] == expected and all(v.pk for v in visits)
    for visit in visits:
        saved = type(visit).objects.get(pk=visit.pk)
        (row,) = saved.history.all()
        assert row.history_type == "+" and row.history_user == world.nurse_a
        assert row.history_change_reason == (
            "Patient logs opened at randomisation" if visit.code == "LOG" else f"Scheduled at randomisation (arm {arm})"
        )
        assert (row.window_start, row.window_end, row.version) == (saved.window_start, saved.window_end, 1)
        assert abs((row.history_date - saved.created_at).total_seconds()) < 1
    again = visits_schedule_create(patient=patient, arm=arm, randomised_on=RANDOMISED, actor=world.nurse_a)
    assert sorted(v.pk for v in again) == sorted(v.pk for v in visits)  # idempotent
