"""Safety: AEs, the SAE report and its 24-hour clock, the PI's e-signature, sponsor review and SUSAR
clocks, grade 5 and the death record, listings."""

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from core.errors import DomainError, NotPermitted
from core.signatures import SignatureRefused, signature_status
from crf import services as crf_services
from crf.models import EndOfStudy
from safety import clocks, services
from safety.models import SaeReport
from tests.safety.factories import AE, rsi, serious_ae
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db
ASSESSMENT = {
    "pi_causality_lutathera": "probable",
    "pi_causality_amino_acids": "unrelated",
    "pi_causality_procedures": "unlikely",
    "pi_expectedness": "unexpected",
}
UTC = dt.UTC


def _ready(report, nurse):
    return services.sae_update(report=report, data={"narrative": "Admitted with fever 38.9."}, actor=nurse)


def test_serious_ae_opens_exactly_one_sae_report_due_24_hours_after_awareness(world):
    aware = dt.datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    ae = serious_ae(world.site_a, world.nurse_a, aware_at=aware)
    [report] = SaeReport.objects.filter(adverse_event=ae)
    assert report.number == 0 and report.due_at == aware + dt.timedelta(hours=24)
    # Saving the AE again (still serious) does not open a second report.
    services.ae_save(
        patient=ae.patient,
        data={"term": "Neutropenic fever"},
        actor=world.nurse_a,
        instance=ae,
        reason="MedDRA wording",
    )
    assert SaeReport.objects.filter(adverse_event=ae).count() == 1
    follow = services.sae_follow_up(report=report, actor=world.nurse_a)
    assert follow.number == 1


def test_not_serious_ae_opens_no_report(world):
    ae = serious_ae(world.site_a, world.nurse_a, serious=False, criterion_hospitalisation=False)
    assert not ae.sae_reports.exists()


