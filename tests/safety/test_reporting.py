"""Safety reporting to ICH E2A, UK SI 2004/1031 and EU CT Regulation 536/2014 (issue 24).

Every expected value here is worked out by hand from the rule cited beside it (protocol.md "Safety
reporting" and "Locks and sign-off"), not read back from the code.
"""

import csv
import datetime as dt
import hashlib
import io
import json
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from accounts.models import AuditEvent, Signature, User
from core.audit import content_fields
from core.errors import DomainError, NotPermitted
from core.roles import SiteRole, TrialRole
from core.signatures import plain_value, signature_status
from crf import services as crf_services
from crf.models import Demographics, EndOfStudy
from safety import clocks, selectors, services
from safety.documents import build_sae_report
from safety.escalations import report_stages
from safety.models import AdverseEvent, ReferenceSafetyInformation, SaeEscalation, SaeReport
from sites.models import Delegation
from tests.accounts.factories import UserFactory
from tests.crf.factories import scheduled_patient
from tests.patients.factories import EligibilityAssessmentFactory, eligible_answers
from tests.safety.factories import rsi, serious_ae

pytestmark = pytest.mark.django_db
UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")
ASSESSMENT = {
    "pi_causality_lutathera": "probable",
    "pi_causality_amino_acids": "unrelated",
    "pi_causality_procedures": "unlikely",
    "pi_expectedness": "unexpected",
}


def _ready(report, nurse):
    return services.sae_update(report=report, data={"narrative": "Admitted with fever 38.9."}, actor=nurse)


def _signed(world, password, **ae_changes):
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a, **ae_changes)
    report = _ready(ae.sae_reports.get(), world.nurse_a)
    return services.sae_sign(report=report, actor=world.pi_a, password=password, assessment=ASSESSMENT)


# 1. The PI's signature covers the SAE report and the AE it reports (21 CFR 11.70) ---------------


def test_changing_the_ae_term_and_grade_after_signing_voids_the_sae_signature_with_the_reason(client, world, password):
    """Review finding: "small bowel obstruction" grade 3 → "intestinal perforation" grade 4,
    life-threatening, after the PI signed left the signature valid. The signature covers the event."""
    report = _signed(world, password, term="Small intestinal obstruction")
    assert services.pi_signed(report)
    ae = report.adverse_event
    services.ae_save(
        patient=ae.patient,
        actor=world.nurse_a,
        instance=ae,
        data={"term": "Intestinal perforation", "grade": 4, "criterion_life_threatening": True},
        reason="CT report: perforation",
    )
    report = SaeReport.objects.get(pk=report.pk)
    [(signature, valid)] = signature_status(obj=report)
    assert not valid and signature.invalidated_at is not None
    assert "The adverse event changed: CT report: perforation" in signature.invalidated_reason
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.SIGNATURE_INVALIDATED, target_id=str(report.pk))
    assert event.actor == world.nurse_a and "perforation" in event.reason
    client.force_login(world.pi_a)
    history = client.get(reverse("safety:sae_history", args=[report.pk])).content.decode()
    assert "invalidated" in history and "The adverse event changed" in history
    page = client.get(reverse("safety:sae_detail", args=[report.pk])).content.decode()
    assert "Signature invalidated" in page


# What the signature covers (issue 23 decision; 21 CFR 11.70, 11.50): the fields it was applied to.
# safety migration 0003 added the report's "investigator's comment" (pi_comment; read from
# safety/migrations/0003_sae_case_versions_timelines_coding.py); a signature taken before it hashed the
# report without it, and the event's fields the SAE signature covers (AdverseEvent.SIGNED_WITH_SAE).
SAFETY_0003 = ("safety", "0003_sae_case_versions_timelines_coding")


