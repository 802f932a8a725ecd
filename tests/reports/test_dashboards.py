"""Dashboards: figures per site, scoping, and a fixed number of SQL queries whatever the trial size."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crf import services as crf
from crf.models import Demographics, Query
from reports.dashboards import data_quality, recruitment
from sites.models import Site
from tests.crf.factories import scheduled_patient
from tests.safety.factories import serious_ae
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _grow(world, n):
    for i in range(n):
        site = world.site_a if i % 2 else world.site_b
        nurse = world.nurse_a if i % 2 else world.nurse_b
        patient = scheduled_patient(site, resection_days_ago=100, randomised_days_ago=60)
        form = crf.crf_save(
            model=Demographics, visit=patient.visits.get(code="RAND"), data={"height_cm": Decimal(170)}, actor=nurse
        )
        crf.query_raise(form=form, field="height_cm", text="?", actor=world.data_manager)
        serious_ae(site, nurse, aware_at=timezone.now() - dt.timedelta(hours=30))


@pytest.mark.parametrize("url_name", ["reports:recruitment", "reports:data_quality"])
def test_dashboards_have_a_fixed_number_of_queries(client, world, url_name):
    Site.objects.filter(pk__in=[world.site_a.pk, world.site_b.pk]).update(
        activated_at=timezone.now() - dt.timedelta(days=90)
    )
    client.force_login(world.trial_manager)
    _grow(world, 2)
    few = _count(client, reverse(url_name) + "?refresh=1")  # computed, not read from the cache
    _grow(world, 8)
    many = _count(client, reverse(url_name) + "?refresh=1")
    assert few == many, f"{few} queries with a small trial, {many} with a larger one"


def test_data_quality_figures(world):
    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    rand = patient.visits.get(code="RAND")
    crf.visit_mark_done(visit=rand, day=rand.target_date, actor=world.nurse_a)
    form = crf.crf_save(model=Demographics, visit=rand, data={"height_cm": Decimal(170)}, actor=world.nurse_a)
    query = crf.query_raise(form=form, field="height_cm", text="?", actor=world.data_manager)
    Query.objects.filter(pk=query.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    serious_ae(world.site_b, world.nurse_b, aware_at=timezone.now() - dt.timedelta(hours=30))
    rows = {r["site"].code: r for r in data_quality(user=world.data_manager)["rows"]}
    gb, nl = rows["GB01"], rows["NL01"]
    # RAND (done) expects 7 forms: demographics is in progress, 6 are missing; C1's window closed
    # 30 days ago with its 2 forms missing.
    assert gb["missing_forms"] == 6 + 2 and gb["in_progress"] == 1
    assert gb["overdue_visits"] == 1 and gb["queries_old"] == 1 and gb["sae_overdue"] == 0
    # The SAE patient at NL01 was randomised 30 days ago: RAND's window has passed with 7 forms.
    assert nl["missing_forms"] == 7 and nl["sae_overdue"] == 1


def test_recruitment_figures_and_scope(client, world):
    scheduled_patient(world.site_a)
    scheduled_patient(world.site_b)
    figures = recruitment(user=world.trial_manager)
    assert figures["totals"]["consented"] == 2 and figures["target"] == 90
    client.force_login(world.pi_a)
    page = client.get(reverse("reports:recruitment")).content.decode()
    assert "GB01" in page and "NL01" not in page
    assert "<svg" in page and "Solid line: actual" in page
    client.force_login(world.nurse_a)
    assert client.get(reverse("reports:recruitment")).status_code == 403
    assert client.get(reverse("reports:data_quality")).status_code == 403


pytestmark = requirement_marks(pytestmark, "URS-DASH-001")


def test_overdue_visits_behind_the_dashboard_figure(client, world):
    late = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    other = scheduled_patient(world.site_b, resection_days_ago=100, randomised_days_ago=60)
    client.force_login(world.data_manager)
    dashboard = client.get(reverse("reports:data_quality")).content.decode()
    assert reverse("reports:overdue_visits") + "?site=GB01" in dashboard
    page = client.get(reverse("reports:overdue_visits"), {"site": "GB01"}).content.decode()
    assert late.trial_number in page and "Cycle 1 Lutathera" in page and other.trial_number not in page
    client.force_login(world.nurse_a)  # site staff see their own site's list, never another's
    own = client.get(reverse("reports:overdue_visits")).content.decode()
    assert late.trial_number in own and other.trial_number not in own
    assert other.trial_number not in client.get(reverse("reports:overdue_visits"), {"site": "NL01"}).content.decode()
    client.force_login(world.sysadmin)
    assert client.get(reverse("reports:overdue_visits")).status_code == 403


def test_recruitment_with_randomised_patients(client, world, blocks_design, make_patient):
    from randomisation.services import patient_randomise

    Site.objects.filter(pk__in=[world.site_a.pk, world.site_b.pk]).update(
        activated_at=timezone.now() - dt.timedelta(days=100)
    )
    arms = [
        patient_randomise(patient=make_patient(site=site, primary_site_group=group), actor=nurse).arm
        for site, nurse, group in (
            (world.site_a, world.nurse_a, "pancreas"),
            (world.site_a, world.nurse_a, "other"),
            (world.site_b, world.nurse_b, "pancreas"),
        )
    ]
    figures = recruitment(user=world.trial_manager)
    assert figures["totals"]["randomised"] == 3
    assert sum(n for _arm, n in figures["by_arm"]) == 3 and {a for a, _n in figures["by_arm"]} == set(arms)
    assert sum(a + b for _s, a, b in figures["by_stratum"]) == 3
    assert figures["median_delay"] is not None and figures["forecast"].remaining == 87
    assert figures["forecast"].median is not None and figures["forecast"].low <= figures["forecast"].high
    assert figures["chart"]["actual"].count(",") >= 3
    client.force_login(world.trial_manager)
    page = client.get(reverse("reports:recruitment")).content.decode()
    assert "80 % interval" in page and "forecast-band" in page


def test_forecast_counts_stopped_sites_to_their_stop_and_planned_sites_from_their_date(
    client, world, blocks_design, make_patient
):
    """Anisimov & Fedorov (2007): a site recruits at its own posterior rate while open; NL01, closed
    40 days after opening, contributes its 40 days of data to the prior and nothing after; a pending
    site with a planned activation date 31 days ahead contributes from then at the average rate."""
    from randomisation.services import patient_randomise
    from sites.services import site_close
    from tests.sites.factories import SiteFactory

    today = timezone.localdate()
    Site.objects.filter(pk__in=[world.site_a.pk, world.site_b.pk]).update(
        activated_at=timezone.now() - dt.timedelta(days=200)
    )
    for site, nurse in ((world.site_a, world.nurse_a), (world.site_a, world.nurse_a), (world.site_b, world.nurse_b)):
        patient_randomise(patient=make_patient(site=site), actor=nurse)
    closed = site_close(actor=world.trial_manager, site=Site.objects.get(pk=world.site_b.pk), reason="PI left")
    assert closed.recruitment_stopped_at is not None
    Site.objects.filter(pk=world.site_b.pk).update(recruitment_stopped_at=timezone.now() - dt.timedelta(days=160))
    SiteFactory(code="DE01", status=Site.Status.PENDING, planned_activation_date=today + dt.timedelta(days=31))
    SiteFactory(code="DE02", status=Site.Status.PENDING)  # no planned date: not counted

    figures = recruitment(user=world.trial_manager, today=today)
    prediction = figures["forecast"]
    kinds = {c.code: (c.kind, c.starts) for c in prediction.sites}
    assert kinds == {
        "GB01": ("recruiting", None),
        "NL01": ("stopped", None),
        "DE01": ("planned", today + dt.timedelta(days=31)),
    }
    assert prediction.enough_data and prediction.median is not None and prediction.seed == 2007
    # Today's rate is GB01's posterior mean alone: (α + 2) / (β + 200) a day.
    shape, rate = prediction.prior_shape, prediction.prior_rate
    assert prediction.rate_per_month == pytest.approx(round((shape + 2) / (rate + 200) * 30.44, 2), abs=0.01)
    client.force_login(world.trial_manager)
    page = client.get(reverse("reports:recruitment")).content.decode()
    assert "What drives the forecast" in page and "planned, from" in page and "stopped: nothing further" in page


def test_forecast_says_not_enough_data_on_the_page(client, world, blocks_design, make_patient):
    from randomisation.services import patient_randomise

    Site.objects.filter(pk__in=[world.site_a.pk, world.site_b.pk]).update(
        activated_at=timezone.now() - dt.timedelta(days=30)
    )
    patient_randomise(patient=make_patient(site=world.site_a), actor=world.nurse_a)
    assert not recruitment(user=world.trial_manager)["forecast"].enough_data
    client.force_login(world.trial_manager)
    page = client.get(reverse("reports:recruitment")).content.decode()
    assert "Not enough data: 60 site-days open and 1 randomised" in page and "forecast-band" not in page
