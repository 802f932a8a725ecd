"""Analysis files of the export (protocol.md "Analysis datasets"): the subject-level file carries each
randomised patient's status from the source forms, and the time-to-event file agrees with a
computation written here, independently, from the raw tables."""

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from crf import services as crf
from crf.models import EndOfStudy, FollowUp, LutatheraDosing, Recurrence, Visit
from patients import services as patients
from patients.models import Patient, Withdrawal
from reports.dataset import export_dataset
from tests.crf.factories import scheduled_patient

pytestmark = [pytest.mark.django_db, pytest.mark.requirement("URS-EXP-001")]


def _read(folder, name):
    return list(csv.DictReader(io.StringIO((folder / f"NOT-LOCKED-{name}.csv").read_text())))


def _expected_status(patient_id: int) -> str:
    """protocol.md "Analysis datasets": died, withdrawn (follow-up or data use), lost to follow-up,
    completed, in follow-up (a follow-up visit done), else randomised; death first."""
    end = EndOfStudy.objects.filter(patient_id=patient_id).values("reason", "death_date").first()
    if end and (end["death_date"] or end["reason"] == "death"):
        return "died"
    if Withdrawal.objects.filter(patient_id=patient_id, level__in=["follow_up", "data_use"]).exists() or (
        end and end["reason"] == "withdrawal"
    ):
        return "withdrawn"
    if end and end["reason"] == "lost":
        return "lost"
    if end and end["reason"] in ("completed", "sponsor"):
        return "completed"
    if Visit.objects.filter(patient_id=patient_id, code__regex=r"^FU[0-9]+$", done_on__isnull=False).exists():
        return "follow_up"
    return "randomised"


def _independent_tte(patient: Patient) -> dict:
    """Endpoints by origin for one patient, from the raw rows (rules of protocol.md, written by hand)."""
    end = EndOfStudy.objects.filter(patient=patient).first()
    death = end.death_date if end else None
    recurrences = list(Recurrence.objects.filter(patient=patient).exclude(recurrence_date=None))
    first_any = min((r.recurrence_date for r in recurrences), default=None)
    first_liver = min((r.recurrence_date for r in recurrences if r.site_liver), default=None)
    next_treatment = min((r.next_treatment_start for r in recurrences if r.next_treatment_start), default=None)
    follow_ups = list(FollowUp.objects.filter(patient=patient))
    assessments = [f.imaging_date for f in follow_ups if f.imaging_date] + [r.recurrence_date for r in recurrences]
    last_assessment = max(assessments, default=None)
    randomised = timezone.localtime(patient.allocation.randomised_at, timezone=_tz(patient)).date()
    contacts = [
        randomised,
        *Visit.objects.filter(patient=patient).exclude(done_on=None).values_list("done_on", flat=True),
    ]
    contacts += [f.visit_date for f in follow_ups if f.visit_date] + assessments
    if end and end.end_date:
        contacts.append(end.end_date)
    last_alive = death or max(contacts)
    c1 = LutatheraDosing.objects.filter(patient=patient, visit__code="C1").values_list("dose_date", flat=True).first()
    origins = {"liver_resection": patient.liver_resection_date, "randomisation": randomised, "first_dose": c1}
    out = {}
    for origin, start in origins.items():
        if start is None:
            continue
        horizon = start + dt.timedelta(days=1096)
        # RFS3
        events = sorted(
            [(d, 0, "recurrence") for d in [first_any] if d and d >= start]
            + [(d, 1, "death") for d in [death] if d and d >= start]
        )
        if events and events[0][0] <= horizon:
            out[("RFS3", origin)] = (events[0][0], 1, events[0][2], "")
        elif last_assessment and last_assessment >= start:
            capped = min(last_assessment, horizon)
            out[("RFS3", origin)] = (capped, 0, "", "three_years" if capped == horizon else "last_disease_assessment")
        else:
            out[("RFS3", origin)] = (start, 0, "", "no_follow_up")
        # LDFS
        events = sorted(
            [(d, 0, "liver_recurrence") for d in [first_liver] if d and d >= start]
            + [(d, 1, "death") for d in [death] if d and d >= start]
        )
        if events:
            out[("LDFS", origin)] = (events[0][0], 1, events[0][2], "")
        elif last_assessment and last_assessment >= start:
            out[("LDFS", origin)] = (last_assessment, 0, "", "last_disease_assessment")
        else:
            out[("LDFS", origin)] = (start, 0, "", "no_follow_up")
        # OS
        if death:
            out[("OS", origin)] = (death, 1, "death", "")
        else:
            out[("OS", origin)] = (
                (last_alive, 0, "", "last_known_alive") if last_alive >= start else (start, 0, "", "no_follow_up")
            )
        # TTNT
        if next_treatment and next_treatment >= start and (death is None or next_treatment <= death):
            out[("TTNT", origin)] = (next_treatment, 1, "next_treatment", "")
        elif death:
            out[("TTNT", origin)] = (death, 0, "", "death")
        else:
            out[("TTNT", origin)] = (
                (last_alive, 0, "", "last_known_alive") if last_alive >= start else (start, 0, "", "no_follow_up")
            )
    return out