def _legacy_sae_signature(report, pi):
    signed_at = MigrationRecorder(connection).migration_qs.get(app=SAFETY_0003[0], name=SAFETY_0003[1]).applied
    ae = report.adverse_event
    content = {f.attname: plain_value(getattr(report, f.attname)) for f in content_fields(report)}
    del content["pi_comment"]
    content |= {f"adverse_event.{n}": plain_value(getattr(ae, n)) for n in AdverseEvent.SIGNED_WITH_SAE}
    canonical = json.dumps(
        {"model": "safety.saereport", "pk": str(report.pk), "content": content},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return Signature.objects.create(
        signer=pi,
        signer_name=pi.get_full_name(),
        signer_username=pi.username,
        meaning="Legacy SAE sign-off",
        signed_at=signed_at - dt.timedelta(microseconds=1),
        content_type=ContentType.objects.get_for_model(SaeReport),
        object_id=str(report.pk),
        content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def test_an_sae_signature_from_before_a_column_existed_holds_and_the_page_shows_what_it_does_not_cover(
    client, world, password
):
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a)
    report = _ready(ae.sae_reports.get(), world.nurse_a)
    report = services.sae_sign(
        report=report,
        actor=world.pi_a,
        password=password,
        assessment=ASSESSMENT | {"pi_comment": "Febrile after cycle 1"},
    )
    report = SaeReport.objects.get(pk=report.pk)
    [(current, valid)] = signature_status(obj=report)
    assert valid and "pi_comment" in current.covered_fields["safety.saereport"]
    assert "adverse_event.grade" in current.covered_fields["safety.saereport"]
    legacy = _legacy_sae_signature(report, world.pi_a)
    status = dict(signature_status(obj=report))
    assert status[current] and status[legacy]
    [not_covered] = next(s for s in status if s == legacy).not_covered
    assert (not_covered.field, not_covered.value) == ("investigator's comment", "Febrile after cycle 1")
    client.force_login(world.pi_a)
    page = client.get(reverse("safety:sae_detail", args=[report.pk])).content.decode()
    assert "Signature invalidated" not in page and page.count(">Signed<") == 2
    assert "added after signing, not covered by the signature" in page
    assert "Febrile after cycle 1" in page

    services.ae_save(
        patient=ae.patient, actor=world.nurse_a, instance=ae, data={"grade": 4}, reason="Grade from the ICU notes"
    )
    report = SaeReport.objects.get(pk=report.pk)
    assert [valid for _s, valid in signature_status(obj=report)] == [False, False]
    legacy.refresh_from_db()
    assert "Grade from the ICU notes" in legacy.invalidated_reason
    page = client.get(reverse("safety:sae_detail", args=[report.pk])).content.decode()
    assert page.count(">Signature invalidated<") == 2


def test_changing_the_ae_through_the_page_voids_the_signature(client, world, password):
    report = _signed(world, password)
    ae = report.adverse_event
    client.force_login(world.nurse_a)
    url = reverse("safety:ae_edit", args=[ae.patient.trial_number, ae.pk])
    form = {
        "term": ae.term,
        "grade": "4",
        "onset_date": ae.onset_date.isoformat(),
        "ongoing": "on",
        "serious": "on",
        "criterion_hospitalisation": "on",
        "aware_at": timezone.localtime(ae.aware_at, LONDON).strftime("%Y-%m-%dT%H:%M"),
        "causality_lutathera": ae.causality_lutathera,
        "causality_amino_acids": ae.causality_amino_acids,
        "causality_procedures": ae.causality_procedures,
        "action_taken": ae.action_taken,
        "outcome": ae.outcome,
        "version": ae.version,
        "reason": "Grade from the discharge letter",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert not services.pi_signed(SaeReport.objects.get(pk=report.pk))


def test_changing_the_ae_through_the_api_voids_the_signature(world, password):
    report = _signed(world, password)
    ae = report.adverse_event
    _token, key = api_token_create(user=world.nurse_a, name="test")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/v1/patients/{ae.patient.trial_number}/adverse-events/{ae.pk}/"
    before = api.get(url).json()
    assert before["sae_reports"][0]["pi_signature_valid"] is True
    without_reason = api.patch(url, {"term": "Sepsis", "expected_version": before["version"]}, format="json")
    assert without_reason.status_code == 400
    response = api.patch(
        url, {"term": "Sepsis", "expected_version": before["version"], "reason": "Blood cultures"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["sae_reports"][0]["pi_signature_valid"] is False
    [(signature, valid)] = signature_status(obj=SaeReport.objects.get(pk=report.pk))
    assert not valid and "Blood cultures" in signature.invalidated_reason


def test_a_coding_free_sponsor_review_does_not_void_the_pi_signature(world, password):
    report = _signed(world, password)
    services.sponsor_review(report=report, actor=world.trial_manager, causality="possible", expectedness="unexpected")
    assert services.pi_signed(SaeReport.objects.get(pk=report.pk))


# 2. The PI's assessment starts blank --------------------------------------------------------------


def test_the_pi_form_opens_blank_and_shows_the_site_reporters_assessment(client, world):
    rsi()
    report = _ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a)
    client.force_login(world.pi_a)
    page = client.get(reverse("safety:sae_detail", args=[report.pk])).content.decode()
    for name in ASSESSMENT:
        select = page.split(f'name="{name}"')[1].split("</select>")[0]
        assert 'value="" selected' in select, name  # the blank choice, nothing pre-set
        assert "selected" not in select.replace('value="" selected', "")
    # The site's own causality (factory: Lutathera "possible") is shown beside the PI's choice.
    assert "site-assessment\">Site reporter's assessment: Possible" in page


def test_missing_answers_or_a_wrong_password_keep_what_the_pi_typed(client, world, password):
    rsi()
    report = _ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a)
    client.force_login(world.pi_a)
    url = reverse("safety:sae_sign", args=[report.pk])
    typed = {
        "pi_causality_lutathera": "definite",
        "pi_comment": "Platelets fell after cycle 1.",
        "accept": "on",
        "username": world.pi_a.username,
    }
    response = client.post(url, typed | {"password": password})
    page = response.content.decode()
    assert response.status_code == 200  # the page again, with the errors (nothing signed)
    assert "Choose the expectedness." in page and "Platelets fell after cycle 1." in page
    assert '<option value="definite" selected>' in page
    response = client.post(url, typed | ASSESSMENT | {"pi_causality_lutathera": "definite", "password": "wrong"})
    page = response.content.decode()
    assert "The password is not correct. Nothing was signed." in page
    assert "Platelets fell after cycle 1." in page and '<option value="unexpected" selected>' in page
    # The error sits in the signature box, beside the password field.
    box = page.split('id="sign-box"')[1]
    assert box.index("The password is not correct") > box.index('name="password"') - 600
    assert not signature_status(obj=report)


def test_the_service_refuses_a_blank_answer_at_its_field(world, password):
    rsi()
    report = _ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a)
    with pytest.raises(services.AssessmentInvalid) as refused:
        services.sae_sign(
            report=report, actor=world.pi_a, password=password, assessment=ASSESSMENT | {"pi_expectedness": ""}
        )
    assert refused.value.errors == [("pi_expectedness", "Choose the expectedness.")]


# 3. The case and its versions; the sponsor does not wait for the PI --------------------------------


def test_the_site_sends_the_initial_report_without_the_pi_and_the_sponsor_classifies_a_susar(world, password):
    """Day 0 = receipt of the site's initial report with the minimum criteria, not the PI's
    signature (protocol; ICH E2A). Not fatal: 15 days on the sponsor's calendar."""
    rsi()
    report = _ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a)
    report = services.sae_submit(report=report, actor=world.nurse_a)
    assert report.submitted_by == world.nurse_a and not signature_status(obj=report)
    received = report.submitted_at
    report = services.sponsor_review(
        report=report, actor=world.trial_manager, causality="probable", expectedness="unexpected"
    )
    assert report.susar is True and report.sponsor_aware_at == received
    local = received.astimezone(LONDON).replace(tzinfo=None)
    assert report.susar_due_at == (local + dt.timedelta(days=15)).replace(tzinfo=LONDON).astimezone(UTC)
    # The PI's later assessment is recorded beside it; a disagreement is shown.
    report = services.sae_sign(
        report=report,
        actor=world.pi_a,
        password=password,
        assessment=ASSESSMENT | {"pi_causality_lutathera": "unrelated"},
    )
    assert report.sponsor_causality == "probable" and report.pi_causality_lutathera == "unrelated"
    assert report.susar is True  # the sponsor's "related" stands: it may upgrade the investigator
    assert services.causality_disagrees(report)


