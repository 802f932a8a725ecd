"""Role home queues of issue 26 that have lists of their own (reports.role_queues): the PI's
signatures, the nurse's re-consents, SAEs to report and overdue visits, the trial manager's
overdue SAEs and sites behind plan, the data manager's forms to lock. Every expected count is set
by hand from the data built here; each link must land on a list of exactly that many items, and
only of the user's sites."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from core.signatures import signature_apply
from crf import services as crf
from crf.models import Demographics, EndOfStudy
from patients.models import EligibilityAssessment, ReconsentTask
from safety import services as safety
from safety.services import PI_MEANING
from tests.crf.factories import scheduled_patient
from tests.patients.factories import (
    ConsentDocumentFactory,
    EligibilityAssessmentFactory,
    PatientFactory,
    eligible_answers,
)
from tests.safety.factories import AE
from tests.sites.factories import SiteFactory
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _serious_ae(patient, nurse, aware_at):
    data = AE | {"onset_date": timezone.localdate() - dt.timedelta(days=4), "aware_at": aware_at}
    return safety.ae_save(patient=patient, data=data, actor=nurse)


def _assessment(site, outcome):
    patient = PatientFactory(site=site)
    return EligibilityAssessmentFactory(patient=patient, outcome=outcome, **eligible_answers(patient))


def _end_of_study_complete(patient, nurse):
    visit = patient.visits.get(code="RAND")
    form = crf.crf_save(
        model=EndOfStudy,
        visit=visit,
        data={"end_date": timezone.localdate(), "reason": "withdrawal", "recurrence_free": True},
        actor=nurse,
    )
    return crf.crf_mark_complete(form=form, actor=nurse)


@pytest.fixture
def trial(world):
    """Built by hand (expected counts in EXPECTED):

    Site A: two consented patients with an eligibility assessment awaiting confirmation and one
    confirmed; P1 with a serious AE known now (report not signed, not sent) and a re-consent due;
    P2 with a serious AE whose report is signed and sent, and a re-consent done; P3 with the end
    of study complete (casebook ready); one verified demographics form (P1).
    Site B: one assessment awaiting confirmation, one re-consent due, a serious AE known three days
    ago and not reported (its 24-hour deadline passed), one verified form.
    Sites C and D (no staff): active for two years with 0 of 20 and 0 of 2 randomised.
    """
    now = timezone.now()
    a, b, nurse_a, nurse_b = world.site_a, world.site_b, world.nurse_a, world.nurse_b
    for site, outcome in ((a, "pending"), (a, "pending"), (a, "eligible"), (b, "pending")):
        _assessment(site, outcome)
    p1, p2, p3 = (scheduled_patient(a, arm="A") for _ in range(3))
    q1 = scheduled_patient(b, arm="A")
    _serious_ae(p1, nurse_a, now)
    signed = _serious_ae(p2, nurse_a, now).sae_reports.get()
    signature_apply(user=world.pi_a, meaning=PI_MEANING, obj=signed)
    safety.sae_submit(report=signed, actor=nurse_a)
    _serious_ae(q1, nurse_b, now - dt.timedelta(days=3))
    document = ConsentDocumentFactory()
    ReconsentTask.objects.create(patient=p1, document=document)
    ReconsentTask.objects.create(patient=p2, document=document, completed_at=now)
    ReconsentTask.objects.create(patient=q1, document=document)
    _end_of_study_complete(p3, nurse_a)
    for patient, nurse in ((p1, nurse_a), (q1, nurse_b)):
        form = crf.crf_save(
            model=Demographics,
            visit=patient.visits.get(code="RAND"),
            data={"ethnicity": "white", "height_cm": 170, "weight_kg": 70},
            actor=nurse,
        )
        crf.crf_verify(form=crf.crf_mark_complete(form=form, actor=nurse), actor=world.monitor)
    two_years_ago = now - dt.timedelta(days=730)
    SiteFactory(code="FR01", country="FR", recruitment_target=20, activated_at=two_years_ago)
    SiteFactory(code="FR02", country="FR", recruitment_target=2, activated_at=two_years_ago)
    return world


EXPECTED = {
    # PI at site A: two pending assessments (site B's is not theirs); P1's unsigned report; P3's
    # casebook; P1's re-consent; P1's report not yet sent.
    "pi_a": {
        "Eligibility assessments to confirm": 2,
        "SAE reports to sign": 1,
        "Casebooks to sign": 1,
        "Re-consents due": 1,
        "SAEs to report to the sponsor": 1,
    },
    # A nurse holds no investigator's signature (core.policy: investigators only).
    "nurse_a": {"Re-consents due": 1, "SAEs to report to the sponsor": 1},
    # Site B's report: aware 3 days ago, 24 hours to report. FR01 planned floor(20 × 23.98/48) = 9
    # by now and has 0; FR02 floor(2 × 23.98/48) = 0, so it is not behind; A and B were never
    # activated (no activation date), so no plan runs for them.
    "trial_manager": {"Overdue SAE reports": 1, "Sites recruiting behind plan": 1},
    # Verified and not locked: P1's and Q1's demographics.
    "data_manager": {"Verified forms to lock": 2},
}
NOT_THEIRS = {
    "nurse_a": ["Eligibility assessments to confirm", "SAE reports to sign", "Casebooks to sign"],
    "trial_manager": ["Eligibility assessments to confirm", "SAE reports to sign", "Casebooks to sign"],
    "data_manager": ["Overdue SAE reports", "Sites recruiting behind plan"],
    "monitor": ["Verified forms to lock", "Overdue SAE reports", "Re-consents due"],
}


def _list_total(client, url) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["page"].paginator.count


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_queue_count_links_to_a_list_of_exactly_that_many(client, trial, role):
    client.force_login(getattr(trial, role))
    queue = {str(item.label): item for item in client.get(reverse("home")).context["work_queue"]}
    assert {label: queue[label].count for label in EXPECTED[role] if label in queue} == EXPECTED[role]
    for label in EXPECTED[role]:
        assert _list_total(client, queue[label].url) == queue[label].count, label
    for label in NOT_THEIRS.get(role, []):
        assert label not in queue


def test_the_site_b_pi_sees_only_site_b_work(client, trial):
    """Site scope: the same lists for the other site's PI hold only that site's items."""
    client.force_login(trial.pi_b)
    queue = {str(item.label): item for item in client.get(reverse("home")).context["work_queue"]}
    assert queue["Eligibility assessments to confirm"].count == 1
    assert queue["Re-consents due"].count == 1
    assert queue["SAEs to report to the sponsor"].count == 1
    body = client.get(queue["Re-consents due"].url).content.decode()
    assert "NEL-NL01" in body and "NEL-GB01" not in body


def test_a_work_list_of_another_duty_is_forbidden(client, trial):
    client.force_login(trial.nurse_a)
    assert client.get(reverse("reports:role_worklist", args=["saes-to-sign"])).status_code == 403
    assert client.get(reverse("reports:role_worklist", args=["no-such-list"])).status_code == 404


def test_a_correction_after_confirmation_puts_the_assessment_back_on_the_pi_list(client, trial):
    """Protocol "Eligibility": a correction voids the confirmation, so the PI must confirm again."""
    client.force_login(trial.pi_a)
    url = reverse("reports:role_worklist", args=["eligibility"])
    assert _list_total(client, url) == 2
    EligibilityAssessment.objects.filter(outcome="eligible").update(outcome="pending")
    assert _list_total(client, url) == 3


def test_work_lists_sort_by_whitelisted_columns_only(client, trial):
    client.force_login(trial.trial_manager)
    url = reverse("reports:role_worklist", args=["recruitment-behind"])
    page = client.get(url, {"sort": "-randomised"})
    assert page.context["page"].paginator.count == 1
    headers = {h.label: h for h in page.context["sort_headers"]}
    assert headers["Randomised"].aria_sort == "descending"
    assert "sort=randomised" in headers["Randomised"].url  # the link reverses the order
    assert headers["Planned by today"].url == ""  # computed: not a sortable column
    assert 'aria-sort="descending"' in page.content.decode()
    # An unknown column falls back to the default order instead of reaching order_by().
    fallback = client.get(url, {"sort": "password"})
    assert {h.label: h.aria_sort for h in fallback.context["sort_headers"]}["Site"] == "ascending"


@pytest.mark.parametrize("kind", ["eligibility", "reconsent", "saes-to-report", "saes-to-sign"])
def test_a_work_list_page_costs_the_same_queries_at_any_size(
    client, trial, kind, django_assert_num_queries, django_assert_max_num_queries
):
    """Conventions §3: a list never issues a query per row: the same count with four more rows
    (at most twelve: session, user, delegation grants, navigation, the count, the page)."""
    client.force_login(trial.pi_a)
    url = reverse("reports:role_worklist", args=[kind])
    client.get(url)  # warm the content-type cache
    with django_assert_max_num_queries(12) as small:
        client.get(url)
    for _ in range(3):
        _assessment(trial.site_a, "pending")
        patient = scheduled_patient(trial.site_a, arm="A")
        ReconsentTask.objects.create(patient=patient, document=ReconsentTask.objects.first().document)
        _serious_ae(patient, trial.nurse_a, timezone.now())
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(url)


@pytest.mark.parametrize("role", ["pi_a", "trial_manager", "data_manager"])
def test_the_home_queue_costs_the_same_queries_at_any_size(
    client, trial, role, django_assert_num_queries, django_assert_max_num_queries
):
    """Each count is one COUNT query, whatever the number of items behind it (conventions §3)."""
    client.force_login(getattr(trial, role))
    cache.clear()  # the site staff's panels are cached: measure them computed, both times
    with django_assert_max_num_queries(60) as small:
        client.get(reverse("home"))
    for _ in range(3):
        _assessment(trial.site_a, "pending")
        patient = scheduled_patient(trial.site_a, arm="A")
        ReconsentTask.objects.create(patient=patient, document=ReconsentTask.objects.first().document)
        _serious_ae(patient, trial.nurse_a, timezone.now() - dt.timedelta(days=3))
    cache.clear()
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(reverse("home"))


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
