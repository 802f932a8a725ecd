"""The Poisson–gamma recruitment forecast: its 80 % interval covers the truth in most runs."""

import datetime as dt
import random

import pytest

from reports.forecast import forecast

TODAY = dt.date(2026, 1, 1)


def _simulate(rates, days, rng):
    """Recruitment counts after ``days`` for sites recruiting at constant Poisson ``rates`` per day."""
    counts = []
    for rate in rates:
        t, n = rng.expovariate(rate), 0
        while t <= days:
            n += 1
            t += rng.expovariate(rate)
        counts.append(n)
    return counts


def _time_to(remaining, rates, rng):
    return sum(rng.expovariate(sum(rates)) for _ in range(remaining))


def test_interval_covers_the_true_completion_in_most_runs():
    rng = random.Random(2026)
    rates = [0.03, 0.05, 0.08, 0.04, 0.06]  # patients per day, constant and known
    covered, runs = 0, 60
    report = []
    for run in range(runs):
        counts = _simulate(rates, 180, rng)
        remaining = 90 - sum(counts)
        truth = TODAY + dt.timedelta(days=round(_time_to(remaining, rates, rng)))
        result = forecast([(n, 180) for n in counts], remaining=remaining, today=TODAY, draws=1500, seed=run)
        covered += result.low <= truth <= result.high
        report.append((remaining, result.low, result.median, result.high, truth))
    print(f"80 % interval covered the truth in {covered}/{runs} runs")
    assert covered >= 0.65 * runs, report[:5]
    assert covered <= runs  # and it is an interval, not the whole calendar:
    widths = [(high - low).days for _r, low, _m, high, _t in report]
    assert max(widths) < 200


def test_faster_sites_finish_sooner_and_seeded_results_repeat():
    slow = forecast([(5, 100), (4, 100)], remaining=50, today=TODAY, seed=1)
    fast = forecast([(20, 100), (25, 100)], remaining=50, today=TODAY, seed=1)
    assert fast.median < slow.median
    assert forecast([(5, 100)], remaining=10, today=TODAY, seed=3) == forecast(
        [(5, 100)], remaining=10, today=TODAY, seed=3
    )


def test_edges():
    assert forecast([], remaining=10, today=TODAY).median is None
    done = forecast([(90, 300)], remaining=0, today=TODAY)
    assert done.median == TODAY and done.remaining == 0


pytestmark = pytest.mark.requirement("URS-DASH-002")
