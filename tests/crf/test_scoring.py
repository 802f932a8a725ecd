"""Pure-function tests for crf.scoring: WHO grade of a NET and EORTC QLQ-C30 v3.0 scores.

No database: every expected value below is computed by hand from the WHO 2019/2022 cut-offs and the
EORTC QLQ-C30 scoring manual (3rd edition).
"""

from decimal import Decimal

import pytest

from crf.scoring import (
    QLQ_C30_SCALES,
    grade_disagreement,
    qlq_c30_scores,
    qlq_c30_summary_score,
    validate_qlq_response,
    who_grade,
)

FUNCTIONAL = [code for code, (_label, kind, _items) in QLQ_C30_SCALES.items() if kind == "functional"]
SYMPTOM = [code for code, (_label, kind, _items) in QLQ_C30_SCALES.items() if kind == "symptom"]


# --- WHO grade ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ki67", "expected"),
    [
        (0, "G1"),
        (Decimal("2.9"), "G1"),
        (Decimal("2.99"), "G1"),
        (3, "G2"),
        (Decimal("3.0"), "G2"),
        (10, "G2"),
        (20, "G2"),
        (Decimal("20.0"), "G2"),
        (Decimal("20.1"), "G3"),
        (55, "G3"),
    ],
)
def test_grade_ki67_boundaries_alone(ki67, expected):
    assert who_grade(ki67, None) == expected


@pytest.mark.parametrize(
    ("mitoses", "expected"),
    [(0, "G1"), (1, "G1"), (Decimal("1.9"), "G1"), (2, "G2"), (20, "G2"), (Decimal("20.5"), "G3"), (21, "G3")],
)
def test_grade_mitoses_boundaries_alone(mitoses, expected):
    assert who_grade(None, mitoses) == expected


@pytest.mark.parametrize(
    ("ki67", "mitoses", "expected"),
    [
        (Decimal("2.9"), 1, "G1"),  # both low: the only way to G1
        (Decimal("2.9"), 2, "G2"),  # mitoses push up
        (3, 1, "G2"),  # Ki-67 pushes up
        (20, 20, "G2"),
        (Decimal("20.1"), 1, "G3"),  # discordant: the higher index wins
        (1, 21, "G3"),
        (15, 25, "G3"),
        (25, 5, "G3"),
        (Decimal("20.1"), 21, "G3"),
    ],
)
def test_grade_both_indices_higher_wins(ki67, mitoses, expected):
    assert who_grade(ki67, mitoses) == expected


@pytest.mark.parametrize(
    ("ki67", "mitoses", "expected"),
    [
        (2.9, None, "G1"),
        (3.0, None, "G2"),
        (20.1, 0.0, "G3"),
        ("2.9", "1", "G1"),
        ("3", "", "G2"),  # blank string counts as missing
        ("", "21", "G3"),
        ("20.1", None, "G3"),
        (Decimal("2.90"), Decimal("1"), "G1"),
        (2, 1, "G1"),
    ],
)
def test_grade_accepts_decimal_float_int_str(ki67, mitoses, expected):
    assert who_grade(ki67, mitoses) == expected


@pytest.mark.parametrize(("ki67", "mitoses"), [(None, None), ("", ""), (None, ""), ("", None)])
def test_grade_none_when_both_missing(ki67, mitoses):
    assert who_grade(ki67, mitoses) is None


# --- grade disagreement ---------------------------------------------------------------------------


def test_disagreement_message_both_indices():
    assert grade_disagreement("G1", 5, 1) == "Entered grade G1 but Ki-67 5 % and mitoses 1 give G2."


def test_disagreement_message_normalises_decimals():
    # Decimal("20") normalises to 2E+1 internally; the message must still read "20".
    assert grade_disagreement("G3", Decimal("20.0"), Decimal("2")) == (
        "Entered grade G3 but Ki-67 20 % and mitoses 2 give G2."
    )
    assert grade_disagreement("G1", Decimal("2.50"), 3) == "Entered grade G1 but Ki-67 2.5 % and mitoses 3 give G2."


def test_disagreement_message_one_index_only():
    assert grade_disagreement("G3", "10", None) == "Entered grade G3 but Ki-67 10 % give G2."
    assert grade_disagreement("G1", None, 25) == "Entered grade G1 but mitoses 25 give G3."
    assert grade_disagreement("G2", "", "1") == "Entered grade G2 but mitoses 1 give G1."


