"""Dashboard figures, each in a fixed number of queries whatever the size of the trial."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from crf import schedule
from crf.access import expected_forms
from crf.models import FormNotDone, FormStatus, Query, Visit
from crf.registry import FORMS
from patients.models import EligibilityAssessment, Patient, ScreeningEntry
from randomisation.models import Allocation
from randomisation.services import active_config
from safety.models import SaeReport
from safety.selectors import sae_clocks
from sites.models import Site

from .forecast import SiteHistory, forecast

logger = logging.getLogger(__name__)


def trial_target() -> int:
    config = active_config()
    return getattr(config, "target", None) or getattr(settings, "TRIAL_TARGET", 90)


# Recorded so that the dashboard's forecast can be reproduced from the same data (reports/forecast.py).
FORECAST_SEED = 2007


def site_histories(sites, randomised: Counter, today: dt.date) -> list[SiteHistory]:
    """Each site as the forecast sees it: open and recruiting, stopped (on hold or closed, counted up
    to when it stopped), or planned (pending with a planned activation date, from that date)."""
    histories = []
    for s in sites:
        if s.activated_at is not None:
            opened = timezone.localtime(s.activated_at).date()
            recruiting = s.status == Site.Status.ACTIVE
            until = today
            if not recruiting and s.recruitment_stopped_at is not None:
                until = timezone.localtime(s.recruitment_stopped_at).date()
            histories.append(SiteHistory(s.code, randomised.get(s.pk, 0), max((until - opened).days, 1), recruiting))
        elif s.status == Site.Status.PENDING and s.planned_activation_date is not None:
            # A planned date already passed without activation counts from today, not from the past.
            starts = max((s.planned_activation_date - today).days, 0)
            histories.append(SiteHistory(s.code, 0, 0, False, starts))
    return histories


def recruitment(*, user, today: dt.date | None = None) -> dict:
    today = today or timezone.localdate()
    sites = list(Site.objects.visible_to(user).order_by("code"))
    site_ids = [s.pk for s in sites]
    screened = dict(ScreeningEntry.objects.filter(site_id__in=site_ids).values_list("site").annotate(n=Count("id")))
    consented = dict(Patient.objects.filter(site_id__in=site_ids).values_list("site").annotate(n=Count("id")))
    eligible = dict(
        EligibilityAssessment.objects.filter(patient__site_id__in=site_ids, outcome="eligible")
        .values_list("patient__site")
        .annotate(n=Count("id"))
    )
    # Plain tuples, not model instances: the dashboard reads five columns of every allocation.
    allocations = list(
        Allocation.objects.filter(patient__site_id__in=site_ids)
        .order_by("randomised_at")
        .values_list("patient__site_id", "arm", "stratum", "randomised_at", "patient__liver_resection_date")
    )
    randomised = Counter(site_id for site_id, *_rest in allocations)
    rows = [
        {
            "site": s,
            "screened": screened.get(s.pk, 0),
            "consented": consented.get(s.pk, 0),
            "eligible": eligible.get(s.pk, 0),
            "randomised": randomised.get(s.pk, 0),
            "target": s.recruitment_target,
        }
        for s in sites
    ]
    totals = {k: sum(r[k] for r in rows) for k in ("screened", "consented", "eligible", "randomised", "target")}
    failures = Counter(
        ScreeningEntry.objects.filter(site_id__in=site_ids, patient__isnull=True)
        .exclude(not_randomised_reason="")
        .values_list("not_randomised_reason", flat=True)
    )
    reason_labels = dict(ScreeningEntry.NotRandomisedReason.choices)
    by_arm = Counter(arm for _site, arm, *_rest in allocations)
    by_stratum = defaultdict(Counter)
    for _site, arm, stratum, *_rest in allocations:
        by_stratum[stratum][arm] += 1
    delays = sorted((timezone.localtime(at).date() - resected).days for *_first, at, resected in allocations)
    median_delay = delays[len(delays) // 2] if delays else None
    target = trial_target() if user.sees_all_sites else totals["target"]
    prediction = forecast(
        site_histories(sites, randomised, today),
        remaining=max(target - len(allocations), 0),
        today=today,
        seed=FORECAST_SEED,
    )
    return {
        "rows": rows,
        "totals": totals,
        "target": target,
        "failures": [(reason_labels.get(k, k), n) for k, n in failures.most_common()],
        "by_arm": sorted(by_arm.items()),
        "by_stratum": sorted((s, c.get("A", 0), c.get("B", 0)) for s, c in by_stratum.items()),
        "median_delay": median_delay,
        "forecast": prediction,
        "chart": recruitment_chart(allocations, sites, target, prediction, today),
        "sites": sites,
    }


def recruitment_chart(allocations, sites, target, prediction, today) -> dict:
    """Cumulative randomisations against the planned line and the forecast, as SVG geometry."""
    starts = [timezone.localtime(s.activated_at).date() for s in sites if s.activated_at]
    per_day = Counter(timezone.localtime(at).date() for *_first, at, _resected in allocations)
    start = min(starts + list(per_day), default=today)
    months = getattr(settings, "RECRUITMENT_PLAN_MONTHS", 24)
    planned_end = start + dt.timedelta(days=round(months * 30.44))
    end = max(planned_end, prediction.high or today, today)
    width, height, left, bottom = 640, 260, 48, 28
    span = max((end - start).days, 1)

    def x(day: dt.date) -> float:
        return round(left + (width - left - 10) * (day - start).days / span, 1)

    def y(n: float) -> float:
        return round(height - bottom - (height - bottom - 10) * n / max(target, 1), 1)

    points, total = [(x(start), y(0))], 0
    for day in sorted(per_day):  # one step per day with randomisations, whatever their number
        points.append((x(day), y(total)))
        total += per_day[day]
        points.append((x(day), y(total)))
    points.append((x(today), y(len(allocations))))
    forecast_band = None
    if prediction.low and prediction.high and prediction.remaining:
        forecast_band = {
            "x1": x(prediction.low),
            "x2": x(prediction.high),
            "w": max(round(x(prediction.high) - x(prediction.low), 1), 2),
            "median": x(prediction.median),
            "y": y(target),
            "from": (x(today), y(len(allocations))),
        }
    ticks = []
    day = dt.date(start.year, start.month, 1)
    while day <= end:
        if day >= start and (day.month - 1) % 3 == 0:
            ticks.append((x(day), day.strftime("%b %y")))
        day = dt.date(day.year + (day.month // 12), day.month % 12 + 1, 1)
    return {
        "width": width,
        "height": height,
        "actual": " ".join(f"{px},{py}" for px, py in points),
        "planned": f"{x(start)},{y(0)} {x(planned_end)},{y(target)}",
        "target_y": y(target),
        "zero_y": y(0),
        "left": left,
        "right": width - 10,
        "forecast": forecast_band,
        "ticks": ticks,
        "y_ticks": [(y(v), v) for v in range(0, target + 1, max(target // 3, 1))],
        "today_x": x(today),
    }


def _expected_codes() -> dict[str, tuple[list[str], bool]]:
    """Form code → (visit codes expecting it, whether unscheduled visits expect it)."""
    expected: dict[str, tuple[list[str], bool]] = {}
    unscheduled = set(expected_forms(Visit(code="U1")))
    for code, model in FORMS.items():
        if model.REPEATING:
            continue
        codes = [v.code for v in schedule.schedule() if code in v.forms]
        expected[code] = (codes, code in unscheduled)
    return expected


def data_quality(*, user, today: dt.date | None = None) -> dict:
    """Per-site data-quality figures from SQL aggregates: a fixed number of queries, and the work
    stays in PostgreSQL whatever the size of the trial."""
    today = today or timezone.localdate()
    sites = list(Site.objects.visible_to(user).order_by("code"))
    site_ids = [s.pk for s in sites]
    per_site = {s.pk: defaultdict(int) for s in sites}
    off_study = Patient.OFF_STUDY
    expected_visits = (
        Visit.objects.filter(
            patient__site_id__in=site_ids, retired_at__isnull=True, missed_reason="", not_applicable_reason=""
        )
        .exclude(patient__status__in=off_study)
        .exclude(code=Visit.LOG_CODE)
    )
    for site_id, n in (
        expected_visits.filter(done_on__isnull=True, window_end__lt=today)
        .values_list("patient__site_id")
        .annotate(n=Count("id"))
    ):
        per_site[site_id]["overdue_visits"] = n
    past_or_done = expected_visits.filter(Q(done_on__isnull=False) | Q(window_end__lt=today))
    statuses = Counter()
    for code, (codes, unscheduled) in _expected_codes().items():
        model = FORMS[code]
        visits = past_or_done.filter(Q(code__in=codes) | (Q(code__regex=r"^U[0-9]+$") if unscheduled else Q(pk=None)))
        missing = (
            visits.exclude(pk__in=model.objects.values("visit_id"))
            .exclude(pk__in=FormNotDone.objects.filter(form_code=code).values("visit_id"))
            .values_list("patient__site_id")
            .annotate(n=Count("id"))
        )
        for site_id, n in missing:
            per_site[site_id]["missing_forms"] += n
    for model in FORMS.values():
        for site_id, status, n in (
            model.objects.filter(patient__site_id__in=site_ids)
            .values_list("patient__site_id", "status")
            .annotate(n=Count("id"))
        ):
            statuses[(site_id, status)] += n
    now = timezone.now()
    week, month = now - dt.timedelta(days=7), now - dt.timedelta(days=30)
    for row in (
        Query.objects.open()
        .filter(patient__site_id__in=site_ids)
        .values("patient__site_id")
        .annotate(
            new=Count("id", filter=Q(created_at__gt=week)),
            mid=Count("id", filter=Q(created_at__lte=week, created_at__gte=month)),
            old=Count("id", filter=Q(created_at__lt=month)),
        )
    ):
        figures = per_site[row["patient__site_id"]]
        figures["queries_new"], figures["queries_month"], figures["queries_old"] = row["new"], row["mid"], row["old"]
    for report in SaeReport.objects.filter(adverse_event__patient__site_id__in=site_ids).select_related(
        "adverse_event__patient"
    ):
        states = {c["state"] for c in sae_clocks(report, now)}
        key = "sae_overdue" if "overdue" in states else "sae_open" if "open" in states else "sae_met"
        per_site[report.adverse_event.patient.site_id][key] += 1
    rows = []
    for site in sites:
        figures = per_site[site.pk]
        complete = statuses[(site.pk, FormStatus.COMPLETE)]
        verified = statuses[(site.pk, FormStatus.VERIFIED)] + statuses[(site.pk, FormStatus.LOCKED)]
        rows.append(
            {
                "site": site,
                "in_progress": statuses[(site.pk, FormStatus.IN_PROGRESS)],
                "missing_forms": figures["missing_forms"],
                "overdue_visits": figures["overdue_visits"],
                "queries_new": figures["queries_new"],
                "queries_month": figures["queries_month"],
                "queries_old": figures["queries_old"],
                "sdv_done": verified,
                "sdv_total": complete + verified,
                "sdv_percent": round(100 * verified / (complete + verified)) if complete + verified else None,
                "sae_overdue": figures["sae_overdue"],
                "sae_open": figures["sae_open"],
                "sae_met": figures["sae_met"],
            }
        )
    keys = (
        "in_progress",
        "missing_forms",
        "overdue_visits",
        "queries_new",
        "queries_month",
        "queries_old",
        "sdv_done",
        "sdv_total",
        "sae_overdue",
        "sae_open",
        "sae_met",
    )
    totals = {k: sum(r[k] for r in rows) for k in keys}
    return {"rows": rows, "totals": totals}


DASHBOARDS = {"recruitment": recruitment, "data-quality": data_quality}


def _scope_key(name: str, user) -> str:
    scope = "all" if user.sees_all_sites else ",".join(str(pk) for pk in sorted(user.site_roles))
    return f"dashboard:{name}:{timezone.localdate().isoformat()}:{scope}"


def dashboard_compute(name: str, *, user) -> tuple[dict, dt.datetime]:
    """Compute the dashboard for the user's scope now and keep it for the others of that scope."""
    key = _scope_key(name, user)
    entry = (DASHBOARDS[name](user=user), timezone.now())
    cache.set(key, entry, settings.DASHBOARD_STALE_SECONDS)
    cache.delete(f"{key}:refreshing")
    return entry


