"""Source data verification of consent, eligibility and SAE records (issue 26, item 3).

Sources of the rules under test:
- ICH E6(R3) 3.11.4: monitoring verifies that the trial data match the source records; a change
  after verification means the monitor must look again.
- crf.sdv_plan.OTHER_RECORDS (the monitoring plan of this trial): informed consent, the eligibility
  assessment and every SAE report are verified at 100 %.
- Issue 26, item 3: "after a change, the changed fields are highlighted and the form shows
  'verification cleared by <who> on <when>' as a banner, not a green button"; item 2: each count
  links to its filtered list of exactly that many items.
- core.policy: SDV is the monitor's (ICH E6(R3) 3.11.4); site staff never verify; another site's
  records are 404 to site staff (conventions §4).

The expected values below are written from those rules, not read from the code's output.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, RecordVerification
from core.errors import NotPermitted
from core.signatures import content_digest
from core.verification import VerificationRefused, record_verify, verification_state
from patients import services as patients
from patients.models import Consent, EligibilityAssessment
from safety import services as safety
from safety.models import SaeReport
from tests.core.records import verifiable_records
from tests.patients.factories import eligible_answers

pytestmark = [pytest.mark.django_db, pytest.mark.requirement("URS-CRF-004")]

QUEUE = "reports:sdv_records"


@pytest.fixture
def records(world):
    return verifiable_records(world.site_a)


def _withdraw_samples(client, nurse, consent, day):
    client.force_login(nurse)
    url = reverse("patients:sample_consent_withdraw", args=[consent.patient.trial_number])
    response = client.post(url, {"withdrawn_on": day.isoformat(), "reason": "Patient asked to stop the samples"})
    assert response.status_code == 302, response.content[:2000]


ROW = re.compile(r'class="sdv-record-row" data-kind="([a-z_]+)" data-id="(\d+)"')


def _queue_rows(client, url=None, **params) -> list[tuple[str, int]]:
    """(kind, record id) of each row the queue page lists (first page)."""
    body = client.get(url or reverse(QUEUE), params).content.decode()
    return [(kind, int(pk)) for kind, pk in ROW.findall(body)]


# A monitor verifies each of the three kinds -----------------------------------------------------


@pytest.mark.parametrize("which", ["consent", "assessment", "report"])
def test_a_monitor_verifies_each_kind_with_who_when_and_the_content_digest(world, records, which):
    record = getattr(records, which)
    before = timezone.now()

    verification = record_verify(record=record, actor=world.monitor)

    assert verification.verified_by == world.monitor
    assert before <= verification.verified_at <= timezone.now()
    fresh = type(record).objects.get(pk=record.pk)
    assert verification.content_hash == content_digest(fresh)
    assert verification.site_code == "GB01"
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.RECORD_VERIFIED, target_id=str(record.pk))
    assert event.actor == world.monitor
    assert event.target_type == record._meta.label_lower
    assert event.detail["content_hash"] == verification.content_hash
    assert event.site_code == "GB01"


@pytest.mark.parametrize(
    ("which", "url_of"),
    [
        ("consent", lambda r: reverse("patients:consent_verify", args=[r.patient.trial_number, r.pk])),
        ("assessment", lambda r: reverse("patients:eligibility_verify", args=[r.patient.trial_number])),
        ("report", lambda r: reverse("safety:sae_verify", args=[r.pk])),
    ],
)
def test_the_monitor_verifies_from_the_queue_and_returns_to_it(client, world, records, which, url_of):
    record = getattr(records, which)
    client.force_login(world.monitor)
    queue = reverse(QUEUE) + "?status=awaiting"

    response = client.post(url_of(record), {"next": queue})

    assert response.status_code == 302 and response["Location"] == queue
    assert RecordVerification.objects.filter(object_id=record.pk, verified_by=world.monitor).count() == 1
    # The verified record leaves the awaiting list and appears under "verified".
    assert (_kind(which), record.pk) not in _queue_rows(client, status="awaiting")
    assert _queue_rows(client, status="verified") == [(_kind(which), record.pk)]


def _kind(which):
    return {"consent": "consent", "assessment": "eligibility", "report": "sae_report"}[which]


def test_the_monitor_verifies_from_the_records_own_page(client, world, records):
    client.force_login(world.monitor)
    patient_page = client.get(records.consent.patient.get_absolute_url()).content.decode()
    consent_url = reverse("patients:consent_verify", args=[records.consent.patient.trial_number, records.consent.pk])
    assert f'action="{consent_url}"' in patient_page
    sae_page = client.get(reverse("safety:sae_detail", args=[records.report.pk])).content.decode()
    assert f'action="{reverse("safety:sae_verify", args=[records.report.pk])}"' in sae_page

    response = client.post(reverse("safety:sae_verify", args=[records.report.pk]))

    assert response["Location"] == reverse("safety:sae_detail", args=[records.report.pk])
    page = client.get(reverse("safety:sae_detail", args=[records.report.pk])).content.decode()
    assert "Source data verified by" in page
    assert f'action="{reverse("safety:sae_verify", args=[records.report.pk])}"' not in page  # no second verify


def test_a_second_verification_of_unchanged_content_is_refused(world, records):
    record_verify(record=records.consent, actor=world.monitor)
    with pytest.raises(VerificationRefused):
        record_verify(record=records.consent, actor=world.monitor)
    assert RecordVerification.objects.filter(object_id=records.consent.pk, kind="consent").count() == 1


def test_a_record_not_yet_ready_is_not_verified(world, records):
    """The plan verifies what the investigator confirmed and what the site sent to the sponsor."""
    pending = records.assessment
    patients.eligibility_save(
        actor=world.nurse_a,
        patient=pending.patient,
        data=eligible_answers(pending.patient, ecog=0),
        reason="ECOG corrected from the clinic letter",
    )
    assert EligibilityAssessment.objects.get(pk=pending.pk).outcome == EligibilityAssessment.Outcome.PENDING
    with pytest.raises(VerificationRefused, match="confirmed"):
        record_verify(record=EligibilityAssessment.objects.get(pk=pending.pk), actor=world.monitor)
    draft = SaeReport.objects.create(
        adverse_event=records.report.adverse_event, number=1, aware_at=timezone.now(), due_at=timezone.now()
    )
    with pytest.raises(VerificationRefused, match="sent it to the sponsor"):
        record_verify(record=draft, actor=world.monitor)
    assert not RecordVerification.objects.exists()


# A change clears the verification: queue "changed since verified", banner, changed fields --------


def test_a_nurse_edit_of_a_verified_consent_clears_it_with_banner_and_changed_field(client, world, records):
    consent = records.consent
    record_verify(record=consent, actor=world.monitor)
    day = timezone.localdate() - dt.timedelta(days=1)

    _withdraw_samples(client, world.nurse_a, consent, day)

    verification = RecordVerification.objects.get(object_id=consent.pk, kind="consent")
    assert verification.cleared_by == world.nurse_a
    assert verification.cleared_at is not None
    assert "Patient asked to stop the samples" in verification.cleared_reason
    cleared = AuditEvent.objects.get(kind=AuditEvent.Kind.VERIFICATION_CLEARED, target_id=str(consent.pk))
    assert cleared.actor == world.nurse_a
    # The queue shows it again, as changed since verified.
    client.force_login(world.monitor)
    assert _queue_rows(client, status="changed") == [("consent", consent.pk)]
    assert _queue_rows(client, status="verified") == []
    # The record's page: the banner names who cleared it and when, and the field that changed.
    page = client.get(consent.patient.get_absolute_url()).content.decode()
    when = timezone.localtime(verification.cleared_at, dt.UTC).strftime("%d %b %Y %H:%M")
    assert f"Verification cleared by {world.nurse_a.full_name} on {when} UTC" in page
    changed = re.findall(
        r'<tr class="sdv-changed"><th scope="row">([^<]+)</th><td><span class="old-value">([^<]+)', page
    )
    assert changed == [("Sample consent withdrawn on", "—")]
    assert f'<span class="new-value">{day.isoformat()}</span>' in page
    # Not a green "verified" status while the verification stands cleared.
    assert "Source data verified by" not in page


def test_a_change_to_the_adverse_event_clears_the_sae_report_verification(world, records):
    """The SAE report's content covers its adverse event (SaeReport.signed_related_content)."""
    report = records.report
    record_verify(record=report, actor=world.monitor)
    ae = report.adverse_event
    data = {f: getattr(ae, f) for f in ("term", "onset_date", "stop_date", "ongoing", "serious", "aware_at")}
    data |= {
        "grade": 4,
        "criterion_hospitalisation": True,
        "causality_lutathera": "possible",
        "causality_amino_acids": "unrelated",
        "causality_procedures": "unrelated",
        "action_taken": "delayed",
        "outcome": "recovering",
    }

    safety.ae_save(patient=ae.patient, instance=ae, data=data, actor=world.nurse_a, reason="Grade 4 on the ward notes")

    verification = RecordVerification.objects.get(object_id=report.pk, kind="sae_report")
    assert verification.cleared_by == world.nurse_a
    state = verification_state(record=SaeReport.objects.get(pk=report.pk), user=world.monitor)
    assert [(c.label, c.was, c.now) for c in state.changed] == [("Adverse event: CTCAE v5 grade", "3", "4")]
    assert state.may_verify is True