def test_awareness_typed_in_the_site_timezone_through_the_page(client, world):
    """GB01 is Europe/London: 10:00 on 1 July (BST) is 09:00 UTC, so the report is due 09:00 UTC the next day."""
    from tests.crf.factories import scheduled_patient

    patient = scheduled_patient(world.site_a)
    client.force_login(world.nurse_a)
    data = {k: v for k, v in AE.items() if v not in (None, False)} | {
        "onset_date": "2026-06-30",
        "aware_at": "2026-07-01T10:00",
        "grade": "3",
        "ongoing": "on",
        "serious": "on",
        "criterion_hospitalisation": "on",
    }
    response = client.post(reverse("safety:ae_new", args=[patient.trial_number]), data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    report = SaeReport.objects.get(adverse_event__patient=patient)
    assert report.aware_at == dt.datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert report.due_at == dt.datetime(2026, 7, 2, 9, 0, tzinfo=UTC)
    assert response["Location"] == reverse("safety:sae_detail", args=[report.pk])


@pytest.mark.parametrize(
    ("tz", "local", "utc"),
    [
        ("Europe/London", dt.datetime(2026, 1, 15, 10, 0), dt.datetime(2026, 1, 15, 10, 0)),
        ("Europe/London", dt.datetime(2026, 7, 15, 10, 0), dt.datetime(2026, 7, 15, 9, 0)),
        ("Europe/Amsterdam", dt.datetime(2026, 3, 29, 1, 30), dt.datetime(2026, 3, 29, 0, 30)),
        ("Europe/Amsterdam", dt.datetime(2026, 3, 29, 3, 30), dt.datetime(2026, 3, 29, 1, 30)),
    ],
)
def test_site_local_time_to_utc(tz, local, utc):
    assert clocks.local_to_utc(local, tz) == utc.replace(tzinfo=UTC)


def test_the_24_hour_clock_is_elapsed_time_across_dst():
    # Awareness 12:00 London on 28 March 2026 (GMT); clocks go forward that night.
    aware = clocks.local_to_utc(dt.datetime(2026, 3, 28, 12, 0), "Europe/London")
    due = clocks.sae_initial_due(aware)
    assert due - aware == dt.timedelta(hours=24)
    assert due.astimezone(ZoneInfo("Europe/London")).hour == 13  # 13:00 BST on the wall clock


@pytest.mark.parametrize(
    ("aware_local", "severe", "due_local"),
    [
        # Ordinary weeks, sponsor in London.
        (dt.datetime(2026, 2, 2, 9, 0), True, dt.datetime(2026, 2, 9, 9, 0)),
        (dt.datetime(2026, 2, 2, 9, 0), False, dt.datetime(2026, 2, 17, 9, 0)),
        # Across the spring DST change (29 March 2026): same wall-clock time, 1 hour less elapsed.
        (dt.datetime(2026, 3, 25, 10, 0), True, dt.datetime(2026, 4, 1, 10, 0)),
        (dt.datetime(2026, 3, 20, 10, 0), False, dt.datetime(2026, 4, 4, 10, 0)),
        # Across the autumn change (25 October 2026).
        (dt.datetime(2026, 10, 20, 23, 30), True, dt.datetime(2026, 10, 27, 23, 30)),
        (dt.datetime(2026, 10, 20, 23, 30), False, dt.datetime(2026, 11, 4, 23, 30)),
        # Year end.
        (dt.datetime(2026, 12, 28, 8, 0), False, dt.datetime(2027, 1, 12, 8, 0)),
    ],
)
def test_susar_deadlines(aware_local, severe, due_local):
    tz = ZoneInfo("Europe/London")
    aware = aware_local.replace(tzinfo=tz)
    due = clocks.susar_due(aware, fatal_or_life_threatening=severe, tz_name="Europe/London")
    assert due == due_local.replace(tzinfo=tz)


def test_susar_elapsed_time_is_one_hour_short_across_spring_dst():
    aware = dt.datetime(2026, 3, 25, 10, 0, tzinfo=ZoneInfo("Europe/London"))
    due = clocks.susar_due(aware, fatal_or_life_threatening=True, tz_name="Europe/London")
    assert due - aware == dt.timedelta(days=7) - dt.timedelta(hours=1)


def test_timelines_are_configuration_data_changed_by_the_trial_manager_with_a_reason(world):
    with pytest.raises(NotPermitted):
        services.timelines_update(actor=world.data_manager, data={"susar_other_days": 10}, reason="x")
    with pytest.raises(DomainError):
        services.timelines_update(actor=world.trial_manager, data={"susar_other_days": 10}, reason="")
    services.timelines_update(
        actor=world.trial_manager, data={"susar_other_days": 10, "sae_initial_hours": 12}, reason="Amendment 3"
    )
    aware = dt.datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    assert clocks.susar_due(aware, fatal_or_life_threatening=False, tz_name="UTC") == aware + dt.timedelta(days=10)
    assert clocks.sae_initial_due(aware) == aware + dt.timedelta(hours=12)
    with pytest.raises(DomainError, match="time zone"):
        services.timelines_update(actor=world.trial_manager, data={"sponsor_timezone": "Mars/Olympus"}, reason="x")


def test_timelines_page_shows_values_sources_and_changes(client, world):
    client.force_login(world.trial_manager)
    url = reverse("safety:timelines")
    page = client.get(url).content.decode()
    assert "reg. 33(2)" in page and "never changed" in page
    response = client.post(
        url,
        {
            "sae_initial_hours": 24,
            "susar_fatal_days": 7,
            "susar_fatal_followup_days": 8,
            "susar_other_days": 15,
            "sponsor_timezone": "Europe/Amsterdam",
            "reason": "Sponsor moved to Rotterdam",
        },
    )
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "Europe/Amsterdam" in page and "Sponsor moved to Rotterdam" in page
    client.force_login(world.pi_a)
    assert client.get(url).status_code == 403


def test_wrong_password_is_refused_and_audited_right_one_records_the_manifestation(world, password):
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a)
    report = _ready(ae.sae_reports.get(), world.nurse_a)
    with pytest.raises(SignatureRefused):
        services.sae_sign(report=report, actor=world.pi_a, password="wrong", assessment=ASSESSMENT)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_FAILED, actor=world.pi_a).exists()
    assert not signature_status(obj=report)
    report = services.sae_sign(report=report, actor=world.pi_a, password=password, assessment=ASSESSMENT)
    [(signature, valid)] = signature_status(obj=report)
    assert valid
    assert signature.meaning == "I confirm my causality and expectedness assessment"
    assert signature.signer_name == world.pi_a.get_full_name() and signature.signed_at
    assert len(signature.content_hash) == 64
    assert report.rsi.version == "2024-06" and report.pi_causality_lutathera == "probable"