def test_the_sponsor_never_downgrades_the_investigators_causality(world, password):
    report = _signed(world, password)  # PI: probable
    report = services.sponsor_review(
        report=report, actor=world.trial_manager, causality="unrelated", expectedness="unexpected"
    )
    assert report.susar is True


def test_the_sponsor_cannot_review_before_the_site_sent_it(world):
    report = _ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a)
    with pytest.raises(DomainError, match="not sent"):
        services.sponsor_review(
            report=report, actor=world.trial_manager, causality="probable", expectedness="unexpected"
        )


def test_minimum_criteria_a_lutathera_event_names_the_suspect_dose(world):
    """ICH E2A minimum criteria: identifiable patient, reporter, event, suspect product. For an
    event after a Lutathera cycle the suspect product is that dose (cycle and date)."""
    patient = scheduled_patient(world.site_a)
    after_dose = AdverseEvent(patient=patient, term="Thrombocytopenia", dosing_cycle=1)
    missing = services.minimum_criteria_missing(SaeReport(adverse_event=after_dose))
    assert [f for f, _m in missing] == ["last_dose_date"]
    dosed = SaeReport(adverse_event=after_dose, last_dose_cycle=1, last_dose_date=dt.date(2026, 11, 2))
    assert services.minimum_criteria_missing(dosed) == []
    no_term = AdverseEvent(patient=patient, term=" ")
    assert [f for f, _m in services.minimum_criteria_missing(SaeReport(adverse_event=no_term))] == ["term"]


