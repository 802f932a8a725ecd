"""Recruitment forecast with the Poisson–gamma model (Anisimov & Fedorov, Stat Med 2007;26:4958).

Each site recruits as a Poisson process with its own rate λ_i; the rates vary between sites as
Gamma(α, β) (shape α, rate β). Given n_i patients in t_i days open to recruitment, the site's rate
has the posterior Gamma(α + n_i, β + t_i).

- The prior is estimated by the method of moments with the Poisson term subtracted (Anisimov &
  Fedorov §3): with r_i = n_i / t_i, E[(r_i − m)²] ≈ Var(λ) + m / t_i, so the between-site variance
  is the spread of the observed rates less their Poisson noise. Every site that has been open
  informs the prior, closed and on-hold ones included.
- Only sites open today recruit in the future, each at its posterior rate. A site on hold or closed
  contributes nothing after its status changed. A planned site contributes from its planned
  activation date at a rate drawn from the prior (no data of its own yet).
- The time to the remaining patients is simulated with a recorded seed: draw each contributing
  site's rate, draw S ~ Gamma(remaining, 1) (the remaining-th event of a unit-rate process) and
  solve Λ(T) = S for the cumulative intensity Λ(T) = Σ λ_j · max(0, T − start_j). The median and
  the 10th and 90th percentiles (an 80 % interval) are reported.

Below a minimum of data (MIN_EXPOSURE_DAYS site-days open, at least one patient) the forecast says
so instead of extrapolating from noise. Pure: no database, so tests can give it known answers.
Python's ``random`` is used on purpose: a statistical simulation, reproducible from its seed, not
an allocation (those use randomisation.generator).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

# Six site-months of recruitment, pooled over sites: below this, one or two early patients would
# set the whole trial's rate (the "target reached Dec 2026" at 4 of 90).
MIN_EXPOSURE_DAYS = 180
DAYS_PER_MONTH = 30.44


@dataclass(frozen=True)
class SiteHistory:
    """What one site has done and will do, as the forecast needs it."""

    code: str
    recruited: int  # patients randomised while the site was open
    exposure_days: float  # days open to recruitment so far (to today, or to its hold or closure)
    recruiting: bool  # open today, so it recruits in the future
    starts_in_days: float | None = None  # a planned site: opens this many days from today


@dataclass(frozen=True)
class SiteContribution:
    code: str
    kind: str  # "recruiting", "planned", "stopped"
    rate_per_month: float  # expected future rate (posterior mean, or the prior mean for a planned site)
    share: float  # share of the trial's expected rate once every contributing site is open
    starts: dt.date | None = None


@dataclass
class Forecast:
    remaining: int
    median: dt.date | None
    low: dt.date | None  # 10th percentile: an 80 % interval with ``high``
    high: dt.date | None
    rate_per_month: float  # the trial's expected rate today
    enough_data: bool = True
    note: str = ""  # why there is no date, when there is none
    prior_shape: float | None = None
    prior_rate: float | None = None  # per day
    seed: int = 0
    draws: int = 0
    sites: list[SiteContribution] = field(default_factory=list)


def gamma_prior(sites: list[SiteHistory]) -> tuple[float, float]:
    """Gamma (shape α, rate β per day) of the site rates by the method of moments, Poisson noise removed.

    The mean rate is pooled (Σn / Σt). With fewer than two sites, or no spread beyond Poisson noise,
    the between-site variance is not estimable: a prior whose shape is capped at the number of
    patients seen (it can carry no more information than all the data pooled) is used instead,
    and a single site gets the weakest proper prior (α = 1, an exponential with that mean), so a
    planned site's rate is uncertain rather than assumed equal to the first site's.
    """
    observed = [s for s in sites if s.exposure_days > 0]
    total_n = sum(s.recruited for s in observed)
    total_t = sum(s.exposure_days for s in observed)
    mean = total_n / total_t
    if len(observed) < 2:
        return 1.0, 1.0 / mean
    rates = [s.recruited / s.exposure_days for s in observed]
    spread = sum((r - mean) ** 2 for r in rates) / (len(rates) - 1)
    poisson_noise = mean * sum(1 / s.exposure_days for s in observed) / len(observed)
    between = spread - poisson_noise
    shape = total_n if between <= 0 else min(mean * mean / between, total_n)
    shape = max(shape, 0.5)
    return shape, shape / mean


def _time_to(target: float, rates_starts: list[tuple[float, float]]) -> float:
    """T with Σ λ_j · max(0, T − start_j) = target, the λ_j > 0 (inf if no site ever recruits)."""
    elapsed, slope, covered = 0.0, 0.0, 0.0
    for start, rate in sorted((s, r) for r, s in rates_starts):
        if slope > 0 and covered + slope * (start - elapsed) >= target:
            break
        covered += slope * (start - elapsed)
        elapsed, slope = start, slope + rate
    if slope <= 0:
        return float("inf")
    return elapsed + (target - covered) / slope


def forecast(sites: list[SiteHistory], *, remaining: int, today: dt.date, draws: int = 4000, seed: int = 0) -> Forecast:
    """The predictive distribution of the date the remaining patients are randomised."""
    if remaining <= 0:
        return Forecast(0, today, today, today, 0.0, seed=seed)
    exposure = sum(s.exposure_days for s in sites if s.exposure_days > 0)
    recruited = sum(s.recruited for s in sites if s.exposure_days > 0)
    if exposure < MIN_EXPOSURE_DAYS or recruited == 0:
        return Forecast(
            remaining,
            None,
            None,
            None,
            0.0,
            enough_data=False,
            note=(
                f"Not enough data: {exposure:.0f} site-days open and {recruited} randomised; the forecast "
                f"needs at least {MIN_EXPOSURE_DAYS} site-days (six site-months) and one patient."
            ),
            seed=seed,
        )
    shape, rate = gamma_prior(sites)
    recruiting = [s for s in sites if s.recruiting]
    planned = [s for s in sites if not s.recruiting and s.starts_in_days is not None]
    expected = {s.code: (shape + s.recruited) / (rate + s.exposure_days) for s in recruiting}
    expected.update({s.code: shape / rate for s in planned})
    total_expected = sum(expected.values())
    contributions = []
    for s in sites:
        if s.code in expected:
            kind = "recruiting" if s.recruiting else "planned"
            starts = today + dt.timedelta(days=round(max(s.starts_in_days, 0))) if kind == "planned" else None
            share = expected[s.code] / total_expected if total_expected else 0.0
            contributions.append(
                SiteContribution(s.code, kind, round(expected[s.code] * DAYS_PER_MONTH, 2), round(share, 3), starts)
            )
        elif s.exposure_days > 0:
            contributions.append(SiteContribution(s.code, "stopped", 0.0, 0.0))
    contributions.sort(key=lambda c: -c.share)
    now_rate = sum(expected[s.code] for s in recruiting)
    if not expected:
        return Forecast(
            remaining,
            None,
            None,
            None,
            0.0,
            note="No site is recruiting or planned: the target cannot be reached at the current sites.",
            prior_shape=shape,
            prior_rate=rate,
            seed=seed,
            sites=contributions,
        )
    rng = random.Random(seed)  # noqa: S311 - a statistical simulation, reproducible from the seed
    times = []
    for _ in range(draws):
        rates_starts = [(rng.gammavariate(shape + s.recruited, 1 / (rate + s.exposure_days)), 0.0) for s in recruiting]
        rates_starts += [(rng.gammavariate(shape, 1 / rate), max(s.starts_in_days, 0.0)) for s in planned]
        times.append(_time_to(rng.gammavariate(remaining, 1.0), rates_starts))
    times.sort()

    def at(q: float) -> dt.date | None:
        value = times[min(int(q * draws), draws - 1)]
        return None if value == float("inf") else today + dt.timedelta(days=round(value))

    return Forecast(
        remaining,
        at(0.5),
        at(0.1),
        at(0.9),
        round(now_rate * DAYS_PER_MONTH, 2),
        prior_shape=round(shape, 4),
        prior_rate=rate,
        seed=seed,
        draws=draws,
        sites=contributions,
    )
