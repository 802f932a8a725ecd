"""The record status grid's rows are cached per patient under the patient's generation (issue 26:
the grid within 2x of the bare view, bench/RESULTS.md) and are never stale after a save commits.

The expected marks come from what each save means (crf.models.base.FormStatus and the protocol's
schedule, crf/config): a form saved partly is "in progress", a form recorded as not done is "not
done", an open query is counted on its form, a withdrawn sample consent takes the biomarker sample
(CRF 13) off the visit, and a patient withdrawn from follow-up has no visit still expected.
"""

import datetime as dt
from functools import partial
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.site_cache import patient_generations, site_generations
from crf import schedule, services
from crf.registry import FORMS
from patients import services as patient_services
from patients.models import Patient, Withdrawal
from reports import grid_html
from tests.crf.factories import scheduled_patient
from tests.reports.test_record_status_grid import grid_cell_forms

pytestmark = pytest.mark.django_db
URL = reverse("reports:record_status_grid")

# Every form the grid shows (repeating logs are reached from the visit, not marked in a cell), at
# the first visit of the schedule that expects it (protocol schedule, crf/config).
SHOWN_FORMS = {
    code: next(d.code for d in schedule.schedule() if code in d.forms)
    for code, model in FORMS.items()
    if not model.REPEATING
}


def _grid(client, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, params)
    assert response.status_code == 200
    return response, len(ctx.captured_queries)


def _long_followed(site):
    # Randomised more than three years ago (arm B, Lutathera): every visit's window has opened, so
    # every cell lists its forms (an upcoming visit with nothing saved shows a dash).
    return scheduled_patient(site, arm="B", resection_days_ago=1300, randomised_days_ago=1270)


def test_a_second_look_reads_the_rows_from_the_cache(client, world):
    """Session, user, delegations, sites for the filter, COUNT, the page of patients, the cache
    read, and the idle-timeout's session save (savepoint, update, release): 9. The consents,
    visits, UNION ALL of the CRF tables, open queries and forms not done (5) are not read again."""
    for _ in range(3):
        _long_followed(world.site_a)
    client.force_login(world.nurse_a)
    first, cold = _grid(client)
    again, warm = _grid(client)
    assert (cold, warm) == (14, 9)
    assert [r.html for r in again.context["rows"]] == [r.html for r in first.context["rows"]]


def test_a_save_is_served_stale_only_until_it_commits(client, world, django_capture_on_commit_callbacks):
    """The generation moves on when the writer's transaction commits (crf.receivers): the row built
    before it is the one shown until then, and never after."""
    patient = _long_followed(world.site_a)
    client.force_login(world.nurse_a)
    assert grid_cell_forms(_grid(client)[0], patient.trial_number, "RAND")["demographics"] == ("not_started", 0)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.crf_save(
            model=FORMS["demographics"], visit=patient.visits.get(code="RAND"), data={}, actor=world.nurse_a
        )
    stale = grid_cell_forms(_grid(client)[0], patient.trial_number, "RAND")
    assert stale["demographics"] == ("not_started", 0)  # from the cache: proof the row is cached
    for callback in callbacks:
        callback()
    fresh = grid_cell_forms(_grid(client)[0], patient.trial_number, "RAND")
    assert fresh["demographics"] == ("in_progress", 0)


@pytest.mark.parametrize("form_code", sorted(SHOWN_FORMS))
def test_saving_any_form_shows_at_once(client, world, django_capture_on_commit_callbacks, form_code):
    patient = _long_followed(world.site_a)
    visit_code = SHOWN_FORMS[form_code]
    client.force_login(world.nurse_a)
    assert grid_cell_forms(_grid(client)[0], patient.trial_number, visit_code)[form_code] == ("not_started", 0)
    with django_capture_on_commit_callbacks(execute=True):
        services.crf_save(
            model=FORMS[form_code], visit=patient.visits.get(code=visit_code), data={}, actor=world.nurse_a
        )
    assert grid_cell_forms(_grid(client)[0], patient.trial_number, visit_code)[form_code] == ("in_progress", 0)