@pytest.mark.parametrize(
    ("entered", "ki67", "mitoses"),
    [
        ("G1", Decimal("2.9"), 1),  # agrees
        ("G2", 3, 1),  # agrees
        ("G3", 1, 21),  # agrees via the higher index
        ("", 25, 1),  # nothing entered
        (None, 25, 1),
        ("G2", None, None),  # nothing derived
        ("G2", "", ""),
    ],
)
def test_no_disagreement(entered, ki67, mitoses):
    assert grade_disagreement(entered, ki67, mitoses) is None


# --- QLQ-C30 scale definitions --------------------------------------------------------------------


def test_scales_cover_every_item_once():
    items = [item for _label, _kind, scale_items in QLQ_C30_SCALES.values() for item in scale_items]
    assert sorted(items) == list(range(1, 31))
    assert len(QLQ_C30_SCALES) == 15
    assert {kind for _label, kind, _items in QLQ_C30_SCALES.values()} == {"functional", "symptom", "global"}
    assert QLQ_C30_SCALES["QL2"][1:] == ("global", (29, 30))
    assert sorted(FUNCTIONAL) == ["CF", "EF", "PF2", "RF2", "SF"]
    assert sorted(SYMPTOM) == ["AP", "CO", "DI", "DY", "FA", "FI", "NV", "PA", "SL"]


# --- QLQ-C30 scores -------------------------------------------------------------------------------


def _all(low: int, high: int) -> dict[int, int | None]:
    """Every item 1–28 answered ``low`` and items 29–30 answered ``high``."""
    return {item: (high if item in (29, 30) else low) for item in range(1, 31)}


def test_all_ones_best_function_no_symptoms_worst_global():
    scores = qlq_c30_scores(_all(1, 1))
    assert all(scores[code] == Decimal("100.0") for code in FUNCTIONAL)
    assert all(scores[code] == Decimal("0.0") for code in SYMPTOM)
    assert scores["QL2"] == Decimal("0.0")


def test_all_fours_and_sevens_worst_function_worst_symptoms_best_global():
    scores = qlq_c30_scores(_all(4, 7))
    assert all(scores[code] == Decimal("0.0") for code in FUNCTIONAL)
    assert all(scores[code] == Decimal("100.0") for code in SYMPTOM)
    assert scores["QL2"] == Decimal("100.0")


def test_scores_are_decimals_with_one_place():
    scores = qlq_c30_scores(_all(2, 3))
    assert set(scores) == set(QLQ_C30_SCALES)
    for score in scores.values():
        assert isinstance(score, Decimal)
        assert score.as_tuple().exponent == -1
    # 2 on 1–4: functional 100 × (1 − 1/3) = 66.7, symptom 100 × 1/3 = 33.3; 3 on 1–7: 100 × 2/6 = 33.3.
    assert scores["PF2"] == Decimal("66.7")
    assert scores["FA"] == Decimal("33.3")
    assert scores["QL2"] == Decimal("33.3")


# Worked example, by hand (range 3 for items 1–28, 6 for 29–30):
#   PF2 items 1–5 = 1,2,1,1,2  RS 7/5 = 1.4     100 × (1 − 0.4/3)     = 86.67 -> 86.7
#   RF2 items 6,7 = 2,3        RS 2.5           100 × (1 − 1.5/3)     = 50.0
#   EF  21–24     = 2,3,2,1    RS 2.0           100 × (1 − 1/3)       = 66.67 -> 66.7
#   CF  20,25     = 2,1        RS 1.5           100 × (1 − 0.5/3)     = 83.33 -> 83.3
#   SF  26,27     = 1,2        RS 1.5           100 × (1 − 0.5/3)     = 83.33 -> 83.3
#   FA  10,12,18  = 2,3,2      RS 7/3 = 2.333   100 × 1.333/3         = 44.44 -> 44.4
#   NV  14,15     = 1,2        RS 1.5           100 × 0.5/3           = 16.67 -> 16.7
#   PA  9,19      = 3,2        RS 2.5           100 × 1.5/3           = 50.0
#   DY  8 = 2                                   100 × 1/3             = 33.3
#   SL  11 = 4                                  100 × 3/3             = 100.0
#   AP  13 = 1                                                        = 0.0
#   CO  16 = 3                                  100 × 2/3             = 66.67 -> 66.7
#   DI  17 = 1                                                        = 0.0
#   FI  28 = 2                                  100 × 1/3             = 33.3
#   QL2 29,30     = 5,4        RS 4.5           100 × 3.5/6           = 58.33 -> 58.3
# Summary (13 scales, no QL2/FI, symptoms as 100 − score):
#   86.7 + 50.0 + 66.7 + 83.3 + 83.3                        (functional)  = 370.0
#   55.6 + 83.3 + 50.0 + 66.7 + 0.0 + 100.0 + 33.3 + 100.0  (symptoms)    = 488.9
#   858.9 / 13 = 66.07 -> 66.1   (unrounded scale scores give 858.889 / 13 = 66.07 too)
WORKED = {
    1: 1, 2: 2, 3: 1, 4: 1, 5: 2,
    6: 2, 7: 3,
    8: 2,
    9: 3, 19: 2,
    10: 2, 12: 3, 18: 2,
    11: 4,
    13: 1,
    14: 1, 15: 2,
    16: 3,
    17: 1,
    20: 2, 25: 1,
    21: 2, 22: 3, 23: 2, 24: 1,
    26: 1, 27: 2,
    28: 2,
    29: 5, 30: 4,
}  # fmt: skip
WORKED_SCORES = {
    "PF2": "86.7", "RF2": "50.0", "EF": "66.7", "CF": "83.3", "SF": "83.3",
    "FA": "44.4", "NV": "16.7", "PA": "50.0", "DY": "33.3", "SL": "100.0",
    "AP": "0.0", "CO": "66.7", "DI": "0.0", "FI": "33.3", "QL2": "58.3",
}  # fmt: skip


