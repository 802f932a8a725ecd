"""The Poisson–gamma recruitment forecast (Anisimov & Fedorov, Stat Med 2007) against known answers."""

import datetime as dt
import random
from math import comb

import pytest

from reports.forecast import MIN_EXPOSURE_DAYS, SiteHistory, _time_to, forecast, gamma_prior

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


def _time_to_truth(remaining, rates, rng):
    return sum(rng.expovariate(sum(rates)) for _ in range(remaining))


def _open(code, n, days):
    return SiteHistory(code, n, days, True)


def test_interval_covers_the_true_completion_in_most_runs():
    """Five sites at known constant rates for 180 days; the truth is then simulated forward. A
    calibrated 80 % interval covers it in about 80 % of runs and the median is above it about half
    the time. Stated share: at least 65 % of 60 runs covered (the 5th percentile of Bin(60, 0.8) is
    about 43/60 = 0.72, so 0.65 leaves room for the prior's own estimation error), median above the
    truth in 30–70 % of runs."""
    rng = random.Random(2026)
    rates = [0.03, 0.05, 0.08, 0.04, 0.06]  # patients per day
    covered, above, runs, widths = 0, 0, 60, []
    for run in range(runs):
        counts = _simulate(rates, 180, rng)
        remaining = 90 - sum(counts)
        truth = TODAY + dt.timedelta(days=round(_time_to_truth(remaining, rates, rng)))
        sites = [_open(f"S{i}", n, 180) for i, n in enumerate(counts)]
        result = forecast(sites, remaining=remaining, today=TODAY, draws=1500, seed=run)
        covered += result.low <= truth <= result.high
        above += result.median > truth
        widths.append((result.high - result.low).days)
    assert covered >= 0.65 * runs, covered
    assert 0.3 * runs <= above <= 0.7 * runs, above
    assert max(widths) < 200  # an interval, not the whole calendar


def _posterior_median(shape: int, exposure: float, remaining: int) -> float:
    """Exact median of T when the one recruiting site's rate is Gamma(shape, exposure) a posteriori.

    T = exposure · G1 / G2 with G1 ~ Gamma(remaining), G2 ~ Gamma(shape), so
    P(T ≤ x) = P(G1 / (G1 + G2) ≤ p) with p = x / (exposure + x), the regularised incomplete beta
    I_p(remaining, shape); for whole numbers I_p(a, b) = P(Binomial(a + b − 1, p) ≥ a). Solved for
    0.5 by bisection.
    """
    n = remaining + shape - 1

    def cdf(x):
        p = x / (exposure + x)
        return sum(comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(remaining, n + 1))

    low, high = 0.0, 10_000.0
    for _ in range(80):
        mid = (low + high) / 2
        low, high = (mid, high) if cdf(mid) < 0.5 else (low, mid)
    return low


def test_a_closed_site_recruits_nothing_after_closing():
    """The issue's case: site A 10 patients in 100 days and open; site B 10 in 100 days, then closed;
    10 remaining. Method of moments: both rates are 0.1/day, no spread beyond Poisson noise, so the
    prior's shape is capped at the 20 patients seen: Gamma(20, 200). A's posterior is
    Gamma(30, 300) and only A recruits: median of T = 97.8 days exactly (derivation in
    _posterior_median). With a rate known to be 0.1 it would be Gamma(10, 0.1)'s median, 96.7; with
    a flat prior 100. The old model, counting B as recruiting, gave 67."""
    sites = [_open("A", 10, 100), SiteHistory("B", 10, 100, False)]
    result = forecast(sites, remaining=10, today=TODAY, seed=7)
    assert (result.prior_shape, result.prior_rate) == (20, 200)
    exact = _posterior_median(20 + 10, 200 + 100, 10)
    assert exact == pytest.approx(97.77, abs=0.01)
    assert (result.median - TODAY).days == pytest.approx(exact, rel=0.05)
    assert (result.median - TODAY).days == pytest.approx(99, rel=0.05)  # the figure
    contributions = [(c.code, c.kind, c.rate_per_month) for c in result.sites]
    assert contributions == [("A", "recruiting", 3.04), ("B", "stopped", 0)]  # 30/300 a day