def test_not_done_query_and_consent_show_at_once(client, world, django_capture_on_commit_callbacks):
    committed = partial(django_capture_on_commit_callbacks, execute=True)
    patient = _long_followed(world.site_a)
    rand = patient.visits.get(code="RAND")
    client.force_login(world.nurse_a)

    def cell(code="RAND"):
        return grid_cell_forms(_grid(client)[0], patient.trial_number, code)

    before = cell()
    assert before["quality_of_life"] == ("not_started", 0) and "biomarker_sample" in cell("FU03")
    with committed():
        services.crf_mark_not_done(visit=rand, form_code="quality_of_life", reason="Refused", actor=world.nurse_a)
    assert cell()["quality_of_life"] == ("not_done", 0)

    form = services.crf_save(model=FORMS["liver_resection"], visit=rand, data={}, actor=world.nurse_a)
    assert cell()["liver_resection"] == ("not_started", 0)  # not committed yet: the cached row
    with committed():
        services.query_raise(form=form, field="length_of_stay_days", text="Please enter", actor=world.data_manager)
    assert cell()["liver_resection"] == ("in_progress", 1)

    # Protocol CRF 13: samples are expected only while the optional sample consent stands.
    with committed():
        patient_services.consent_samples_withdraw(
            actor=world.nurse_a, patient=patient, withdrawn_on=timezone.localdate(), reason="Changed her mind"
        )
    assert "biomarker_sample" not in cell("FU03") and "biomarker_sample" not in cell()


def test_a_withdrawal_from_follow_up_shows_at_once(client, world, django_capture_on_commit_callbacks):
    """A patient withdrawn from follow-up has no visit still expected (protocol: withdrawal): the
    visits not done read "n/a" instead of listing their forms as missing."""
    patient = _long_followed(world.site_a)
    client.force_login(world.nurse_a)
    assert "follow_up" in grid_cell_forms(_grid(client)[0], patient.trial_number, "FU36")
    with django_capture_on_commit_callbacks(execute=True):
        patient_services.patient_withdraw(
            actor=world.nurse_a,
            patient=Patient.objects.get(pk=patient.pk),
            data={
                "withdrawn_on": timezone.localdate(),
                "level": Withdrawal.Level.FOLLOW_UP,
                "initiated_by": Withdrawal.InitiatedBy.PATIENT,
                "reason": "Moved abroad",
            },
        )
    response, _n = _grid(client)
    assert grid_cell_forms(response, patient.trial_number, "FU36") == {}
    row = next(r for r in response.context["rows"] if r.patient.trial_number == patient.trial_number)
    assert "grid-visit-not_applicable" in row.html


def test_a_save_rebuilds_its_own_patients_row_alone(client, world, django_capture_on_commit_callbacks):
    """A save moves on its patient's generation and its site's (the nurse's home panels), no other:
    the other rows of the page, at the same site or another, stay cached."""
    neighbour = _long_followed(world.site_a)
    changed = _long_followed(world.site_a)
    elsewhere = _long_followed(world.site_b)
    patients = [neighbour.pk, changed.pk, elsewhere.pk]
    sites = [world.site_a.pk, world.site_b.pk]
    client.force_login(world.data_manager)  # trial-wide: both sites on the page
    _grid(client)
    _again, warm = _grid(client)
    before, sites_before = patient_generations(patients), site_generations(sites)
    with django_capture_on_commit_callbacks(execute=True):
        services.crf_save(
            model=FORMS["demographics"], visit=changed.visits.get(code="RAND"), data={}, actor=world.nurse_a
        )
    after, sites_after = patient_generations(patients), site_generations(sites)
    assert [after[pk] == before[pk] for pk in patients] == [True, False, True]
    assert sites_after[world.site_a.pk] != sites_before[world.site_a.pk]
    assert sites_after[world.site_b.pk] == sites_before[world.site_b.pk]
    response, queries = _grid(client)
    # Only the changed patient's row is built again: the patient-data queries run (5), once.
    assert queries == warm + 5
    assert grid_cell_forms(response, changed.trial_number, "RAND")["demographics"] == ("in_progress", 0)
    assert grid_cell_forms(response, neighbour.trial_number, "RAND")["demographics"] == ("not_started", 0)
    _third, again = _grid(client)
    assert again == warm


def test_a_row_is_built_afresh_each_day(world):
    """A visit's state follows the calendar: a visit whose window has not opened shows a dash, and
    lists its forms once it has. The row cached today is not the one shown in three years."""
    patient = scheduled_patient(world.site_a, resection_days_ago=30, randomised_days_ago=0)
    patients = list(Patient.objects.filter(pk=patient.pk))
    today = timezone.localdate()
    with CaptureQueriesContext(connection) as first:
        now = grid_html.grid_body(patients, today)
    with CaptureQueriesContext(connection) as same_day:
        grid_html.grid_body(patients, today)
    with CaptureQueriesContext(connection) as later_day:
        later = grid_html.grid_body(patients, today + dt.timedelta(days=3 * 365))
    assert len(first.captured_queries) > 0 and len(same_day.captured_queries) == 0
    assert len(later_day.captured_queries) > 0  # built again (the consents are already read)

    def fu03(rows):
        return grid_cell_forms(SimpleNamespace(context={"rows": rows}), patient.trial_number, "FU03")

    assert fu03(now) == {}
    assert fu03(later)["follow_up"] == ("not_started", 0)