def test_a_follow_up_is_a_numbered_version_recording_what_changed(world):
    ae = serious_ae(world.site_a, world.nurse_a)
    initial = services.sae_submit(report=_ready(ae.sae_reports.get(), world.nurse_a), actor=world.nurse_a)
    follow = services.sae_follow_up(report=initial, actor=world.nurse_a)
    assert follow.number == 1 and follow.narrative == "Admitted with fever 38.9."  # starts from what was known
    services.sae_update(
        report=follow, data={"treatment": "IV antibiotics", "outcome": "recovered"}, actor=world.nurse_a
    )
    follow = services.sae_submit(report=SaeReport.objects.get(pk=follow.pk), actor=world.nurse_a)
    assert {c["field"] for c in follow.changes} == {"treatment", "outcome"}
    assert {"field": "outcome", "old": "", "new": "recovered"} in follow.changes
    with pytest.raises(DomainError, match="already sent"):
        services.sae_submit(report=follow, actor=world.nurse_a)


# 4. Clocks -----------------------------------------------------------------------------------------
# Europe/London in 2026: BST from Sunday 29 March 01:00 UTC to Sunday 25 October 01:00 UTC; in 2025
# it ended on Sunday 26 October. "N days" on the sponsor's calendar keeps the wall-clock time of
# day 0; the 8-day follow-up runs to the end of the 8th day after the date the report was sent.


@pytest.mark.parametrize(
    ("day0_utc", "fatal", "due_utc"),
    [
        # 27 Mar 10:00 UTC = 10:00 GMT; +7 days = 3 Apr 10:00 BST = 09:00 UTC.
        (dt.datetime(2026, 3, 27, 10, 0), True, dt.datetime(2026, 4, 3, 9, 0)),
        # +15 days = 11 Apr 10:00 BST = 09:00 UTC.
        (dt.datetime(2026, 3, 27, 10, 0), False, dt.datetime(2026, 4, 11, 9, 0)),
        # 20 Oct 09:00 UTC = 10:00 BST; +7 = 27 Oct 10:00 GMT = 10:00 UTC.
        (dt.datetime(2026, 10, 20, 9, 0), True, dt.datetime(2026, 10, 27, 10, 0)),
        # +15 = 4 Nov 10:00 GMT = 10:00 UTC.
        (dt.datetime(2026, 10, 20, 9, 0), False, dt.datetime(2026, 11, 4, 10, 0)),
        # 20 Oct 23:30 UTC is already 21 Oct 00:30 BST in London; +7 = 28 Oct 00:30 GMT.
        (dt.datetime(2026, 10, 20, 23, 30), True, dt.datetime(2026, 10, 28, 0, 30)),
        # No change in between: 2 Feb 09:00 UTC (GMT) + 7 = 9 Feb 09:00 UTC.
        (dt.datetime(2026, 2, 2, 9, 0), True, dt.datetime(2026, 2, 9, 9, 0)),
    ],
)
def test_susar_clock_from_sponsor_day_0_in_the_sponsor_time_zone(day0_utc, fatal, due_utc):
    due = clocks.susar_due(day0_utc.replace(tzinfo=UTC), fatal_or_life_threatening=fatal, tz_name="Europe/London")
    assert due == due_utc.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("sent_on", "due_utc"),
    [
        # Sent 28 Mar 2026 (GMT) → day 8 = 5 Apr, in BST: ends 23:59:59 BST = 22:59:59 UTC.
        (dt.date(2026, 3, 28), dt.datetime(2026, 4, 5, 22, 59, 59)),
        # Sent 24 Mar 2026 → 1 Apr 23:59:59 BST = 22:59:59 UTC.
        (dt.date(2026, 3, 24), dt.datetime(2026, 4, 1, 22, 59, 59)),
        # Sent 20 Oct 2026 (BST) → 28 Oct, in GMT: 23:59:59 UTC.
        (dt.date(2026, 10, 20), dt.datetime(2026, 10, 28, 23, 59, 59)),
        # Sent 18 Oct 2025 → 26 Oct 2025, the day BST ended: 23:59:59 GMT = UTC.
        (dt.date(2025, 10, 18), dt.datetime(2025, 10, 26, 23, 59, 59)),
        # Winter: sent 2 Feb 2026 → 10 Feb 23:59:59 UTC.
        (dt.date(2026, 2, 2), dt.datetime(2026, 2, 10, 23, 59, 59)),
    ],
)
def test_fatal_susar_follow_up_due_8_days_after_the_initial_report_was_sent(sent_on, due_utc):
    assert clocks.susar_followup_due(sent_on, tz_name="Europe/London") == due_utc.replace(tzinfo=UTC)