def test_cumulative_intensity_with_a_site_opening_later():
    """Hand-worked: A at 0.1/day from today, P at 0.1/day from day 30. Two patients: A alone takes
    2 / 0.1 = 20 days, before P opens. Five: A covers 3 by day 30, then 0.2/day for the other 2:
    30 + 10 = 40 days. Nobody recruiting: never."""
    assert _time_to(2, [(0.1, 0), (0.1, 30)]) == pytest.approx(20)
    assert _time_to(5, [(0.1, 0), (0.1, 30)]) == pytest.approx(40)
    assert _time_to(5, [(0.1, 30)]) == pytest.approx(80)
    assert _time_to(5, []) == float("inf")


def test_a_site_planned_for_next_month_contributes_only_from_then():
    """A planned site recruits at the prior's mean rate from its planned activation date: opening it
    next month forecasts later than opening it today and sooner than never; planned far beyond the
    forecast horizon, it changes nothing (within simulation error)."""
    active = [_open("A", 10, 100), _open("C", 12, 100)]
    alone = forecast(active, remaining=20, today=TODAY, seed=3)
    today_open = forecast([*active, SiteHistory("P", 0, 0, False, 0)], remaining=20, today=TODAY, seed=3)
    next_month = forecast([*active, SiteHistory("P", 0, 0, False, 31)], remaining=20, today=TODAY, seed=3)
    far = forecast([*active, SiteHistory("P", 0, 0, False, 5000)], remaining=20, today=TODAY, seed=3)
    assert today_open.median < next_month.median < alone.median
    assert abs((far.median - alone.median).days) <= 2
    planned = next(c for c in next_month.sites if c.code == "P")
    assert planned.kind == "planned" and planned.starts == TODAY + dt.timedelta(days=31)
    shape, rate = gamma_prior(active)
    assert planned.rate_per_month == round(shape / rate * 30.44, 2)
    # Today's rate counts only the sites open today.
    assert next_month.rate_per_month == alone.rate_per_month


def test_prior_by_moments_subtracts_the_poisson_noise():
    """Four sites, 100 days each, 5, 20, 10 and 25 patients. Pooled mean m = 60/400 = 0.15/day.
    Rates 0.05, 0.20, 0.10, 0.25: sample variance 0.025/3 = 0.008333; Poisson noise m · mean(1/t)
    = 0.0015; between-site variance 0.006833. Shape m²/v = 3.2927, rate m/v = 21.951 per day."""
    shape, rate = gamma_prior([_open("A", 5, 100), _open("B", 20, 100), _open("C", 10, 100), _open("D", 25, 100)])
    assert shape == pytest.approx(3.2927, abs=1e-3) and rate == pytest.approx(21.951, abs=1e-2)


def test_not_enough_data_below_the_minimum_exposure():
    short = forecast([_open("A", 3, 90), _open("B", 1, MIN_EXPOSURE_DAYS - 91)], remaining=86, today=TODAY)
    assert not short.enough_data and short.median is None and "Not enough data" in short.note
    assert "180 site-days" in short.note
    nobody = forecast([_open("A", 0, 400)], remaining=90, today=TODAY)
    assert not nobody.enough_data and nobody.median is None
    enough = forecast([_open("A", 3, 90), _open("B", 1, MIN_EXPOSURE_DAYS - 90)], remaining=86, today=TODAY)
    assert enough.enough_data and enough.median is not None


def test_faster_sites_finish_sooner_and_seeded_results_repeat():
    slow = forecast([_open("A", 5, 100), _open("B", 4, 100)], remaining=50, today=TODAY, seed=1)
    fast = forecast([_open("A", 20, 100), _open("B", 25, 100)], remaining=50, today=TODAY, seed=1)
    assert fast.median < slow.median
    again = forecast([_open("A", 5, 100), _open("B", 4, 100)], remaining=50, today=TODAY, seed=1)
    assert again == slow and again.seed == 1


def test_edges():
    done = forecast([_open("A", 90, 300)], remaining=0, today=TODAY)
    assert done.median == TODAY and done.remaining == 0
    closed = forecast([SiteHistory("A", 10, 300, False)], remaining=10, today=TODAY)
    assert closed.median is None and "No site is recruiting" in closed.note


pytestmark = pytest.mark.requirement("URS-DASH-002")
