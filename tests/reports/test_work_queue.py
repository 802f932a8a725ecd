"""Home pages as work queues (issue 26): each role's home shows the counts of what waits for it,
and every count's link lands on a list of exactly that many items. The expected counts are set
by hand from the data built here; the lists' totals come from their pagers."""

from decimal import Decimal

import pytest
from django.urls import reverse

from crf import services
from crf.models import Demographics, LiverResection
from sites.models import Site
from tests.crf.factories import scheduled_patient
from tests.sites.factories import SiteFactory
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db
VALID = {"ethnicity": "white", "height_cm": Decimal("170"), "weight_kg": Decimal("70")}


@pytest.fixture
def trial(world):
    """Site A: patient 1 with demographics complete (awaiting SDV) and a liver resection in progress
    with two queries (one answered); patient 2 verified then changed. Site B: one complete form. A
    third site pending activation."""
    nurse = world.nurse_a
    one, two = scheduled_patient(world.site_a), scheduled_patient(world.site_a)
    demo = services.crf_save(model=Demographics, visit=one.visits.get(code="RAND"), data=VALID, actor=nurse)
    services.crf_mark_complete(form=demo, actor=nurse)
    resection = services.crf_save(
        model=LiverResection, visit=one.visits.get(code="RAND"), data={"length_of_stay_days": 6}, actor=nurse
    )
    services.query_raise(form=resection, field="length_of_stay_days", text="Check", actor=world.data_manager)
    answered = services.query_raise(form=resection, field="approach", text="Approach?", actor=world.data_manager)
    services.query_answer(query=answered, text="Open", actor=nurse)
    verified = services.crf_save(model=Demographics, visit=two.visits.get(code="RAND"), data=VALID, actor=nurse)
    verified = services.crf_verify(form=services.crf_mark_complete(form=verified, actor=nurse), actor=world.monitor)
    services.crf_save(
        model=Demographics,
        visit=verified.visit,
        data={"weight_kg": Decimal("71")},
        actor=nurse,
        reason="typo",
        expected_version=verified.version,
        instance=verified,
    )
    other = scheduled_patient(world.site_b)
    b_form = services.crf_save(model=Demographics, visit=other.visits.get(code="RAND"), data=VALID, actor=world.nurse_b)
    services.crf_mark_complete(form=b_form, actor=world.nurse_b)
    SiteFactory(code="DE01", name="Berlin", country="DE", status=Site.Status.PENDING)
    return world


def _list_total(client, url) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    if "page" in response.context:
        return response.context["page"].paginator.count
    return len(response.context["sites"])


EXPECTED = {
    # Site A: one query open (the other answered); patient 1's resection and patient 2's
    # re-opened demographics in progress.
    # Overdue: RAND of patients 1 and 2 (arm B, randomised 30 days ago; RAND has no window, and
    # cycle 1's closes today: resection 70 days ago + 56 + 14, crf/schedule.py).
    "nurse_a": {
        "Re-consents due": 0,
        "SAEs to report to the sponsor": 0,
        "Overdue visits": 2,
        "Queries waiting for your answer": 1,
        "Patients with forms in progress": 2,
    },
    # Awaiting SDV: demographics of patient 1 and of site B; changed: patient 2's demographics.
    "monitor": {"Forms awaiting source data verification": 2, "Forms changed since verified": 1},
    # Forms missing: all three patients were randomised 30 days ago, so RAND's window has closed.
    "data_manager": {
        "Open queries under 7 days old": 2,
        "Open queries 7–30 days old": 0,
        "Open queries over 30 days old": 0,
        "Patients with forms missing": 3,
        # Nothing verified stays verified: patient 2's demographics was changed after it.
        "Verified forms to lock": 0,
    },
    "trial_manager": {
        "Open queries under 7 days old": 2,
        "Open queries 7–30 days old": 0,
        "Open queries over 30 days old": 0,
        "Patients with forms missing": 3,
        "Overdue SAE reports": 0,
        "Sites to activate": 1,
        # No site has an activation date (the factories' sites), so no recruitment plan runs.
        "Sites recruiting behind plan": 0,
    },
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_home_shows_the_role_queue_and_each_link_lists_exactly_that_many(client, trial, role):
    client.force_login(getattr(trial, role))
    response = client.get(reverse("home"))
    queue = {str(item.label): item for item in response.context["work_queue"]}
    assert {label: item.count for label, item in queue.items()} == EXPECTED[role]
    body = response.content.decode()
    for label, item in queue.items():
        assert label in body and item.url.replace("&", "&amp;") in body
        assert _list_total(client, item.url) == item.count, label


@pytest.mark.parametrize("role", ["statistician", "sysadmin"])
def test_roles_without_data_work_have_no_queue(client, trial, role):
    client.force_login(getattr(trial, role))
    assert client.get(reverse("home")).context["work_queue"] == []


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