def test_editing_the_signed_report_invalidates_the_signature_with_the_reason(client, world, password):
    rsi()
    report = _ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a)
    report = services.sae_sign(report=report, actor=world.pi_a, password=password, assessment=ASSESSMENT)
    with pytest.raises(DomainError):  # a reason is needed once signed
        services.sae_update(report=report, data={"treatment": "IV antibiotics"}, actor=world.nurse_a)
    services.sae_update(
        report=report,
        data={"treatment": "IV antibiotics"},
        actor=world.nurse_a,
        reason="Treatment from discharge letter",
    )
    [(signature, valid)] = signature_status(obj=SaeReport.objects.get(pk=report.pk))
    assert not valid and "Treatment from discharge letter" in signature.invalidated_reason
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.SIGNATURE_INVALIDATED, target_id=str(report.pk))
    assert event.reason == "Treatment from discharge letter" and event.actor == world.nurse_a
    client.force_login(world.pi_a)
    page = client.get(reverse("safety:sae_detail", args=[report.pk])).content.decode()
    assert "Signature invalidated" in page
    # Re-signing restores a valid signature.
    services.sae_sign(
        report=SaeReport.objects.get(pk=report.pk), actor=world.pi_a, password=password, assessment=ASSESSMENT
    )
    assert services.pi_signed(SaeReport.objects.get(pk=report.pk))


def test_sponsor_review_keeps_both_opinions_and_does_not_invalidate_the_pi_signature(world, password):
    rsi()
    report = _ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a)
    with pytest.raises(DomainError, match="not sent"):
        services.sponsor_review(
            report=report,
            actor=world.trial_manager,
            causality="unlikely",
            expectedness="unexpected",
            sponsor_aware_at=timezone.now(),
        )
    report = services.sae_sign(report=report, actor=world.pi_a, password=password, assessment=ASSESSMENT)
    with pytest.raises(NotPermitted):
        services.sponsor_review(
            report=report,
            actor=world.data_manager,
            causality="unlikely",
            expectedness="unexpected",
            sponsor_aware_at=timezone.now(),
        )
    aware = dt.datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    report = services.sponsor_review(
        report=report,
        actor=world.trial_manager,
        causality="unlikely",
        expectedness="unexpected",
        sponsor_aware_at=aware,
    )
    # The sponsor's "unlikely" does not downgrade the PI's "probable": a SUSAR, 15 days (not fatal).
    assert report.pi_causality_lutathera == "probable" and report.sponsor_causality == "unlikely"
    assert report.susar is True and report.susar_followup_due_at is None
    assert report.susar_due_at == dt.datetime(2026, 2, 17, 9, 0, tzinfo=UTC)
    assert services.pi_signed(report)


def test_fatal_or_life_threatening_susar_gets_7_days_and_a_follow_up(world, password):
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a, criterion_life_threatening=True)
    report = services.sae_sign(
        report=_ready(ae.sae_reports.get(), world.nurse_a), actor=world.pi_a, password=password, assessment=ASSESSMENT
    )
    aware = dt.datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    report = services.sponsor_review(
        report=report,
        actor=world.trial_manager,
        causality="probable",
        expectedness="unexpected",
        sponsor_aware_at=aware,
    )
    assert report.susar_due_at == dt.datetime(2026, 2, 9, 9, 0, tzinfo=UTC)
    # The follow-up falls due only once the initial report was sent (test_reporting).
    assert report.susar_severe is True and report.susar_followup_due_at is None


def test_expected_or_unrelated_is_not_a_susar(world, password):
    rsi()
    report = services.sae_sign(
        report=_ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a),
        actor=world.pi_a,
        password=password,
        assessment=ASSESSMENT | {"pi_causality_lutathera": "unrelated"},
    )
    report = services.sponsor_review(
        report=report,
        actor=world.trial_manager,
        causality="unlikely",
        expectedness="unexpected",
        sponsor_aware_at=timezone.now(),
    )
    assert report.susar is False and report.susar_due_at is None


def test_a_nurse_cannot_sign_and_site_a_pi_cannot_see_or_sign_site_b(client, world, password):
    rsi()
    report_b = _ready(serious_ae(world.site_b, world.nurse_b).sae_reports.get(), world.nurse_b)
    report_a = _ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a)
    with pytest.raises(NotPermitted):
        services.sae_sign(report=report_a, actor=world.nurse_a, password=password, assessment=ASSESSMENT)
    with pytest.raises(NotPermitted):
        services.sae_sign(report=report_b, actor=world.pi_a, password=password, assessment=ASSESSMENT)
    client.force_login(world.pi_a)
    assert client.get(reverse("safety:sae_detail", args=[report_b.pk])).status_code == 404
    sign = client.post(
        reverse("safety:sae_sign", args=[report_b.pk]), ASSESSMENT | {"password": password, "accept": "on"}
    )
    assert sign.status_code == 404
    assert not signature_status(obj=report_b)
    client.force_login(world.nurse_a)
    page = client.get(reverse("safety:sae_detail", args=[report_a.pk])).content.decode()
    assert "Sign assessment" not in page
    client.post(reverse("safety:sae_sign", args=[report_a.pk]), ASSESSMENT | {"password": password, "accept": "on"})
    assert not signature_status(obj=report_a)