def cached(name: str, *, user, refresh: bool = False) -> tuple[dict, dt.datetime]:
    """Dashboard figures for the user's scope: computed at most once a minute per scope, and
    recomputed by the worker rather than inside a request (stale-while-revalidate).

    Trial-wide aggregates cost a tenth of a second or more at phase III size, and a dozen people
    opening a dashboard must not each pay it, nor wait for it: figures older than
    DASHBOARD_CACHE_SECONDS are shown at once while a Celery task recomputes them, and only figures
    older than DASHBOARD_STALE_SECONDS (or none at all, or "Refresh now") are computed in the
    request. The page says when they were computed. The key is the set of sites the user may see,
    so two users share figures only when they see the same data. Hand-written: Django's cache has
    no stale-while-revalidate, and the libraries that add it cache whole responses, which would
    share one user's page (and its CSRF token and menus) with another.
    """
    # Import cycle: reports.tasks imports dashboard_compute from this module.
    from .tasks import refresh_dashboard

    key = _scope_key(name, user)
    entry = None if refresh else cache.get(key)
    age = (timezone.now() - entry[1]).total_seconds() if entry is not None else None
    if age is None or age >= settings.DASHBOARD_STALE_SECONDS:
        return dashboard_compute(name, user=user)
    fresh_for = settings.DASHBOARD_CACHE_SECONDS
    if age >= fresh_for and cache.add(f"{key}:refreshing", 1, fresh_for):
        # one refresh per scope at a time, however many people look meanwhile
        try:
            refresh_dashboard.delay(name, user.pk)
        except Exception:  # the broker is down: the page still answers, with figures it says are old
            logger.warning("dashboard refresh not queued", exc_info=True, extra={"dashboard": name})
    return entry