def test_fatal_susar_day0_27_march_sent_28_march_follow_up_due_5_april(world):
    """Acceptance: fatal SUSAR, sponsor day 0 = 27 Mar 10:00 UTC, initial report sent 28 Mar →
    follow-up due 5 Apr (sponsor time zone); recomputed as the sent dates are recorded."""
    assert clocks.sponsor_timezone() == "Europe/London"  # the default timelines
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
    report = services.sae_submit(report=_ready(ae.sae_reports.get(), world.nurse_a), actor=world.nurse_a)
    report = services.sponsor_review(
        report=report,
        actor=world.trial_manager,
        causality="probable",
        expectedness="unexpected",
        sponsor_aware_at=dt.datetime(2026, 3, 27, 10, 0, tzinfo=UTC),  # the phone call, before the report arrived
    )
    assert report.sponsor_aware_at == dt.datetime(2026, 3, 27, 10, 0, tzinfo=UTC)
    assert report.susar_due_at == dt.datetime(2026, 4, 3, 9, 0, tzinfo=UTC)  # 3 Apr 10:00 BST
    assert report.susar_followup_due_at is None  # nothing sent yet
    report = services.susar_reported(report=report, actor=world.trial_manager, ethics_on=dt.date(2026, 3, 30))
    assert report.susar_followup_due_at == dt.datetime(2026, 4, 7, 22, 59, 59, tzinfo=UTC)
    report = services.susar_reported(report=report, actor=world.trial_manager, regulator_on=dt.date(2026, 3, 28))
    due = report.susar_followup_due_at
    assert due.astimezone(LONDON).date() == dt.date(2026, 4, 5)
    assert due == dt.datetime(2026, 4, 5, 22, 59, 59, tzinfo=UTC)


def test_follow_up_clock_is_escalated_until_the_follow_up_is_sent():
    report = SaeReport(
        susar=True,
        susar_severe=True,
        due_at=dt.datetime(2026, 3, 28, 8, 0, tzinfo=UTC),
        submitted_at=dt.datetime(2026, 3, 27, 10, 0, tzinfo=UTC),
        susar_due_at=dt.datetime(2026, 4, 3, 9, 0, tzinfo=UTC),
        reported_regulator_on=dt.date(2026, 3, 28),
        reported_ethics_on=dt.date(2026, 3, 28),
        susar_followup_due_at=dt.datetime(2026, 4, 5, 22, 59, 59, tzinfo=UTC),
    )
    near = dt.timedelta(hours=4)
    stages = report_stages(report, signed=True, now=dt.datetime(2026, 4, 5, 20, 0, tzinfo=UTC), near=near)
    assert [s for s, _d in stages] == [SaeEscalation.Stage.FOLLOWUP_NEAR]
    stages = report_stages(report, signed=True, now=dt.datetime(2026, 4, 6, 0, 0, tzinfo=UTC), near=near)
    assert [s for s, _d in stages] == [SaeEscalation.Stage.FOLLOWUP_OVERDUE]
    report.followup_reported_on = dt.date(2026, 4, 5)
    assert report_stages(report, signed=True, now=dt.datetime(2026, 4, 6, 0, 0, tzinfo=UTC), near=near) == []