def test_worked_example_mixed_answers():
    assert sorted(WORKED) == list(range(1, 31))
    scores = qlq_c30_scores(WORKED)
    assert scores == {code: Decimal(value) for code, value in WORKED_SCORES.items()}


def test_worked_example_summary_score():
    assert qlq_c30_summary_score(qlq_c30_scores(WORKED)) == Decimal("66.1")


# --- half rule for missing items ------------------------------------------------------------------


def _with(**changes: int | None) -> dict[int, int | None]:
    """The worked example with some items changed; ``q5=None`` blanks item 5."""
    responses = dict(WORKED)
    for name, value in changes.items():
        responses[int(name[1:])] = value
    return responses


def test_empty_responses_give_all_missing():
    assert qlq_c30_scores({}) == dict.fromkeys(QLQ_C30_SCALES)
    assert qlq_c30_scores(dict.fromkeys(range(1, 31))) == dict.fromkeys(QLQ_C30_SCALES)


def test_five_item_scale_needs_three_answers():
    # PF2 with items 1, 2, 3 = 1, 2, 1 (4 and 5 blank): RS 4/3, 100 × (1 − (1/3)/3) = 88.9.
    assert qlq_c30_scores(_with(q4=None, q5=None))["PF2"] == Decimal("88.9")
    assert qlq_c30_scores(_with(q3=None, q4=None, q5=None))["PF2"] is None


def test_four_item_scale_needs_two_answers():
    # EF with items 21, 22 = 2, 3: RS 2.5, 100 × (1 − 1.5/3) = 50.0.
    assert qlq_c30_scores(_with(q23=None, q24=None))["EF"] == Decimal("50.0")
    assert qlq_c30_scores(_with(q22=None, q23=None, q24=None))["EF"] is None


def test_three_item_scale_needs_two_answers():
    # FA with items 10, 12 = 2, 3: RS 2.5, 100 × 1.5/3 = 50.0.
    assert qlq_c30_scores(_with(q18=None))["FA"] == Decimal("50.0")
    assert qlq_c30_scores(_with(q12=None, q18=None))["FA"] is None


def test_two_item_scale_needs_one_answer():
    # RF2 with item 7 = 3 only: 100 × (1 − 2/3) = 33.3. QL2 with item 29 = 5 only: 100 × 4/6 = 66.7.
    scores = qlq_c30_scores(_with(q6=None, q30=None))
    assert scores["RF2"] == Decimal("33.3")
    assert scores["QL2"] == Decimal("66.7")
    scores = qlq_c30_scores(_with(q6=None, q7=None, q29=None, q30=None))
    assert scores["RF2"] is None
    assert scores["QL2"] is None


def test_single_item_scale_needs_its_item():
    scores = qlq_c30_scores(_with(q8=None))
    assert scores["DY"] is None
    assert scores["SL"] == Decimal("100.0")  # the other scales are unaffected


def test_absent_key_counts_as_missing_like_none():
    responses = dict(WORKED)
    del responses[8], responses[4], responses[5]
    assert qlq_c30_scores(responses) == qlq_c30_scores(_with(q8=None, q4=None, q5=None))


# --- summary score --------------------------------------------------------------------------------


def test_summary_extremes():
    assert qlq_c30_summary_score(qlq_c30_scores(_all(1, 1))) == Decimal("100.0")
    assert qlq_c30_summary_score(qlq_c30_scores(_all(4, 7))) == Decimal("0.0")


