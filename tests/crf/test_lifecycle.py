"""Form lifecycle: partial saves, completion, reasons, SDV, locking, conflicts, queries and visits."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from core.errors import DomainError, NotPermitted, ReasonRequired
from crf import services
from crf.models import Demographics, FormStatus, LutatheraDosing, Query, Visit
from patients.models import Patient
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
VALID = {"ethnicity": "white", "height_cm": Decimal("170"), "weight_kg": Decimal("70")}


@pytest.fixture
def patient(world):
    return scheduled_patient(world.site_a)


@pytest.fixture
def rand(patient):
    return patient.visits.get(code="RAND")


def _complete(world, rand):
    form = services.crf_save(model=Demographics, visit=rand, data=VALID, actor=world.nurse_a)
    return services.crf_mark_complete(form=form, actor=world.nurse_a)


def test_partial_save_lists_what_is_missing_and_completion_waits_for_it(world, rand):
    form = services.crf_save(model=Demographics, visit=rand, data={"height_cm": Decimal("170")}, actor=world.nurse_a)
    assert form.status == FormStatus.IN_PROGRESS
    assert form.missing_fields() == ["ethnicity", "weight_kg"]
    with pytest.raises(DomainError, match="Still missing: ethnicity, weight"):
        services.crf_mark_complete(form=form, actor=world.nurse_a)
    # Filling fields left empty is first entry: no reason asked.
    form = services.crf_save(
        model=Demographics,
        visit=rand,
        data={"ethnicity": "asian", "weight_kg": Decimal("60")},
        actor=world.nurse_a,
        expected_version=form.version,
    )
    assert services.crf_mark_complete(form=form, actor=world.nurse_a).status == FormStatus.COMPLETE


def test_changing_a_saved_value_needs_a_reason_even_before_completion(world, rand):
    form = services.crf_save(model=Demographics, visit=rand, data={"height_cm": Decimal("170")}, actor=world.nurse_a)
    with pytest.raises(ReasonRequired):
        services.crf_save(model=Demographics, visit=rand, data={"height_cm": Decimal("171")}, actor=world.nurse_a)
    form.refresh_from_db()
    assert form.height_cm == Decimal("170")


def test_editing_a_complete_form_needs_a_reason_and_reopens_it(world, rand):
    form = _complete(world, rand)
    with pytest.raises(ReasonRequired):
        services.crf_save(model=Demographics, visit=rand, data={"weight_kg": Decimal("71")}, actor=world.nurse_a)
    form = services.crf_save(
        model=Demographics, visit=rand, data={"weight_kg": Decimal("71")}, actor=world.nurse_a, reason="Reweighed"
    )
    assert form.status == FormStatus.IN_PROGRESS and form.weight_kg == Decimal("71")
    change = form.history.filter(weight_kg=Decimal("71")).order_by("history_date").first()
    assert change.history_change_reason == "Reweighed" and change.history_user == world.nurse_a


def test_sdv_then_edit_clears_verification_with_the_reason_in_the_audit(world, rand):
    form = _complete(world, rand)
    with pytest.raises(NotPermitted):
        services.crf_verify(form=form, actor=world.nurse_a)
    form = services.crf_verify(form=form, actor=world.monitor)
    assert form.status == FormStatus.VERIFIED and form.verified_by == world.monitor
    form = services.crf_save(
        model=Demographics,
        visit=rand,
        data={"height_cm": Decimal("172")},
        actor=world.nurse_a,
        reason="Source says 172",
    )
    assert form.status == FormStatus.IN_PROGRESS
    assert form.verified_at is None and form.verified_by is None
    event = AuditEvent.objects.get(
        kind=AuditEvent.Kind.RECORD_CHANGED, target_id=str(form.pk), reason="Source says 172"
    )
    assert "verification cleared" in event.summary and event.actor == world.nurse_a
    latest = form.history.first()
    assert latest.verified_at is None and "Re-opened by a change: Source says 172" in latest.history_change_reason


def test_form_page_shows_verification_and_its_clearing(client, world, rand):
    form = services.crf_verify(form=_complete(world, rand), actor=world.monitor)
    url = reverse("crf:form", args=[rand.patient.trial_number, "RAND", "demographics"])
    client.force_login(world.nurse_a)
    assert b"Source data verified by" in client.get(url).content
    response = client.post(
        url, {**{k: str(v) for k, v in VALID.items()}, "height_cm": "175", "reason": "typo", "version": form.version}
    )
    assert response.status_code == 302
    page = client.get(url).content.decode()
    # Issue 26: the clearing is a banner naming who cleared it and when, not a green button.
    assert "Verification cleared by" in page and "Source data verified by" not in page


@pytest.mark.parametrize(
    "role", ["nurse_a", "pi_a", "data_manager", "monitor", "trial_manager", "statistician", "sysadmin"]
)
def test_a_locked_form_cannot_be_changed_by_any_role(client, world, rand, role):
    form = services.crf_lock(form=_complete(world, rand), actor=world.data_manager)
    assert form.status == FormStatus.LOCKED
    user = getattr(world, role)
    with pytest.raises((DomainError, NotPermitted)):
        services.crf_save(model=Demographics, visit=rand, data={"height_cm": Decimal("150")}, actor=user, reason="try")
    client.force_login(user)
    url = reverse("crf:form", args=[rand.patient.trial_number, "RAND", "demographics"])
    response = client.post(url, {"height_cm": "150", "reason": "try", "version": form.version})
    assert response.status_code in (403, 404)
    form.refresh_from_db()
    assert form.height_cm == Decimal("170") and form.status == FormStatus.LOCKED


def test_unlock_needs_the_data_manager_and_a_reason_and_is_audited(world, rand):
    form = services.crf_lock(
        form=services.crf_verify(form=_complete(world, rand), actor=world.monitor), actor=world.data_manager
    )
    with pytest.raises(NotPermitted):
        services.crf_unlock(form=form, actor=world.monitor, reason="x")
    with pytest.raises(DomainError, match="reason"):
        services.crf_unlock(form=form, actor=world.data_manager, reason="  ")
    form = services.crf_unlock(form=form, actor=world.data_manager, reason="Late lab correction")
    assert form.status == FormStatus.VERIFIED  # back to where it was
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.UNLOCKED, target_id=str(form.pk))
    assert event.reason == "Late lab correction" and event.actor == world.data_manager
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCKED, target_id=str(form.pk)).exists()


def test_only_complete_forms_are_verified_or_locked(world, rand):
    form = services.crf_save(model=Demographics, visit=rand, data={"height_cm": Decimal("170")}, actor=world.nurse_a)
    with pytest.raises(DomainError):
        services.crf_verify(form=form, actor=world.monitor)
    with pytest.raises(DomainError):
        services.crf_lock(form=form, actor=world.data_manager)
    with pytest.raises(NotPermitted):
        services.crf_lock(form=_complete(world, rand), actor=world.monitor)


def _post(client, url, version, **values):
    data = {k: str(v) for k, v in VALID.items()} | {k: str(v) for k, v in values.items()}
    return client.post(url, data | {"version": str(version), "reason": "correction"})


def test_conflicting_edits_second_writer_is_refused_and_first_values_survive(client, world, rand, django_user_model):
    from django.test import Client

    form = services.crf_save(model=Demographics, visit=rand, data=VALID, actor=world.nurse_a)
    url = reverse("crf:form", args=[rand.patient.trial_number, "RAND", "demographics"])
    first, second = Client(), Client()
    first.force_login(world.nurse_a)
    second.force_login(world.pi_a)
    # Both open the form at the same version.
    assert b'name="version" value="1"' in first.get(url).content
    assert b'name="version" value="1"' in second.get(url).content
    assert _post(first, url, form.version, weight_kg="72").status_code == 302
    response = _post(second, url, form.version, weight_kg="90", height_cm="180")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Someone else saved this form first" in page and "Your changes were not saved" in page
    assert world.nurse_a.get_full_name() in page
    assert '<span class="old-value">70.0</span>' in page and '<span class="new-value">72.0</span>' in page
    form.refresh_from_db()
    assert form.weight_kg == Decimal("72") and form.height_cm == Decimal("170")


def test_two_first_saves_of_the_same_form_do_not_overwrite(client, world, rand):
    url = reverse("crf:form", args=[rand.patient.trial_number, "RAND", "demographics"])
    client.force_login(world.nurse_a)
    assert _post(client, url, 0, weight_kg="65").status_code == 302
    client.force_login(world.pi_a)
    response = _post(client, url, 0, weight_kg="99")
    assert b"started this form after you opened it" in response.content
    assert Demographics.objects.get().weight_kg == Decimal("65")


def test_hard_check_error_is_shown_next_to_the_field_and_nothing_is_lost(client, world, patient):
    c1 = patient.visits.get(code="C1")
    url = reverse("crf:form", args=[patient.trial_number, "C1", "lutathera_dosing"])
    client.force_login(world.nurse_a)
    client.post(url, {"batch_id": "B-7", "version": "0"})
    form = LutatheraDosing.objects.get(visit=c1)
    response = client.post(
        url,
        {"batch_id": "B-7", "dose_level": "full", "administered_activity_mbq": "5000", "version": str(form.version)},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "A full dose is 7,400 MBq ± 10 %" in page
    assert 'id="error_1_id_administered_activity_mbq"' in page or "is-invalid" in page
    assert 'value="5000"' in page  # what the nurse typed is still in the form
    form.refresh_from_db()
    assert form.batch_id == "B-7" and form.administered_activity_mbq is None


def test_queries_raise_answer_close_and_reopen(client, world, rand):
    form = _complete(world, rand)
    with pytest.raises(NotPermitted):
        services.query_raise(form=form, field="height_cm", text="Check", actor=world.nurse_a)
    client.force_login(world.monitor)
    action = reverse("crf:action", args=[rand.patient.trial_number, "RAND", "demographics", "query"])
    client.post(action, {"field": "height_cm", "text": "Source says 171 cm?"})
    query = Query.objects.get()
    assert query.raised_by == world.monitor and query.status == Query.Status.OPEN
    # Shown on the form at the field, on the patient page and on the site's home, with its age.
    client.force_login(world.nurse_a)
    form_page = client.get(reverse("crf:form", args=[rand.patient.trial_number, "RAND", "demographics"])).content
    assert b"Source says 171 cm?" in form_page and b"Open query" in form_page
    assert b"1 query" in client.get(rand.patient.get_absolute_url()).content
    home = client.get(reverse("home")).content.decode()
    assert "1 open query" in home and "0 days" in home
    detail = reverse("crf:query_detail", args=[query.pk])
    client.post(detail, {"action": "answer", "text": "Corrected to 171"})
    query.refresh_from_db()
    assert query.status == Query.Status.ANSWERED
    with pytest.raises(NotPermitted):
        services.query_close(query=query, actor=world.nurse_a)
    client.force_login(world.monitor)
    client.post(detail, {"action": "reopen", "text": "Still 170 on the form"})
    query.refresh_from_db()
    assert query.status == Query.Status.OPEN
    client.post(detail, {"action": "close", "text": "OK"})
    query.refresh_from_db()
    assert query.status == Query.Status.CLOSED and query.closed_at
    assert list(query.messages.values_list("text", flat=True)) == ["Corrected to 171", "Still 170 on the form", "OK"]
    kinds = set(AuditEvent.objects.filter(target_id=str(query.pk)).values_list("kind", flat=True))
    assert {"query_raised", "query_closed"} <= kinds
    with pytest.raises(DomainError):
        services.query_answer(query=query, text="late", actor=world.nurse_a)


def test_query_age_in_days(world, rand):
    form = _complete(world, rand)
    query = services.query_raise(form=form, field="height_cm", text="?", actor=world.data_manager)
    Query.objects.filter(pk=query.pk).update(created_at=timezone.now() - dt.timedelta(days=9, hours=1))
    query.refresh_from_db()
    assert query.age_days() == 9


# Visits


def test_visits_are_created_on_randomisation_per_arm(world):
    a = scheduled_patient(world.site_a, arm="A")
    b = scheduled_patient(world.site_a, arm="B")
    assert set(a.visits.values_list("code", flat=True)) == {"RAND", "LOG"} | {
        f"FU{m:02d}" for m in (3, 6, 9, 12, 18, 24, 30, 36)
    }
    assert set(b.visits.values_list("code", flat=True)) - set(a.visits.values_list("code", flat=True)) == {
        "C1",
        "C2",
        "SB1",
        "SB2",
        "SB3",
    }
    assert all(
        v.history.first().history_change_reason.startswith(("Scheduled", "Patient logs")) for v in b.visits.all()
    )


def test_randomising_creates_the_schedule(world, blocks_design_crf):
    from randomisation.services import patient_randomise

    patient = blocks_design_crf
    allocation = patient_randomise(patient=patient, actor=world.nurse_a)
    codes = set(patient.visits.values_list("code", flat=True))
    assert "FU36" in codes and ("C1" in codes) == (allocation.arm == "B")


@pytest.fixture
def blocks_design_crf(world, blocks_design, make_patient):
    return make_patient()


def test_a_late_first_dose_moves_cycle_2_and_safety_bloods_only(world):
    patient = scheduled_patient(world.site_a, resection_days_ago=75, randomised_days_ago=40)
    before = {v.code: v.target_date for v in patient.visits.all()}
    c1 = patient.visits.get(code="C1")
    late = c1.target_date + dt.timedelta(days=12)
    assert late <= TODAY
    data = {"dose_date": late, "dose_level": "full", "administered_activity_mbq": Decimal("7400")}
    services.crf_save(model=LutatheraDosing, visit=c1, data=data, actor=world.nurse_a)
    after = {v.code: v.target_date for v in patient.visits.all()}
    assert after["C2"] == late + dt.timedelta(weeks=8)
    for code in ("SB1", "SB2", "SB3"):
        assert after[code] - before[code] == dt.timedelta(days=12)
    for code in ("RAND", "C1", "FU03", "FU06", "FU12", "FU36"):
        assert after[code] == before[code]
    moved = patient.visits.get(code="C2").history.first()
    assert moved.history_change_reason == "Rescheduled after the actual cycle 1 dose"


def test_visit_states(world):
    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    visits = {v.code: v for v in patient.visits.all()}
    assert visits["FU36"].state() == Visit.State.UPCOMING
    assert visits["FU03"].state() == Visit.State.DUE  # resection + 3 months ± 14 days
    assert visits["C1"].state() == Visit.State.OVERDUE  # window closed 30 days ago
    assert visits["LOG"].state() == Visit.State.ONGOING
    services.visit_mark_done(visit=visits["RAND"], day=TODAY - dt.timedelta(days=60), actor=world.nurse_a)
    assert Visit.objects.get(pk=visits["RAND"].pk).state() == Visit.State.DONE
    with pytest.raises(DomainError, match="reason"):
        services.visit_mark_missed(visit=visits["C1"], reason=" ", actor=world.nurse_a)
    services.visit_mark_missed(visit=visits["C1"], reason="Patient in hospital", actor=world.nurse_a)
    assert Visit.objects.get(pk=visits["C1"].pk).state() == Visit.State.MISSED
    Patient.objects.filter(pk=patient.pk).update(status=Patient.Status.WITHDRAWN)
    assert Visit.objects.get(pk=visits["FU36"].pk).state() == Visit.State.NOT_APPLICABLE
    assert Visit.objects.get(pk=visits["RAND"].pk).state() == Visit.State.DONE


def test_unscheduled_visit_needs_a_reason(client, world, patient):
    client.force_login(world.nurse_a)
    url = reverse("crf:visit_unscheduled", args=[patient.trial_number])
    client.post(url, {"day": TODAY.isoformat(), "reason": ""})
    assert not patient.visits.filter(code="U1").exists()
    response = client.post(url, {"day": TODAY.isoformat(), "reason": "Abdominal pain"})
    visit = patient.visits.get(code="U1")
    assert response.status_code == 302 and visit.unscheduled_reason == "Abdominal pain"
    assert client.get(reverse("crf:form", args=[patient.trial_number, "U1", "laboratory"])).status_code == 200


def test_nurse_home_lists_due_and_overdue_visits(client, world):
    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    other = scheduled_patient(world.site_b, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    page = client.get(reverse("home")).content.decode()
    due_part, overdue_part = page.split("Visits due this week")[1].split("Overdue")[:2]
    assert f"{patient.trial_number} · Follow-up month 3" in due_part
    assert f"{patient.trial_number} · Cycle 1 Lutathera" in overdue_part
    assert other.trial_number not in page


def test_nurse_home_shows_ten_of_each_list_with_the_totals_and_the_full_lists_page(client, world):
    patients = [scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60) for _ in range(12)]
    client.force_login(world.nurse_a)
    page = client.get(reverse("home")).content.decode()
    overdue_part = page.split("Overdue (")[1].split("</section>")[0]
    # Each patient has two visits overdue (randomisation and cycle 1): 24, of which 10 shown.
    assert overdue_part.count("<li>") == 10 and "All 24 overdue visits" in overdue_part
    week = client.get(reverse("reports:overdue_visits"), {"when": "week"}).content.decode()
    assert all(p.trial_number in week for p in patients) and "Follow-up month 3" in week
    full = client.get(reverse("reports:overdue_visits")).content.decode()
    assert full.count("Cycle 1 Lutathera") == 12


def test_schedule_page_for_the_trial_manager_only(client, world, settings):
    settings.VISIT_SCHEDULE_OVERRIDES = {"C1": {"window_before": 7}}
    client.force_login(world.trial_manager)
    page = client.get(reverse("crf:schedule")).content.decode()
    assert "Cycle 2 Lutathera" in page and "8 weeks after cycle 1 dose" in page and "overridden" in page
    client.force_login(world.nurse_a)
    assert client.get(reverse("crf:schedule")).status_code == 403


def test_log_entries_are_repeating(client, world, patient):
    client.force_login(world.nurse_a)
    url = reverse("crf:form", args=[patient.trial_number, "LOG", "con_med"])
    for drug in ("Paracetamol", "Omeprazole"):
        response = client.post(
            url, {"drug": drug, "indication": "x", "start_date": "2026-01-01", "ongoing": "true", "version": "0"}
        )
        assert response.status_code == 302
    assert patient.visits.get(code="LOG").state() == "ongoing"
    from crf.models import ConcomitantMedication

    assert sorted(ConcomitantMedication.objects.values_list("drug", flat=True)) == ["Omeprazole", "Paracetamol"]


pytestmark = requirement_marks(
    pytestmark, "URS-CRF-004", "URS-CRF-005", "URS-CRF-006", "URS-QRY-001", "URS-VIS-001", "URS-VIS-002", "URS-AUD-002"
)


def test_patient_page_says_what_is_due_next_and_the_form_shows_progress(client, world):
    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.nurse_a)
    first = client.get(patient.get_absolute_url()).content.decode().split("What happens next")[1]
    assert "Randomisation and baseline" in first.split("</section>")[0]  # not yet recorded as done
    rand = patient.visits.get(code="RAND")
    services.visit_mark_done(visit=rand, day=rand.target_date, actor=world.nurse_a)
    page = client.get(patient.get_absolute_url()).content.decode()
    what_next = page.split("What happens next")[1].split("</section>")[0]
    assert "Cycle 1 Lutathera" in what_next and "Overdue" in what_next
    services.crf_save(model=Demographics, visit=rand, data={"height_cm": Decimal("170")}, actor=world.nurse_a)
    form_page = client.get(reverse("crf:form", args=[patient.trial_number, "RAND", "demographics"])).content.decode()
    assert 'aria-valuenow="1"' in form_page and 'aria-valuemax="3"' in form_page


def test_nurse_home_totals_equal_the_full_lists_whatever_the_visits(world):
    """The two totals come from one query over visits started by next week: they must equal the
    lengths of the full lists, with LOG visits, future windows, done, missed and off-study
    patients and other sites all in play."""
    import datetime as dt

    from django.utils import timezone

    from crf.selectors import visits_due, visits_due_queries
    from patients.models import Patient

    today = timezone.localdate()
    mixed = [
        scheduled_patient(world.site_a, resection_days_ago=days, randomised_days_ago=days - 40)
        for days in (60, 100, 150, 400)
    ]
    mixed[1].visits.filter(code="FU03").update(done_on=today)
    mixed[2].visits.filter(code="C1").update(missed_reason="Patient unwell")
    Patient.objects.filter(pk=mixed[3].pk).update(status=Patient.Status.WITHDRAWN)
    scheduled_patient(world.site_b, resection_days_ago=100, randomised_days_ago=60)
    figures = visits_due(user=world.nurse_a, today=today)
    full = visits_due_queries(user=world.nurse_a, today=today)
    assert figures["due_count"] == full["week"].count() > 0
    assert figures["overdue_count"] == full["overdue"].count() > 0
    assert not full["week"].filter(code="LOG").exists()
    later = visits_due(user=world.nurse_a, today=today + dt.timedelta(days=200))
    assert later["overdue_count"] > figures["overdue_count"]
    assert (
        later["overdue_count"]
        == visits_due_queries(user=world.nurse_a, today=today + dt.timedelta(days=200))["overdue"].count()
    )