def test_a_susar_that_becomes_life_threatening_gets_a_new_7_day_clock(world):
    """EU CTR art. 42: a non-fatal SUSAR that becomes fatal or life-threatening is reported within
    7 days of that awareness."""
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a)
    report = services.sae_submit(report=_ready(ae.sae_reports.get(), world.nurse_a), actor=world.nurse_a)
    report = services.sponsor_review(
        report=report, actor=world.trial_manager, causality="probable", expectedness="unexpected"
    )
    assert report.susar_severe is False
    before = timezone.now()
    services.ae_save(
        patient=ae.patient,
        actor=world.nurse_a,
        instance=ae,
        data={"criterion_life_threatening": True, "grade": 4},
        reason="Deteriorated: ICU",
    )
    report = SaeReport.objects.get(pk=report.pk)
    assert before <= report.susar_upgrade_at <= timezone.now()
    local = report.susar_upgrade_at.astimezone(ZoneInfo("Europe/London")).replace(tzinfo=None)
    expected = (local + dt.timedelta(days=7)).replace(tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)
    assert report.susar_upgrade_due_at == expected
    assert any("Upgraded" in c["label"] for c in selectors.sae_clocks(report))


# 5. RSI at onset --------------------------------------------------------------------------------


def test_expectedness_is_judged_against_the_rsi_approved_at_onset_and_named(client, world, password):
    """CTFG Q&A on the RSI (2017): the RSI version approved at the onset of the reaction, not the
    one in force when the PI signs."""
    today = timezone.localdate()
    old = rsi()  # effective 300 days ago
    new = ReferenceSafetyInformation.objects.create(
        version="2026-11", effective_date=today - dt.timedelta(days=1), expected_terms="Nausea"
    )
    ae = serious_ae(world.site_a, world.nurse_a)  # onset 2 days ago: before the new version
    assert ae.onset_date < new.effective_date
    report = services.sae_sign(
        report=_ready(ae.sae_reports.get(), world.nurse_a), actor=world.pi_a, password=password, assessment=ASSESSMENT
    )
    assert report.rsi == old
    client.force_login(world.pi_a)
    page = client.get(reverse("safety:sae_detail", args=[report.pk])).content.decode()
    assert "version 2024-06" in page.split('class="rsi-used"')[1][:200]
    pdf = build_sae_report(str(report.pk), lambda p: None).pdf.content
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())
    assert "version 2024-06" in text and "2026-11" not in text


# 6. Casebook sign-off covers all of the patient's data ---------------------------------------------


def _finished(world):
    """A patient of arm A whose forms are complete, end of study done: ready for sign-off."""
    patient = scheduled_patient(world.site_a, arm="A")
    demo = crf_services.crf_save(
        model=Demographics,
        visit=patient.visits.get(code="RAND"),
        data={"ethnicity": "white", "height_cm": Decimal("170"), "weight_kg": Decimal("70")},
        actor=world.nurse_a,
    )
    crf_services.crf_mark_complete(form=demo, actor=world.nurse_a)
    end = crf_services.crf_save(
        model=EndOfStudy,
        visit=patient.visits.get(code="FU36"),
        data={"end_date": timezone.localdate() - dt.timedelta(days=1), "reason": "withdrawal", "recurrence_free": True},
        actor=world.nurse_a,
    )
    crf_services.crf_mark_complete(form=end, actor=world.nurse_a)
    return patient


def test_an_ae_added_after_the_casebook_sign_off_voids_it(world, password):
    patient = _finished(world)
    casebook = crf_services.casebook_sign(patient=patient, actor=world.pi_a, password=password)
    assert all(valid for _s, valid in crf_services.casebook_signature_status(patient))
    patient.consents.update(consented_at=timezone.now() - dt.timedelta(days=60))
    services.ae_save(
        patient=patient,
        actor=world.nurse_a,
        data={
            "term": "Fatigue",
            "grade": 1,
            "onset_date": timezone.localdate() - dt.timedelta(days=3),
            "ongoing": True,
            "causality_lutathera": "unrelated",
            "causality_amino_acids": "unrelated",
            "causality_procedures": "unrelated",
            "action_taken": "not_applicable",
            "outcome": "recovering",
        },
    )
    [(signature, valid)] = crf_services.casebook_signature_status(patient)
    assert not valid
    signature.refresh_from_db()
    assert signature.invalidated_at is not None and "Adverse event" in signature.invalidated_reason
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_INVALIDATED, target_id=str(casebook.pk)).exists()


def test_an_eligibility_change_after_the_casebook_sign_off_shows_it_void(world, password):
    """Patient-level data (consent, eligibility, withdrawal) are covered too, whichever path wrote them
    (here a record made outside any service: the sign-off shows void all the same)."""
    patient = _finished(world)
    crf_services.casebook_sign(patient=patient, actor=world.pi_a, password=password)
    EligibilityAssessmentFactory(patient=patient, **eligible_answers(patient))
    [(_signature, valid)] = crf_services.casebook_signature_status(patient)
    assert not valid


