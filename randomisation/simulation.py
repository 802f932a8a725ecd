"""Simulate a trial's randomisation many times to compare methods with numbers.

For each run: patients with random factor levels (prevalences below, from the NET literature's
rough proportions) are allocated by the method; the final |A − B| overall and per factor level is
recorded, and the share of allocations a site could guess under the strongest guessing strategy
that applies to the method (50 % means unguessable):

- permuted blocks (and simple randomisation): the convergence strategy of Blackwell & Hodges (1957),
  guess the arm allocated less often so far in the patient's stratum, a coin on a tie;
- minimisation: a site that knows the marginal totals of every factor level guesses the arm that
  minimisation favours for the next patient (Pocock & Simon 1975), a coin on a tie. The convergence
  guesser does not apply to minimisation, which balances margins, not strata.

The selection-bias measure is Blackwell & Hodges' expected bias factor E(G − n/2): how many more
allocations per trial the guesser gets right than a coin would; a biased investigator who steers
patients by the guess shifts the treatment effect in proportion to it (Rosenberger & Lachin,
Randomization in Clinical Trials, 2nd ed., §5.2).
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


GUESS_STRATEGY = {
    "simple": "convergence (Blackwell-Hodges): any strategy is right half the time",
    "blocks": "convergence (Blackwell-Hodges): the arm less allocated so far in the stratum",
    "minimisation": "the arm minimisation favours, knowing every factor level's totals",
}


@dataclass
class MethodResult:
    method: str
    overall_imbalance: list[int]
    max_level_imbalance: list[int]
    correct_guess_rate: float  # under the strongest strategy that applies to the method
    patients: int = 0
    convergence_guess_rate: float = 0.5  # the stratum-convergence guesser, for comparison

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
            "guess_strategy": GUESS_STRATEGY[self.method],
            "convergence_guess_rate": round(self.convergence_guess_rate, 4),
            "selection_bias_factor": round((self.correct_guess_rate - 0.5) * self.patients, 2),
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
    factors=None,
) -> MethodResult:
    rnd = random.Random(seed)  # noqa: S311 - simulation only; allocation lists use SeededCsprng
    rng = _SimRng(rnd)
    factors = list(factors or FACTOR_LEVELS)
    strata_codes = design.strata(factors, FACTOR_LEVELS)
    overall, worst, correct, converged, guesses = [], [], 0.0, 0.0, 0
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
            convergence = "A" if seen["A"] < seen["B"] else "B" if seen["B"] < seen["A"] else None
            guess = convergence
            if method == "blocks":
                arm = lists[stratum][position[stratum]]
                position[stratum] += 1
            elif method == "simple":
                arm = "A" if rnd.random() < 0.5 else "B"
            else:
                arm, favoured = design.minimisation_choice(
                    counts,
                    levels,
                    measure=measure,
                    probability=probability,
                    rng_value=rnd.random(),
                    tie_value=rnd.random(),
                )
                guess = favoured or None  # the marginal totals give the guesser the same favoured arm
            correct += 0.5 if guess is None else float(guess == arm)
            converged += 0.5 if convergence is None else float(convergence == arm)
            guesses += 1
            seen[arm] += 1
            totals[arm] += 1
            for f, lv in levels.items():
                counts[f][lv][arm] += 1
        overall.append(abs(totals["A"] - totals["B"]))
        worst.append(max(abs(c["A"] - c["B"]) for f in factors for c in counts[f].values()))
    return MethodResult(method, overall, worst, correct / guesses, patients, converged / guesses)


BLOCK_SIZE_CANDIDATES = ((2,), (2, 4), (4,), (2, 4, 6), (4, 6), (4, 6, 8), (6, 8), (8, 10))


def recommend_block_sizes(*, patients: int, target_guess_rate: float, runs: int, seed: int) -> dict:
    """The smallest block sizes whose convergence guess rate stays at or under the target.

    Smaller blocks keep each stratum balanced more tightly, larger ones are harder to guess; the
    recommendation is the first candidate (ordered by largest block, then by smallest) meeting the
    target, with every candidate's simulated rate so the statistician can see the trade-off.
    """
    table = []
    for sizes in sorted(BLOCK_SIZE_CANDIDATES, key=lambda c: (max(c), min(c))):
        result = simulate(method="blocks", patients=patients, runs=runs, seed=seed, block_sizes=sizes)
        summary = result.summary()
        table.append(
            {
                "block_sizes": list(sizes),
                "correct_guess_rate": summary["correct_guess_rate"],
                # Larger blocks leave more of the last block of each stratum unfilled: the price.
                "overall_abs_A_minus_B_p95": summary["overall_abs_A_minus_B"]["p95"],
            }
        )
    meeting = [row for row in table if row["correct_guess_rate"] <= target_guess_rate]
    return {
        "target_guess_rate": target_guess_rate,
        "recommended": meeting[0]["block_sizes"] if meeting else None,
        "candidates": table,
    }


def _draw(rnd: random.Random, prevalence: dict[str, float]) -> str:
    x, acc = rnd.random(), 0.0
    for level, p in prevalence.items():
        acc += p
        if x < acc:
            return level
    return level