def _tz(patient):
    from zoneinfo import ZoneInfo

    return ZoneInfo(patient.site.timezone)


@pytest.mark.postgres
def test_simulated_trial_subject_file_status_and_time_to_event_agree_with_the_raw_tables(db, tmp_path):
    call_command("simulate_trial", "--patients", "90", "--seed", "11", stdout=io.StringIO())
    written = export_dataset(formats=["csv"], out=tmp_path, allow_unlocked=True)["tables"]
    # An export that writes no table (the ODM alone) still names each table's rows in its manifest:
    # counted (Table.count, the subjects' counter) rather than written, the same numbers.
    (tmp_path / "odm").mkdir()
    assert export_dataset(formats=["odm"], out=tmp_path / "odm", allow_unlocked=True)["tables"] == written
    assert written["subjects"] == Patient.objects.filter(allocation__isnull=False).count() > 0
    subjects = {r["trial_number"]: r for r in _read(tmp_path, "subjects")}
    randomised = Patient.objects.filter(allocation__isnull=False).select_related("site", "allocation")
    assert set(subjects) == {p.trial_number for p in randomised}
    statuses = {}
    for patient in randomised:
        expected = _expected_status(patient.pk)
        assert subjects[patient.trial_number]["status"] == expected, patient.trial_number
        statuses[expected] = statuses.get(expected, 0) + 1
    # The simulation has deaths, completions and patients in follow-up (withdrawals when the seed
    # draws any; the lifecycle test below covers them).
    assert {"died", "completed", "follow_up"} <= set(statuses), statuses
    assert statuses.get("withdrawn", 0) == Withdrawal.objects.exclude(level="treatment").count()
    for patient in randomised.filter(withdrawals__level="follow_up").distinct():
        row = subjects[patient.trial_number]
        w = patient.withdrawals.get(level="follow_up")
        assert (row["withdrawal_level"], row["withdrawal_date"]) == ("follow_up", w.withdrawn_on.isoformat())

    tte = _read(tmp_path, "time_to_event")
    by_patient = {}
    for row in tte:
        by_patient.setdefault(row["trial_number"], {})[(row["endpoint"], row["origin"])] = (
            dt.date.fromisoformat(row["end_date"]),
            int(row["event"]),
            row["event_type"],
            row["censoring_reason"],
        )
        assert (
            int(row["days"])
            == (dt.date.fromisoformat(row["end_date"]) - dt.date.fromisoformat(row["origin_date"])).days
        )
    events = 0
    for patient in randomised:
        expected = _independent_tte(patient)
        assert by_patient[patient.trial_number] == expected, patient.trial_number
        events += sum(v[1] for v in expected.values())
    assert events > 0


def test_end_of_study_form_sets_died_lost_or_completed_and_withdrawal_keeps_level(world):
    """crf.lifecycle: the status follows the end of study form as it is saved and corrected."""
    patient = scheduled_patient(world.site_a)
    fu36 = patient.visits.get(code="FU36")
    form = crf.crf_save(
        model=EndOfStudy, visit=fu36, data={"end_date": timezone.localdate(), "reason": "lost"}, actor=world.nurse_a
    )
    assert Patient.objects.get(pk=patient.pk).status == "lost"
    crf.crf_save(
        model=EndOfStudy,
        visit=fu36,
        data={"reason": "death", "death_date": timezone.localdate(), "death_cause": "NET", "death_relation": "net"},
        actor=world.nurse_a,
        reason="Death notified by the GP",
        expected_version=form.version,
    )
    patient.refresh_from_db()
    assert patient.status == "died"
    assert patient.history.first().history_change_reason.startswith("Status from End of study")
    other = scheduled_patient(world.site_a)
    fu03 = other.visits.get(code="FU03")
    crf.visit_mark_done(visit=fu03, day=timezone.localdate(), actor=world.nurse_a)
    assert Patient.objects.get(pk=other.pk).status == "follow_up"
    patients.patient_withdraw(
        actor=world.nurse_a,
        patient=other,
        data={"withdrawn_on": timezone.localdate(), "initiated_by": "patient", "level": "data_use", "reason": "x"},
    )
    assert Patient.objects.get(pk=other.pk).status == "withdrawn"