def test_summary_ignores_global_health_and_financial():
    best = qlq_c30_scores(_all(1, 1))
    assert qlq_c30_summary_score({**best, "QL2": None, "FI": None}) == Decimal("100.0")
    assert qlq_c30_summary_score({**best, "QL2": Decimal("100.0"), "FI": Decimal("100.0")}) == Decimal("100.0")


def test_summary_reverses_symptoms():
    # Functional all 100, symptoms all 100 (worst): (5 × 100 + 8 × 0) / 13 = 38.46 -> 38.5.
    scores = {code: Decimal("100.0") for code in QLQ_C30_SCALES}
    assert qlq_c30_summary_score(scores) == Decimal("38.5")


@pytest.mark.parametrize("code", [code for code in QLQ_C30_SCALES if code not in ("QL2", "FI")])
def test_summary_missing_when_any_scale_missing(code):
    scores = qlq_c30_scores(WORKED)
    scores[code] = None
    assert qlq_c30_summary_score(scores) is None


def test_summary_missing_when_scale_absent():
    scores = qlq_c30_scores(WORKED)
    del scores["PF2"]
    assert qlq_c30_summary_score(scores) is None


# --- response validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "value"),
    [(1, 1), (1, 4), (28, 1), (28, 4), (29, 1), (29, 7), (30, 7), (15, None), (30, None)],
)
def test_valid_responses(item, value):
    assert validate_qlq_response(item, value) is None


@pytest.mark.parametrize(
    ("item", "value", "message"),
    [
        (1, 0, "Item 1 is answered 1–4."),
        (1, 5, "Item 1 is answered 1–4."),
        (28, 7, "Item 28 is answered 1–4."),
        (29, 0, "Item 29 is answered 1–7."),
        (29, 8, "Item 29 is answered 1–7."),
        (30, -1, "Item 30 is answered 1–7."),
        (12, 2.5, "Item 12 is answered 1–4."),
    ],
)
def test_out_of_range_responses(item, value, message):
    assert validate_qlq_response(item, value) == message


@pytest.mark.parametrize("item", [0, 52, -1])
def test_unknown_item(item):
    # Protocol CRF 14: the QLQ-GI.NET21 items are numbered 31–51 after the C30's 1–30.
    assert validate_qlq_response(item, 1) == (
        f"The QLQ-C30 has items 1–30 and the QLQ-GI.NET21 items 31–51, not {item}."
    )


@pytest.mark.parametrize(("item", "value"), [(31, 1), (31, 4), (51, 1), (51, 4), (40, None)])
def test_ginet21_items_are_answered_one_to_four(item, value):
    assert validate_qlq_response(item, value) is None


@pytest.mark.parametrize(("item", "value"), [(31, 0), (31, 5), (51, 7), (45, 2.5)])
def test_ginet21_item_out_of_range(item, value):
    assert validate_qlq_response(item, value) == f"Item {item} is answered 1–4."


pytestmark = pytest.mark.requirement("URS-CRF-001")


def test_summary_score_is_computed_from_unrounded_scale_scores():
    # All items 1 except insomnia (11), appetite loss (13), constipation (16), diarrhoea (17) = 2:
    # each of those symptom scales is 100 × (2 − 1)/3 = 33.333…, reversed 66.666…; the other nine
    # scales are 100. Summary = (900 + 4 × 66.666…)/13 = 89.74… → 89.7. Rounding the scales first
    # (33.3 → 66.7) would give (900 + 266.8)/13 = 89.75… → 89.8.
    from crf.scoring import qlq_c30_summary

    responses = dict.fromkeys(range(1, 31), 1) | {11: 2, 13: 2, 16: 2, 17: 2}
    assert qlq_c30_summary(responses) == Decimal("89.7")
    assert qlq_c30_summary_score(qlq_c30_scores(responses)) == Decimal("89.8")


def test_summary_score_is_stored_from_unrounded_scales_beside_the_rounded_scales():
    # The same responses as above: the stored scales are rounded (SL, AP, CO, DI = 33.3) but the
    # stored summary is 89.7, from the unrounded 33.333…, not the 89.8 the rounded ones would give.
    from crf.scoring import quality_of_life_derived

    responses = dict.fromkeys(range(1, 31), 1) | {11: 2, 13: 2, 16: 2, 17: 2}
    derived = quality_of_life_derived(responses)
    assert derived["c30_summary"] == Decimal("89.7")
    assert derived["c30_sl"] == derived["c30_ap"] == derived["c30_co"] == derived["c30_di"] == Decimal("33.3")
    assert derived["c30_pf2"] == Decimal("100.0") and derived["c30_ql2"] == Decimal("0.0")
    # The 15 C30 scales, the summary score and the GI.NET21 scales (none in the shipped empty map).
    assert len(derived) == 17 and derived["ginet21_scores"] == {}


