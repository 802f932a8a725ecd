"""Journeys through the work lists of issue 26: the record status grid. Screenshots and axe-core
on every page."""

from decimal import Decimal

import pytest

from crf import services as crf
from crf.models import Demographics
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_nurse_opens_a_form_from_the_record_status_grid(page, live_server, world, login, shots, assert_accessible):
    patients = [scheduled_patient(world.site_a, arm=arm) for arm in ("A", "B", "B")]
    rand = patients[0].visits.get(code="RAND")
    crf.crf_save(model=Demographics, visit=rand, data={"height_cm": Decimal("170")}, actor=world.nurse_a)
    scheduled_patient(world.site_b)
    page.set_viewport_size({"width": 1366, "height": 800})
    login(page, world.nurse_a)
    page.get_by_role("link", name="Record status").click()
    assert page.locator(".record-grid tbody tr").count() == 3
    assert_accessible(page)
    shots(page, "record-status-grid")
    page.get_by_role("link", name="Demographics: In progress").first.click()
    assert page.url.endswith(f"/crf/patients/{patients[0].trial_number}/RAND/demographics/")


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