def test_a_change_made_outside_the_services_shows_as_cleared_by_its_digest(world, records):
    consent = records.consent
    record_verify(record=consent, actor=world.monitor)
    Consent.objects.filter(pk=consent.pk).update(tissue=True)  # as a direct database edit would

    state = verification_state(record=Consent.objects.get(pk=consent.pk), user=world.monitor)

    assert state.in_force is None and state.cleared is not None
    assert [(c.label, c.was, c.now) for c in state.changed] == [("Use of stored tumour tissue", "No", "Yes")]


# Who may: the monitor only; another site's record is 404 to site staff --------------------------


@pytest.mark.parametrize("role", ["nurse_a", "pi_a", "data_manager", "trial_manager", "statistician"])
def test_nobody_but_the_monitor_verifies(client, world, records, role):
    user = getattr(world, role)
    for record in records.all():
        with pytest.raises(NotPermitted):
            record_verify(record=record, actor=user)
    client.force_login(user)
    for url in _verify_urls(records):
        assert client.post(url).status_code == 403
    assert not RecordVerification.objects.exists()


def _verify_urls(records):
    return [
        reverse("patients:consent_verify", args=[records.consent.patient.trial_number, records.consent.pk]),
        reverse("patients:eligibility_verify", args=[records.assessment.patient.trial_number]),
        reverse("safety:sae_verify", args=[records.report.pk]),
    ]