# 7. Line listings ---------------------------------------------------------------------------------


def _simulated_susars():
    """A simulated trial (its own sites and staff) whose SAEs the sponsor reviews."""
    # Seed 7 draws two SAEs on the simulated timeline (issue 27): one classified SUSAR, one not.
    call_command("simulate_trial", "--patients", "16", "--seed", "7", stdout=io.StringIO())
    sponsor = User.objects.get(username="tm")
    reports = list(SaeReport.objects.filter(number=0).select_related("adverse_event__patient__site"))
    assert reports and all(r.submitted_at for r in reports)  # signed = sent by the site
    for index, report in enumerate(reports):
        services.sponsor_review(
            report=report,
            actor=sponsor,
            causality="probable",
            expectedness="unexpected" if index % 2 == 0 else "expected",
        )
    return sponsor, reports


@pytest.mark.postgres
def test_susar_line_listing_of_a_simulated_trial_has_every_susar_of_the_period(client, db, artifacts_dir):
    sponsor, reports = _simulated_susars()
    susars = {f"{r.patient.trial_number}-AE{r.adverse_event_id}" for r in SaeReport.objects.filter(susar=True)}
    assert susars and len(susars) < len(reports)  # the expected ones are not SUSARs
    start, end = dt.date(2000, 1, 1), timezone.localdate()
    client.force_login(sponsor)
    url = reverse("safety:line_listing")
    response = client.get(url, {"kind": "susar", "start": start, "end": end, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {r["Case"] for r in rows} == susars
    assert all(r["SUSAR"] == "yes" and r["RSI version"] == "sim-7" for r in rows)
    # A PI of a simulated site gets none of it, their own site's cases included.
    pi = Delegation.objects.filter(role=SiteRole.PRINCIPAL_INVESTIGATOR).first().user
    client.force_login(pi)
    assert client.get(url, {"kind": "susar", "start": start, "end": end, "format": "csv"}).status_code == 403
    client.force_login(sponsor)
    everything = client.get(url, {"kind": "sae", "start": start, "end": end, "format": "csv"})
    assert len(list(csv.DictReader(io.StringIO(everything.content.decode("utf-8-sig"))))) == len(reports)
    # A period before any report was received holds none.
    none = client.get(url, {"kind": "susar", "start": "2000-01-01", "end": "2000-12-31", "format": "csv"})
    assert len(list(csv.DictReader(io.StringIO(none.content.decode("utf-8-sig"))))) == 0
    pdf = client.get(url, {"kind": "susar", "start": start, "end": end, "format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf"
    (Path(artifacts_dir) / "susar-line-listing.pdf").write_bytes(pdf.content)  # kept by CI for review
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split())
    compact = "".join(text.split())  # a narrow column wraps a case id at its hyphens
    assert "sim-7" in text and all(case in compact for case in susars)
    exported = AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORTED, actor=sponsor)
    assert exported.count() == 4 and all(len(e.detail["sha256"]) == 64 for e in exported)


def test_a_pi_gets_no_trial_wide_line_listing(client, world):
    """Trial-wide roles only: a PI would otherwise read other sites' cases (protocol; issue 24)."""
    rsi()
    serious_ae(world.site_b, world.nurse_b)
    for user in (world.pi_a, world.nurse_a, world.sysadmin):
        client.force_login(user)
        response = client.get(
            reverse("safety:line_listing"), {"kind": "sae", "start": "2000-01-01", "end": "2099-01-01", "format": "csv"}
        )
        assert response.status_code == 403 and b"NL01" not in response.content


def test_a_case_not_yet_sent_is_listed_by_the_sites_awareness(client, world):
    aware = timezone.now() - dt.timedelta(days=3)
    ae = serious_ae(world.site_a, world.nurse_a, aware_at=aware)
    rows = selectors.safety_line_listing(start=aware.date(), end=timezone.localdate(), susars_only=False)
    [row] = rows
    assert row["case"] == f"{ae.patient.trial_number}-AE{ae.pk}" and row["day0"] == "not yet sent"


# 8. AE term entry: CTCAE v5 terms, free text flagged for coding, MedDRA codes by the coder ----------


def test_a_ctcae_term_is_recognised_and_free_text_is_flagged_for_coding(world):
    """CTCAE v5.0 (NCI, 2017) spells the term "Febrile neutropenia" under Blood and lymphatic
    system disorders; "Small bowel obstruction" is not a CTCAE term ("Small intestinal obstruction" is)."""
    picked = serious_ae(world.site_a, world.nurse_a, term="febrile neutropenia")
    assert picked.term == "Febrile neutropenia" and picked.ctcae_soc == "Blood and lymphatic system disorders"
    assert not picked.needs_coding
    typed = serious_ae(world.site_a, world.nurse_a, term="Small bowel obstruction")
    assert typed.term == "Small bowel obstruction" and typed.needs_coding and typed.ctcae_soc == ""


def test_the_coder_fills_meddra_codes_which_void_no_signature(client, world, password):
    """First coding of a verbatim term (ICH E2B(R3): coded by the medical coder, not data management)."""
    report = _signed(world, password, term="Small bowel obstruction")
    ae = report.adverse_event
    coder = UserFactory(trial_role=TrialRole.MEDICAL_CODER)
    with pytest.raises(NotPermitted):
        services.ae_code(ae=ae, actor=world.nurse_a, llt_code="10041101", pt_code="10041101", version="27.1")
    with pytest.raises(NotPermitted):  # the data manager no longer codes
        services.ae_code(ae=ae, actor=world.data_manager, llt_code="10041101", pt_code="10041101", version="27.1")
    with pytest.raises(DomainError):
        services.ae_code(ae=ae, actor=coder, llt_code="123", pt_code="10041101", version="27.1")
    client.force_login(coder)
    url = reverse("safety:ae_code", args=[ae.patient.trial_number, ae.pk])
    response = client.post(url, {"meddra_llt_code": "10041101", "meddra_pt_code": "10041101", "meddra_version": "27.1"})
    assert response.status_code == 302
    ae.refresh_from_db()
    assert ae.meddra_llt_code == "10041101" and ae.coded_by == coder and not ae.needs_coding
    assert services.pi_signed(SaeReport.objects.get(pk=report.pk))  # coding is not the PI's data
    # A new term from the site needs coding again.
    services.ae_save(patient=ae.patient, actor=world.nurse_a, instance=ae, data={"term": "Ileus"}, reason="CT")
    ae.refresh_from_db()
    assert ae.meddra_llt_code == "" and ae.ctcae_soc == "Gastrointestinal disorders"
    client.force_login(world.nurse_a)
    assert client.post(url, {"meddra_llt_code": "1"}).status_code == 403
    client.force_login(world.data_manager)
    assert client.post(url, {"meddra_llt_code": "10041101"}).status_code == 403


def test_the_ae_form_offers_the_ctcae_terms(client, world):
    patient = scheduled_patient(world.site_a)
    client.force_login(world.nurse_a)
    page = client.get(reverse("safety:ae_new", args=[patient.trial_number])).content.decode()
    assert 'list="ctcae-terms"' in page
    assert '<option value="Platelet count decreased" label="Common in this trial · Investigations">' in page


def test_the_first_signing_of_a_session_asks_for_the_user_id_later_ones_the_password(client, world, password):
    """21 CFR 11.200(a)(1)(i): the first signing in a continuous session uses all components (user id
    and password); subsequent signings in that session at least one (the password)."""
    rsi()
    first = _ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a)
    second = _ready(serious_ae(world.site_a, world.nurse_a).sae_reports.get(), world.nurse_a)
    client.force_login(world.pi_a)
    assert 'name="username"' in client.get(reverse("safety:sae_detail", args=[first.pk])).content.decode()
    answers = ASSESSMENT | {"password": password, "accept": "on"}
    wrong = client.post(reverse("safety:sae_sign", args=[first.pk]), answers | {"username": world.pi_b.username})
    assert "This is not your user id. Nothing was signed." in wrong.content.decode()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_FAILED, summary="Wrong user id at signing").exists()
    signed = client.post(reverse("safety:sae_sign", args=[first.pk]), answers | {"username": world.pi_a.username})
    assert signed.status_code == 302 and services.pi_signed(SaeReport.objects.get(pk=first.pk))
    assert 'name="username"' not in client.get(reverse("safety:sae_detail", args=[second.pk])).content.decode()
    assert client.post(reverse("safety:sae_sign", args=[second.pk]), answers).status_code == 302
    assert services.pi_signed(SaeReport.objects.get(pk=second.pk))
    # A new session starts again with the user id.
    client.logout()
    client.force_login(world.pi_a)
    assert 'name="username"' in client.get(reverse("safety:sae_detail", args=[second.pk])).content.decode()