def test_grade_5_requires_the_death_record(world, password):
    rsi()
    ae = serious_ae(
        world.site_a,
        world.nurse_a,
        grade=5,
        outcome="fatal",
        criterion_death=True,
        ongoing=False,
        stop_date=timezone.localdate() - dt.timedelta(days=1),
    )
    assert services.death_record_missing(ae)
    report = _ready(ae.sae_reports.get(), world.nurse_a)
    with pytest.raises(DomainError, match="death form"):
        services.sae_sign(report=report, actor=world.pi_a, password=password, assessment=ASSESSMENT)
    visit = ae.patient.visits.get(code="FU36")
    day = timezone.localdate() - dt.timedelta(days=1)
    end = crf_services.crf_save(
        model=EndOfStudy,
        visit=visit,
        actor=world.nurse_a,
        data={
            "end_date": day,
            "reason": "death",
            "recurrence_free": False,
            "death_date": day,
            "death_cause": "Sepsis",
            "death_relation": "lutathera",
        },
    )
    assert services.death_record_missing(ae)  # saved but not complete yet
    crf_services.crf_mark_complete(form=end, actor=world.nurse_a)
    assert not services.death_record_missing(ae)
    assert services.pi_signed(
        services.sae_sign(report=report, actor=world.pi_a, password=password, assessment=ASSESSMENT)
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"grade": 5}, "outcome"),
        ({"outcome": "fatal"}, "grade"),
        ({"serious": False}, "serious"),
        ({"criterion_hospitalisation": False}, "serious"),
        ({"planned_radiation_admission": True}, "criterion_hospitalisation"),
        ({"aware_at": None}, "aware_at"),
        ({"stop_date": dt.date(2020, 1, 1), "ongoing": False}, "stop_date"),
        ({"dosing_cycle": 1}, "dosing_cycle"),
    ],
)
def test_ae_edit_checks(world, changes, field):
    with pytest.raises(services.AeInvalid) as failure:
        serious_ae(world.site_a, world.nurse_a, **changes)
    assert field in [f for f, _m in failure.value.errors]


def test_listing_by_site_arm_grade_and_causality_with_csv(client, world):
    serious_ae(world.site_a, world.nurse_a, term="=cmd|' /C calc'!A0")
    serious_ae(world.site_b, world.nurse_b, term="Nausea", grade=2, causality_lutathera="definite")
    client.force_login(world.data_manager)
    url = reverse("safety:listing")
    page = client.get(url, {"grade": "2"}).content.decode()
    assert "Nausea" in page and "cmd" not in page
    response = client.get(url, {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {r["Site"] for r in rows} == {"GB01", "NL01"}
    assert next(r for r in rows if r["Site"] == "GB01")["Term"].startswith("'=")  # formula neutralised
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORTED, actor=world.data_manager).exists()
    client.force_login(world.pi_a)
    rows = list(csv.DictReader(io.StringIO(client.get(url, {"format": "csv"}).content.decode("utf-8-sig"))))
    assert {r["Site"] for r in rows} == {"GB01"}
    assert "NL01" not in client.get(url).content.decode()


def test_sae_list_highlights_overdue_reports(client, world):
    late = serious_ae(world.site_a, world.nurse_a, aware_at=timezone.now() - dt.timedelta(hours=30))
    serious_ae(world.site_a, world.nurse_a, aware_at=timezone.now() - dt.timedelta(hours=2))
    client.force_login(world.trial_manager)
    page = client.get(reverse("safety:sae_list")).content.decode()
    assert "overdue by 6 h" in page and "table-danger" in page
    first_row = page.split("<tbody>")[1].split("</tr>")[0]
    assert late.patient.trial_number in first_row


def test_overdue_sae_on_the_trial_managers_home_and_the_sites_only(client, world):
    late = serious_ae(world.site_b, world.nurse_b, aware_at=timezone.now() - dt.timedelta(hours=25))
    client.force_login(world.trial_manager)
    page = client.get(reverse("home")).content.decode()
    assert "1 SAE deadline overdue" in page and late.patient.trial_number in page
    client.force_login(world.nurse_a)
    assert late.patient.trial_number not in client.get(reverse("home")).content.decode()


pytestmark = requirement_marks(
    pytestmark, "URS-SAF-001", "URS-SAF-002", "URS-SAF-003", "URS-SAF-004", "URS-SAF-005", "URS-SIG-001", "URS-SIG-002"
)
