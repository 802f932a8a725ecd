"""The record status grid (issue 26; REDCap's record status dashboard): patients × visits, each
cell the visit's forms with their status, filterable by site, arm and status, paged, scoped to the
user's sites, and a fixed number of SQL queries however many patients there are.

The status of each form is set by hand through the services below and the expected marks written
from crf.models.base.FormStatus (not started / in progress / complete / verified / locked), plus a
form recorded as not done (FormNotDone) and a form with an open query.
"""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crf import services
from crf.models import Demographics, LiverResection, MedicalHistory
from randomisation.services import patient_randomise
from reports.worklists import grid_columns
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db
URL = reverse("reports:record_status_grid")


def grid_cell_forms(response, trial_number, visit_code):
    """{form code: (state, open queries)} of one cell, read from the page's markup: the cell's
    links carry the state in their class and the open queries in their title."""
    row = next(r for r in response.context["rows"] if r.patient.trial_number == trial_number)
    column = [c.code for c in grid_columns()].index(visit_code)
    cell = row.html.split('<td class="grid-cell">')[column + 1]
    forms = {}
    for link in re.finditer(
        r'<a class="grid-form grid-(?P<state>[a-z_]+)" href="(?P<href>[^"]+)" title="(?P<title>[^"]*)"', cell
    ):
        queries = re.search(r"(\d+) open quer", link["title"])
        forms[link["href"].rstrip("/").rsplit("/", 1)[-1]] = (link["state"], int(queries[1]) if queries else 0)
    return forms


def _rand_cell(response, trial_number):
    return grid_cell_forms(response, trial_number, "RAND")


def test_each_form_of_a_visit_shows_its_own_status(client, world):
    patient = scheduled_patient(world.site_a)
    rand = patient.visits.get(code="RAND")
    nurse, monitor, dm = world.nurse_a, world.monitor, world.data_manager
    # demographics: complete then verified by the monitor, then locked by the data manager
    demo = services.crf_save(
        model=Demographics,
        visit=rand,
        data={"ethnicity": "white", "height_cm": Decimal("170"), "weight_kg": Decimal("70")},
        actor=nurse,
    )
    demo = services.crf_mark_complete(form=demo, actor=nurse)
    demo = services.crf_verify(form=demo, actor=monitor)
    services.crf_lock(form=demo, actor=dm)
    # medical history: saved partly (in progress), with a query raised by the data manager
    history = services.crf_save(model=MedicalHistory, visit=rand, data={}, actor=nurse)
    services.query_raise(form=history, field=history.data_field_names()[0], text="Please check", actor=dm)
    # quality of life: recorded as not done
    services.crf_mark_not_done(visit=rand, form_code="quality_of_life", reason="Refused", actor=nurse)

    client.force_login(world.monitor)
    cell = _rand_cell(client.get(URL), patient.trial_number)

    assert cell["demographics"] == ("locked", 0)
    assert cell["medical_history"] == ("in_progress", 1)
    assert cell["quality_of_life"] == ("not_done", 0)
    assert cell["liver_resection"] == ("not_started", 0)
    # The form links straight to the form (one click), under the visit's address.
    response = client.get(URL)
    form_url = reverse("crf:form", args=[patient.trial_number, "RAND", "liver_resection"])
    assert f'href="{form_url}"'.encode() in response.content


def test_site_staff_see_only_their_sites_and_another_site_code_filters_nothing_in(client, world):
    own = scheduled_patient(world.site_a)
    other = scheduled_patient(world.site_b)
    client.force_login(world.nurse_a)
    body = client.get(URL).content
    assert own.trial_number.encode() in body and other.trial_number.encode() not in body
    body = client.get(URL, {"site": "NL01"}).content
    assert other.trial_number.encode() not in body and b"Rotterdam" not in body

    client.force_login(world.data_manager)
    body = client.get(URL).content
    assert own.trial_number.encode() in body and other.trial_number.encode() in body
    body = client.get(URL, {"site": "NL01"}).content
    assert own.trial_number.encode() not in body and other.trial_number.encode() in body


@pytest.mark.parametrize("role", ["statistician", "sysadmin"])
def test_roles_without_data_work_are_refused(client, world, role):
    client.force_login(getattr(world, role))
    assert client.get(URL).status_code == 403


def test_filter_by_status_keeps_patients_with_such_a_form(client, world):
    """ "Missing" (not started) means an expected form of a visit done or whose window has closed."""
    with_query = scheduled_patient(world.site_a)
    rand = with_query.visits.get(code="RAND")
    form = services.crf_save(model=LiverResection, visit=rand, data={"length_of_stay_days": 6}, actor=world.nurse_a)
    services.query_raise(form=form, field="length_of_stay_days", text="Check", actor=world.data_manager)
    # Randomised today: RAND is due today, its window not closed and no visit done: nothing missing.
    fresh = scheduled_patient(world.site_a, resection_days_ago=1, randomised_days_ago=0)
    client.force_login(world.data_manager)

    def shown(**params):
        return {r.patient.trial_number for r in client.get(URL, params).context["rows"]}

    assert shown() == {with_query.trial_number, fresh.trial_number}
    assert shown(status="open_query") == {with_query.trial_number}
    assert shown(status="in_progress") == {with_query.trial_number}
    assert shown(status="verified") == set()
    # with_query was randomised 30 days ago: its RAND window (0 days) has closed with forms missing.
    assert shown(status="not_started") == {with_query.trial_number}


def test_filter_by_arm(client, world, blocks_design, make_patient):
    patients = [make_patient() for _ in range(4)]
    arms = {p.trial_number: patient_randomise(patient=p, actor=world.nurse_a).arm for p in patients}
    client.force_login(world.monitor)
    for arm in ("A", "B"):
        rows = client.get(URL, {"arm": arm}).context["rows"]
        assert {r.patient.trial_number for r in rows} == {tn for tn, a in arms.items() if a == arm}


def _grid_queries(client):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL)
    assert response.status_code == 200
    return len(ctx.captured_queries), response


@pytest.mark.postgres
def test_grid_of_500_patients_runs_a_fixed_number_of_queries_and_is_paged(client, world):
    """Session, user, delegations (site roles), sites for the filter, COUNT for the pager, one page
    of patients, their consents (which visits expect a biomarker sample, CRF 13), their visits, the
    UNION ALL of the CRF tables, open queries, forms not done, and the idle-timeout's session save
    (savepoint, update, release): 14, the same for 3 patients as for 500."""
    for _ in range(3):
        scheduled_patient(world.site_a)
    client.force_login(world.nurse_a)
    few, _response = _grid_queries(client)
    for _ in range(497):
        scheduled_patient(world.site_a)
    many, response = _grid_queries(client)
    assert few == many == 14
    assert response.context["page"].paginator.count == 500
    assert len(response.context["rows"]) == 25
    assert client.get(URL, {"page": 20}).context["page"].number == 20


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