def test_another_sites_records_are_404_to_site_staff_and_absent_from_their_lists(client, world, records):
    client.force_login(world.nurse_b)
    for url in _verify_urls(records):
        assert client.post(url).status_code == 404
    client.force_login(world.monitor)
    # GB01's awaiting records: two consents (the SAE patient's and the eligibility patient's), one
    # confirmed eligibility assessment, one SAE report sent to the sponsor.
    assert len(_queue_rows(client)) == 4
    # The monitor's site filter: NL01 has none of GB01's records.
    assert _queue_rows(client, site="NL01") == []


def test_the_queue_is_for_monitors_and_data_management(client, world, records):
    for role, want in (("monitor", 200), ("data_manager", 200), ("trial_manager", 200), ("nurse_a", 403)):
        client.force_login(getattr(world, role))
        assert client.get(reverse(QUEUE)).status_code == want, role
    client.force_login(world.data_manager)
    assert "Mark verified" not in client.get(reverse(QUEUE)).content.decode()


# Counts link to exactly that many items; the page costs the same at any size -----------------------


def test_each_count_links_to_a_list_of_exactly_that_many_items(client, world, records):
    extra = verifiable_records(world.site_a)  # each set: two consents, an assessment, an SAE report
    record_verify(record=records.consent, actor=world.monitor)
    record_verify(record=extra.report, actor=world.monitor)
    client.force_login(world.monitor)
    body = client.get(reverse(QUEUE)).content.decode()
    links = re.findall(r'data-kind="([a-z_]+)" data-status="([a-z]+)" href="([^"]+)">(\d+)</a>', body)
    # Written by hand from what was made and verified: 4 consents, 2 assessments, 2 SAE reports at
    # GB01; one consent and one SAE report verified.
    want = {
        ("consent", "awaiting"): 3,
        ("consent", "changed"): 0,
        ("consent", "verified"): 1,
        ("eligibility", "awaiting"): 2,
        ("eligibility", "changed"): 0,
        ("eligibility", "verified"): 0,
        ("sae_report", "awaiting"): 1,
        ("sae_report", "changed"): 0,
        ("sae_report", "verified"): 1,
    }
    assert {(k, s): int(n) for k, s, _href, n in links} == want
    for kind, status, href, n in links:
        rows = _queue_rows(client, reverse(QUEUE) + href.replace("&amp;", "&"))
        assert [k for k, _pk in rows] == [kind] * int(n), (kind, status, href)


def test_the_queue_page_costs_the_same_queries_at_one_and_at_three_records_of_each_kind(client, world):
    verifiable_records(world.site_a)
    client.force_login(world.monitor)
    with CaptureQueriesContext(connection) as small:
        assert client.get(reverse(QUEUE)).status_code == 200
    verifiable_records(world.site_a)
    verifiable_records(world.site_b)
    with CaptureQueriesContext(connection) as large:
        assert client.get(reverse(QUEUE), {"status": "awaiting"}).status_code == 200
    assert len(large) == len(small)
