"""Simulate a trial's randomisation many times to compare methods with numbers.

For each run: patients with random factor levels (prevalences below, from the NET literature's
rough proportions) are allocated by the method; we record the final |A − B| overall and per factor
level, and the share of allocations a site could guess under the convergence strategy
(Blackwell–Hodges: guess the arm allocated less often so far in the patient's stratum; toss a coin
on a tie). 50 % means unguessable.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from dataclasses import dataclass

from . import design
from .models import FACTOR_LEVELS

PREVALENCE = {
    "primary_site": {"pancreas": 0.4, "other": 0.6},
    "who_grade": {"G1": 0.45, "G2": 0.55},
    "resection_margin": {"R0": 0.7, "R1": 0.3},
}


class _SimRng:
    """The design functions' generator interface over a fast non-cryptographic PRNG (simulation only)."""

    def __init__(self, rnd: random.Random) -> None:
        self._r = rnd

    def choice(self, items):
        return self._r.choice(items)

    def shuffle(self, items):
        self._r.shuffle(items)

    def random(self):
        return self._r.random()


@dataclass
class MethodResult:
    method: str
    overall_imbalance: list[int]
    max_level_imbalance: list[int]
    correct_guess_rate: float

    def summary(self) -> dict:
        overall = sorted(self.overall_imbalance)
        levels = sorted(self.max_level_imbalance)

        def pct(values, q):
            return values[min(len(values) - 1, int(q * len(values)))]

        return {
            "method": self.method,
            "overall_abs_A_minus_B": {
                "mean": round(statistics.fmean(overall), 2),
                "median": pct(overall, 0.5),
                "p95": pct(overall, 0.95),
                "max": overall[-1],
            },
            "worst_factor_level_abs_A_minus_B": {
                "mean": round(statistics.fmean(levels), 2),
                "median": pct(levels, 0.5),
                "p95": pct(levels, 0.95),
                "max": levels[-1],
            },
            "correct_guess_rate": round(self.correct_guess_rate, 4),
        }


def simulate(
    *,
    method: str,
    patients: int,
    runs: int,
    seed: int,
    block_sizes=(2, 4),
    probability: float = 0.8,
    measure: str = "range",
) -> MethodResult:
    rnd = random.Random(seed)  # noqa: S311 - simulation only; allocation lists use SeededCsprng
    rng = _SimRng(rnd)
    factors = list(FACTOR_LEVELS)
    strata_codes = design.strata(factors, FACTOR_LEVELS)
    overall, worst, correct, guesses = [], [], 0.0, 0
    for _ in range(runs):
        lists = {}
        if method == "blocks":
            rows = design.generate_blocks(rng, strata_codes, patients, block_sizes)
            for r in rows:
                lists.setdefault(r.stratum, []).append(r.arm)
        position = defaultdict(int)
        stratum_counts = defaultdict(lambda: {"A": 0, "B": 0})
        counts: dict[str, dict[str, dict[str, int]]] = {
            f: {lv: {"A": 0, "B": 0} for lv in FACTOR_LEVELS[f]} for f in factors
        }
        totals = {"A": 0, "B": 0}
        for _patient in range(patients):
            levels = {f: _draw(rnd, PREVALENCE[f]) for f in factors}
            stratum = design.stratum_of(levels, factors)
            seen = stratum_counts[stratum]
            guess = "A" if seen["A"] < seen["B"] else "B" if seen["B"] < seen["A"] else None
            if method == "blocks":
                arm = lists[stratum][position[stratum]]
                position[stratum] += 1
            elif method == "simple":
                arm = "A" if rnd.random() < 0.5 else "B"
            else:
                arm, _ = design.minimisation_choice(
                    counts,
                    levels,
                    measure=measure,
                    probability=probability,
                    rng_value=rnd.random(),
                    tie_value=rnd.random(),
                )
            correct += 0.5 if guess is None else float(guess == arm)
            guesses += 1
            seen[arm] += 1
            totals[arm] += 1
            for f, lv in levels.items():
                counts[f][lv][arm] += 1
        overall.append(abs(totals["A"] - totals["B"]))
        worst.append(max(abs(c["A"] - c["B"]) for f in factors for c in counts[f].values()))
    return MethodResult(method, overall, worst, correct / guesses)


def _draw(rnd: random.Random, prevalence: dict[str, float]) -> str:
    x, acc = rnd.random(), 0.0
    for level, p in prevalence.items():
        acc += p
        if x < acc:
            return level
    return level