def test_summary_score_is_missing_when_any_of_its_13_scales_is():
    # EORTC summary-score guidance: computed only when all 13 scales can be scored. Dyspnoea (item 8)
    # is a single-item scale: without item 8 there is no DY and so no summary; QL2 and FI are not
    # part of it, so without items 28–30 the summary stands.
    from crf.scoring import qlq_c30_summary

    everything = dict.fromkeys(range(1, 31), 1)
    assert qlq_c30_summary(everything | {8: None}) is None
    assert qlq_c30_summary(everything | {28: None, 29: None, 30: None}) == Decimal("100.0")


# --- QLQ-GI.NET21 -----------------------------------------------------------------------------------
# The module is scored by the same EORTC formulas as the C30 (protocol CRF 14). The map below is an
# ILLUSTRATIVE map for testing the formulas only (scale codes X1–X3 are not the EORTC scales): the
# published item-to-scale map is configuration data (crf/config/qlq_ginet21_scales.json).
ILLUSTRATIVE = {
    "X1": ("three-item symptom scale", "symptom", (31, 32, 33)),
    "X2": ("two-item functional scale", "functional", (44, 45)),
    "X3": ("single item", "symptom", (51,)),
}


def test_ginet21_scales_by_the_eortc_formulas_with_the_half_rule():
    from crf.scoring import qlq_ginet21_scores

    # X1: items 2, 3, 4 → RS 3, 100 × (3 − 1)/3 = 66.7. X2: items 1, 2 → RS 1.5, 100 × (1 − 0.5/3) = 83.3.
    # X3: item 4 → 100 × 3/3 = 100.0.
    responses = {31: 2, 32: 3, 33: 4, 44: 1, 45: 2, 51: 4}
    assert qlq_ginet21_scores(responses, scales=ILLUSTRATIVE) == {
        "X1": Decimal("66.7"),
        "X2": Decimal("83.3"),
        "X3": Decimal("100.0"),
    }
    # Half rule: X1 with 2 of 3 items (2, 3 → RS 2.5, 50.0) scores; with 1 of 3 it is missing. X2 with
    # 1 of 2 scores (item 2 → 100 × (1 − 1/3) = 66.7). X3 without its item is missing.
    fewer = {31: 2, 32: 3, 45: 2}
    assert qlq_ginet21_scores(fewer, scales=ILLUSTRATIVE) == {
        "X1": Decimal("50.0"),
        "X2": Decimal("66.7"),
        "X3": None,
    }
    assert qlq_ginet21_scores({31: 2}, scales=ILLUSTRATIVE)["X1"] is None


def test_ginet21_scale_map_is_checked_and_must_cite_its_source():
    from crf.scoring import ScaleMapError, parse_ginet21_scales

    good = {"label": "L", "kind": "symptom", "items": [31, 32, 33]}
    assert parse_ginet21_scales({"source": "EORTC manual", "scales": {"A": good}}) == {
        "A": ("L", "symptom", (31, 32, 33))
    }
    with pytest.raises(ScaleMapError, match="cite its source"):
        parse_ginet21_scales({"source": " ", "scales": {"A": good}})
    with pytest.raises(ScaleMapError, match="among 31–51"):
        parse_ginet21_scales({"source": "s", "scales": {"A": good | {"items": [30, 31]}}})
    with pytest.raises(ScaleMapError, match="kind"):
        parse_ginet21_scales({"source": "s", "scales": {"A": good | {"kind": "global"}}})
    with pytest.raises(ScaleMapError, match="Item 33 is in scales A and B"):
        parse_ginet21_scales({"source": "s", "scales": {"A": good, "B": good | {"items": [33, 34]}}})


def test_shipped_ginet21_configuration_loads_and_names_where_the_map_comes_from():
    import json

    from crf.scoring import GINET21_CONFIG, ginet21_scales, parse_ginet21_scales

    config = json.loads(GINET21_CONFIG.read_text(encoding="utf-8"))
    assert ginet21_scales() == parse_ginet21_scales(config)
    # No map is configured without a source: the note says where the map is to be taken from.
    assert "Yadegarfar" in config["note"] and "EORTC" in config["note"]
    assert not config["scales"] or config["source"].strip()
