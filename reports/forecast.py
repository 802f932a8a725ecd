"""Recruitment forecast with the Poisson–gamma model (Anisimov & Fedorov, Stat Med 2007).

Each site recruits as a Poisson process with its own rate; rates vary between sites as a gamma
distribution. Each site's rate has a gamma posterior given what it recruited in the time it has
been active (a weak prior pooled across sites, by the method of moments). The time to recruit the
remaining patients is simulated: draw each site's rate, add them up (a sum of Poisson processes is
Poisson), and draw the waiting time for the remaining events (gamma). Pure and seeded.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass


@dataclass
class Forecast:
    remaining: int
    median: dt.date | None
    low: dt.date | None  # 10th percentile: an 80 % interval with ``high``
    high: dt.date | None
    rate_per_month: float  # the trial's current expected rate


def _prior(sites: list[tuple[int, float]]) -> tuple[float, float]:
    """Gamma (shape, rate) prior for site rates by the method of moments, kept weak."""
    rates = [n / t for n, t in sites if t > 0]
    if not rates:
        return 1.0, 30.0
    mean = sum(rates) / len(rates)
    var = sum((r - mean) ** 2 for r in rates) / max(len(rates) - 1, 1)
    if mean <= 0:
        return 0.5, 30.0
    # With no spread beyond Poisson noise between sites, a moderate shape; else the moments' value.
    poisson_noise = mean / max(sum(t for _n, t in sites) / len(sites), 1)
    shape = 2.0 if var <= poisson_noise else max(mean * mean / var, 0.5)
    return shape, shape / mean


def forecast(
    sites: list[tuple[int, float]], *, remaining: int, today: dt.date, draws: int = 4000, seed: int = 0
) -> Forecast:
    """``sites``: (patients recruited, days active) per active site."""
    if remaining <= 0:
        return Forecast(0, today, today, today, 0.0)
    active = [(n, t) for n, t in sites if t > 0]
    if not active:
        return Forecast(remaining, None, None, None, 0.0)
    shape, rate = _prior(active)
    rng = random.Random(seed)  # noqa: S311 - a statistical simulation, reproducible from the seed
    times = []
    for _ in range(draws):
        total = sum(rng.gammavariate(shape + n, 1 / (rate + t)) for n, t in active)
        times.append(rng.gammavariate(remaining, 1 / total) if total > 0 else float("inf"))
    times.sort()

    def at(q: float) -> dt.date | None:
        value = times[min(int(q * draws), draws - 1)]
        return None if value == float("inf") else today + dt.timedelta(days=round(value))

    expected = sum((shape + n) / (rate + t) for n, t in active)
    return Forecast(remaining, at(0.5), at(0.1), at(0.9), round(expected * 30.44, 2))
