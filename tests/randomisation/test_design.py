"""List generation, CSV import validation and minimisation, without the database."""

import pytest

from randomisation import design
from randomisation.generator import SeededCsprng
from randomisation.models import FACTOR_LEVELS
from randomisation.simulation import recommend_block_sizes, simulate

STRATA = design.strata(list(FACTOR_LEVELS), FACTOR_LEVELS)


def test_there_are_eight_default_strata():
    assert len(STRATA) == 8 and "pancreas|G1|R0" in STRATA and "other|G2|R1" in STRATA


def test_same_seed_gives_the_same_list_and_another_seed_another():
    first = design.generate_blocks(SeededCsprng("11" * 32), STRATA, 108, [2, 4])
    again = design.generate_blocks(SeededCsprng("11" * 32), STRATA, 108, [2, 4])
    other = design.generate_blocks(SeededCsprng("22" * 32), STRATA, 108, [2, 4])
    assert first == again
    assert [r.arm for r in first] != [r.arm for r in other]


def test_every_block_is_balanced_and_both_sizes_occur():
    rows = design.generate_blocks(SeededCsprng("33" * 32), STRATA, 108, [2, 4])
    blocks = {}
    for r in rows:
        blocks.setdefault((r.stratum, r.block_number), []).append(r)
    sizes = set()
    for members in blocks.values():
        assert len(members) == members[0].block_size
        assert sum(m.arm == "A" for m in members) == sum(m.arm == "B" for m in members)
        sizes.add(len(members))
    assert sizes == {2, 4}
    for stratum in STRATA:
        sequence = [r.sequence for r in rows if r.stratum == stratum]
        assert sequence == list(range(1, len(sequence) + 1)) and len(sequence) >= 108


def test_the_generator_is_uniform_enough_and_unbiased():
    rng = SeededCsprng("44" * 32)
    counts = [0] * 6
    for _ in range(6000):
        counts[rng.randbelow(6)] += 1
    assert all(900 < c < 1100 for c in counts)


def _csv(rows):
    return "stratum,sequence,block,arm\n" + "".join(f"{s},{q},{b},{a}\n" for s, q, b, a in rows)


def _valid_rows():
    rows = []
    for stratum in STRATA:
        rows += [(stratum, 1, 1, "A"), (stratum, 2, 1, "B"), (stratum, 3, 2, "B"), (stratum, 4, 2, "A")]
    return rows


def test_a_valid_statistician_list_is_accepted():
    rows, errors = design.parse_list_csv(_csv(_valid_rows()), STRATA)
    assert errors == [] and len(rows) == 32 and {r.block_size for r in rows} == {2}


def test_an_unbalanced_block_is_rejected_with_its_line_number():
    rows = _valid_rows()
    rows[5] = (rows[5][0], 2, 1, "A")  # second stratum, block 1 now A, A (line 7 starts it)
    _, errors = design.parse_list_csv(_csv(rows), STRATA)
    assert any(e.startswith("Line 6: block 1 of") and "unbalanced (2 A, 0 B)" in e for e in errors), errors


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda rows: rows.__setitem__(2, (rows[2][0], 5, 2, "B")), "a gap"),
        (lambda rows: rows.__setitem__(1, (rows[1][0], 2, 1, "C")), "Line 3: arm 'C' is not A or B."),
        (lambda rows: [rows.pop() for _ in range(4)], "has no rows"),
        (lambda rows: rows.append(("mars|G1|R0", 1, 1, "A")), "is not a stratum of this design"),
        (lambda rows: rows.__setitem__(0, (rows[0][0], "x", 1, "A")), "Line 2: sequence and block must be whole"),
    ],
)
def test_list_errors_name_what_and_where(mutate, expected):
    rows = _valid_rows()
    mutate(rows)
    _, errors = design.parse_list_csv(_csv(rows), STRATA)
    assert any(expected in e for e in errors), errors


def test_a_file_without_the_columns_is_refused():
    _, errors = design.parse_list_csv("a,b\n1,2\n", STRATA)
    assert errors == ["Line 1: the header must name the columns arm, block, sequence, stratum."]


def test_minimisation_prefers_the_arm_that_reduces_imbalance():
    counts = {"who_grade": {"G1": {"A": 5, "B": 2}}}
    arm, minimising = design.minimisation_choice(
        counts, {"who_grade": "G1"}, measure="range", probability=0.8, rng_value=0.1, tie_value=0.9
    )
    assert (arm, minimising) == ("B", "B")
    arm, _ = design.minimisation_choice(
        counts, {"who_grade": "G1"}, measure="range", probability=0.8, rng_value=0.95, tie_value=0.9
    )
    assert arm == "A"  # the random element: 20 % of the time the other arm


def test_minimisation_keeps_each_factor_level_balanced_in_simulation(capsys):
    runs = 300
    minimisation = simulate(method="minimisation", patients=90, runs=runs, seed=3).summary()
    simple = simulate(method="simple", patients=90, runs=runs, seed=3).summary()
    print("minimisation", minimisation)  # the figures, for the record of the test run
    print("simple", simple)
    worst = minimisation["worst_factor_level_abs_A_minus_B"]
    assert worst["mean"] <= 3 and worst["p95"] <= 5
    assert minimisation["overall_abs_A_minus_B"]["p95"] <= 4
    assert simple["worst_factor_level_abs_A_minus_B"]["mean"] > 2 * worst["mean"]
    assert minimisation["correct_guess_rate"] > 0.7  # the favoured-arm guesser, not convergence


