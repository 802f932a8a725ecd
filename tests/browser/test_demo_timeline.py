"""make demo's data on a timeline: the recruitment chart shows months of history, not a spike today."""

import itertools

import pytest
from django.core.management import call_command

from demo.management.commands.seed_demo import DEMO_PASSWORD
from randomisation.models import Allocation, AllocationList

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_demo_recruitment_chart_shows_a_history_over_months(page, live_server, shots, assert_accessible):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115 - what make demo runs
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "tm")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/reports/recruitment/")
    shots(page, "demo-recruitment")
    assert_accessible(page)

    points = [
        tuple(float(v) for v in pair.split(","))
        for pair in page.locator("svg.recruitment-chart polyline.actual-line").get_attribute("points").split()
    ]
    today_x = float(page.locator("svg.recruitment-chart line[stroke='#b02a37']").get_attribute("x1"))
    # One up-step per day with randomisations: the history has many such days, not one.
    steps = [(x, y0, y1) for (x, y0), (x2, y1) in itertools.pairwise(points) if x == x2 and y1 < y0]
    assert len(steps) >= 15, steps
    # The steps spread over more than a year of the chart: the plot spans start..end, and the
    # first randomisation lies more than 12 months of it before today (x per day from the ticks).
    ticks = page.locator("svg.recruitment-chart text").evaluate_all("nodes => nodes.map(n => n.textContent)")
    days = sorted({a.randomised_at.date() for a in Allocation.objects.all()})
    assert (days[-1] - days[0]).days > 365
    assert today_x - steps[0][0] > 0.3 * (today_x - points[0][0])
    assert sum(1 for t in ticks if t[:3] in ("Jan", "Apr", "Jul", "Oct")) >= 5  # quarter labels over the history
    # The last point is today's total: 39 randomised of the target of 90.
    assert points[-1][0] == today_x
    assert "39" in page.locator("main").inner_text() and "/ 90" in page.locator("main").inner_text()
    drivers = page.locator("table.forecast-drivers").inner_text()
    assert "GB01" in drivers and "NL01" in drivers and "DE01" in drivers and "planned, from" in drivers


def test_statistician_sees_a_weak_seed_refused_at_the_field(page, live_server, world, login, shots, assert_accessible):
    from randomisation import services

    services.config_save(
        actor=world.statistician, data={"method": "blocks", "factors": ["who_grade"], "block_sizes": [2, 4]}
    )
    login(page, world.statistician)
    page.goto(f"{live_server.url}/randomisation/list/generate/")
    page.fill("#id_seed", "ab")
    page.click("main button[type=submit]")
    assert "8 bits; at least 128 bits" in page.locator("main").inner_text()
    assert_accessible(page)
    shots(page, "weak-seed-refused")
    assert not AllocationList.objects.exists()