def _independent_minimisation_guess_rate(runs: int, seed: int, probability: float = 0.8) -> float:
    """A guesser written here from Pocock & Simon (1975), sharing nothing with the simulation but
    the allocation rule: it keeps its own marginal totals per factor level from the arms it has seen,
    scores each arm by the sum over the next patient's levels of the range |A − B| after adding the
    patient to that arm, guesses the arm with the smaller score and tosses a coin on a tie. Right
    with probability p when minimisation has a favourite, 1/2 on a tie."""
    import random

    prevalence = {"primary_site": 0.4, "who_grade": 0.45, "resection_margin": 0.7}  # first level
    rnd = random.Random(seed)
    right, total = 0.0, 0
    for _ in range(runs):
        seen: dict[tuple[str, str], dict[str, int]] = {}
        counts: dict[str, dict[str, dict[str, int]]] = {
            f: {lv: {"A": 0, "B": 0} for lv in FACTOR_LEVELS[f]} for f in FACTOR_LEVELS
        }
        for _patient in range(90):
            levels = {
                f: FACTOR_LEVELS[f][0] if rnd.random() < p else FACTOR_LEVELS[f][1] for f, p in prevalence.items()
            }
            score = {}
            for arm in "AB":
                score[arm] = 0
                for factor, level in levels.items():
                    tally = dict(seen.get((factor, level), {"A": 0, "B": 0}))
                    tally[arm] += 1
                    score[arm] += abs(tally["A"] - tally["B"])
            guess = None if score["A"] == score["B"] else min("AB", key=score.get)
            arm, _ = design.minimisation_choice(
                counts, levels, measure="range", probability=probability, rng_value=rnd.random(), tie_value=rnd.random()
            )
            right += 0.5 if guess is None else float(guess == arm)
            total += 1
            for factor, level in levels.items():
                seen.setdefault((factor, level), {"A": 0, "B": 0})[arm] += 1
                counts[factor][level][arm] += 1
    return right / total


def test_minimisations_reported_guess_rate_agrees_with_an_independent_guesser():
    """Two independent simulations of 400 trials × 90 patients: each rate has a standard error of
    about sqrt(0.74 × 0.26 / 36,000) = 0.0023, their difference about 0.0033; 0.015 is 4.5 of those.
    The issue's figure for p = 0.8 is about 74 %, above permuted blocks' 71 %."""
    reported = simulate(method="minimisation", patients=90, runs=400, seed=5).summary()
    independent = _independent_minimisation_guess_rate(400, seed=6)
    assert abs(reported["correct_guess_rate"] - independent) < 0.015, (reported["correct_guess_rate"], independent)
    assert 0.72 <= independent <= 0.77
    # With p = 1 every allocation off a tie is the favoured arm, so the guesser does better still.
    assert _independent_minimisation_guess_rate(100, seed=7, probability=1.0) > 0.85
    assert reported["selection_bias_factor"] == pytest.approx((reported["correct_guess_rate"] - 0.5) * 90, abs=0.01)


def test_blocks_of_2_and_4_stay_at_about_071_for_90_patients_in_8_strata():
    """Blackwell & Hodges' convergence guesser on complete blocks, by hand: a block of 2 is guessed
    right (1/2 + 1)/2 = 0.75 of the time; a block of 4 (1/2 + 2/3 + 2/3 + 1)/4 = 0.708 (second: the
    other arm, 2 of 3 remaining; third: 2/3 of the time a tie, else certain; fourth: certain).
    Sizes 2 and 4 chosen equally per block give (2 × 0.75 + 4 × 0.708)/6 = 0.722 per patient; the
    last, unfinished block of each of 8 strata of about 11 patients pulls it a little lower."""
    blocks = simulate(method="blocks", patients=90, runs=400, seed=8).summary()
    assert 0.69 <= blocks["correct_guess_rate"] <= 0.73
    assert blocks["guess_strategy"].startswith("convergence")
    assert simulate(method="simple", patients=90, runs=200, seed=8).summary()["correct_guess_rate"] == pytest.approx(
        0.5, abs=0.02
    )


def test_block_size_advice_meets_the_target_and_shows_the_tradeoff():
    advice = recommend_block_sizes(patients=90, target_guess_rate=0.70, runs=100, seed=2)
    rates = {tuple(row["block_sizes"]): row["correct_guess_rate"] for row in advice["candidates"]}
    assert rates[(2,)] > 0.72  # 0.75 on complete blocks, by hand above
    chosen = tuple(advice["recommended"])
    assert rates[chosen] <= 0.70
    # The first candidate in order of block size that meets the target.
    order = [tuple(row["block_sizes"]) for row in advice["candidates"]]
    assert all(rates[c] > 0.70 for c in order[: order.index(chosen)])


pytestmark = pytest.mark.requirement("URS-RAND-003", "URS-RAND-004")
