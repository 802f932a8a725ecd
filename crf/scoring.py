"""Scores derived from entered data: the WHO grade of a NET, the EORTC QLQ-C30 scales and summary
score, and the QLQ-GI.NET21 module scored by the same formulas from its configured scale map.

Pure functions (no models) so each rule is tested on its own against hand-computed values.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from django.conf import settings

# The WHO-grade rule lives with eligibility, which needs it for stratification; the CRFs reuse it.
from patients.grading import grade_disagreement, who_grade  # noqa: F401 - re-exported for the CRFs

# EORTC QLQ-C30 v3.0 scales: code -> (label, kind, items). Items 1–28 are answered 1–4, items 29–30
# (global health status) 1–7.
QLQ_C30_SCALES: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "QL2": ("Global health status", "global", (29, 30)),
    "PF2": ("Physical functioning", "functional", (1, 2, 3, 4, 5)),
    "RF2": ("Role functioning", "functional", (6, 7)),
    "EF": ("Emotional functioning", "functional", (21, 22, 23, 24)),
    "CF": ("Cognitive functioning", "functional", (20, 25)),
    "SF": ("Social functioning", "functional", (26, 27)),
    "FA": ("Fatigue", "symptom", (10, 12, 18)),
    "NV": ("Nausea and vomiting", "symptom", (14, 15)),
    "PA": ("Pain", "symptom", (9, 19)),
    "DY": ("Dyspnoea", "symptom", (8,)),
    "SL": ("Insomnia", "symptom", (11,)),
    "AP": ("Appetite loss", "symptom", (13,)),
    "CO": ("Constipation", "symptom", (16,)),
    "DI": ("Diarrhoea", "symptom", (17,)),
    "FI": ("Financial difficulties", "symptom", (28,)),
}


# The QLQ-GI.NET21 module's 21 items are numbered 31–51, after the C30 (protocol CRF 14); every
# item is answered 1–4 (not at all … very much), as in the C30 items 1–28.
QLQ_C30_ITEMS = range(1, 31)
QLQ_GINET21_ITEMS = range(31, 52)
QLQ_ITEMS = range(1, 52)


def item_range(item: int) -> tuple[int, int]:
    return (1, 7) if item in (29, 30) else (1, 4)


def validate_qlq_response(item: int, value) -> str | None:
    if item not in QLQ_ITEMS:
        return f"The QLQ-C30 has items 1–30 and the QLQ-GI.NET21 items 31–51, not {item}."
    if value is None:
        return None
    low, high = item_range(item)
    if int(value) != value or not low <= value <= high:
        return f"Item {item} is answered {low}–{high}."
    return None


def _score(kind: str, raw: Decimal, span: Decimal) -> Decimal:
    """EORTC scoring manual: functional 100 × (1 − (RS − 1)/range); symptom and global health
    100 × (RS − 1)/range."""
    return (1 - (raw - 1) / span) * 100 if kind == "functional" else (raw - 1) / span * 100


def scale_scores(
    responses: dict[int, int | None], scales: dict[str, tuple[str, str, tuple[int, ...]]], *, rounded: bool = True
) -> dict[str, Decimal | None]:
    """Scores 0–100 of ``scales`` (code -> (label, kind, items)) per the EORTC scoring manual, as
    Decimals rounded to one place (``rounded``) or unrounded.

    RS is the mean of the answered items; a scale is missing when fewer than half of its items are
    answered (the manual's half rule).
    """
    scores: dict[str, Decimal | None] = {}
    for code, (_label, kind, items) in scales.items():
        answered = [Decimal(responses[i]) for i in items if responses.get(i) is not None]
        if len(answered) * 2 < len(items):
            scores[code] = None
            continue
        raw = sum(answered) / len(answered)
        score = _score(kind, raw, Decimal(item_range(items[0])[1] - 1))
        scores[code] = score.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if rounded else score
    return scores


def qlq_c30_scores(responses: dict[int, int | None], *, rounded: bool = True) -> dict[str, Decimal | None]:
    """The 15 QLQ-C30 scales (``scale_scores``); unrounded to compute the summary score from, as the
    EORTC summary-score guidance does."""
    return scale_scores(responses, QLQ_C30_SCALES, rounded=rounded)


def qlq_c30_summary_score(scores: dict[str, Decimal | None]) -> Decimal | None:
    """The QLQ-C30 summary score: mean of the 13 scales other than QL2 and FI, symptom scales
    reversed (100 − score); missing when any of them is."""
    parts = []
    for code, (_label, kind, _items) in QLQ_C30_SCALES.items():
        if code in ("QL2", "FI"):
            continue
        if scores.get(code) is None:
            return None
        parts.append(scores[code] if kind == "functional" else 100 - scores[code])
    return (sum(parts) / len(parts)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def qlq_c30_summary(responses: dict[int, int | None]) -> Decimal | None:
    """The summary score from the responses: computed from the unrounded scale scores, rounded once
    at the end (rounding each of 13 scales first can move the result by 0.1)."""
    return qlq_c30_summary_score(qlq_c30_scores(responses, rounded=False))


# --- QLQ-GI.NET21 ------------------------------------------------------------------------------
# The item-to-scale map is configuration data with its source (protocol CRF 14), kept in
# crf/config/qlq_ginet21_scales.json so the statistician can enter the map of the EORTC scoring
# manual without a code change (settings.QLQ_GINET21_SCALES_FILE names another file, e.g. a test's).
# Its "scales" stay empty until it is taken from the manual: a map guessed from memory would
# silently mis-score every patient's module.
GINET21_CONFIG = Path(__file__).resolve().parent / "config" / "qlq_ginet21_scales.json"
GINET21_KINDS = ("symptom", "functional")


class ScaleMapError(ValueError):
    pass


def parse_ginet21_scales(config: dict) -> dict[str, tuple[str, str, tuple[int, ...]]]:
    """The scale map of a GI.NET21 configuration, checked: each scale has a code of letters and
    digits, a label, a kind (symptom or functional) and items among 31–51, no item is in two
    scales, and a map names its source."""
    scales = config.get("scales") or {}
    if scales and not str(config.get("source", "")).strip():
        raise ScaleMapError("A QLQ-GI.NET21 scale map must cite its source (the EORTC scoring manual).")
    parsed: dict[str, tuple[str, str, tuple[int, ...]]] = {}
    seen: dict[int, str] = {}
    for code, spec in scales.items():
        # The code names the exported column (ginet21_<code>): letters and digits only.
        if not str(code).isascii() or not str(code).isalnum():
            raise ScaleMapError(f"Scale code {code!r}: letters and digits only.")
        label, kind, items = spec.get("label", ""), spec.get("kind"), tuple(spec.get("items", ()))
        if kind not in GINET21_KINDS:
            raise ScaleMapError(f"Scale {code}: kind must be one of {', '.join(GINET21_KINDS)}, not {kind!r}.")
        if not items or any(item not in QLQ_GINET21_ITEMS for item in items):
            raise ScaleMapError(f"Scale {code}: items must be among 31–51, not {list(items)}.")
        for item in items:
            if item in seen:
                raise ScaleMapError(f"Item {item} is in scales {seen[item]} and {code}.")
            seen[item] = code
        parsed[code] = (str(label or code), kind, items)
    return parsed


def ginet21_config_path() -> Path:
    return Path(getattr(settings, "QLQ_GINET21_SCALES_FILE", "") or GINET21_CONFIG)


@cache
def _scales_of(path: Path, mtime_ns: int, size: int) -> dict[str, tuple[str, str, tuple[int, ...]]]:
    return parse_ginet21_scales(json.loads(path.read_text(encoding="utf-8")))


def ginet21_scales() -> dict[str, tuple[str, str, tuple[int, ...]]]:
    """The configured QLQ-GI.NET21 scale map (empty until the EORTC manual's map is entered).

    Read once per file version: an edited map takes effect without a restart, and every form saved
    after it is scored by it (forms saved before are re-scored by ``backfill_derived_values``)."""
    path = ginet21_config_path()
    stat = path.stat()
    return _scales_of(path, stat.st_mtime_ns, stat.st_size)


def qlq_ginet21_scores(
    responses: dict[int, int | None], *, scales: dict | None = None, rounded: bool = True
) -> dict[str, Decimal | None]:
    """The GI.NET21 scales of the configured map (or ``scales``), by the same EORTC formulas."""
    return scale_scores(responses, ginet21_scales() if scales is None else scales, rounded=rounded)


# Stored with the form (QualityOfLife.DERIVED_FIELDS): each C30 scale and the summary score as
# columns, the GI.NET21 scales of the configured map in one JSON field (GINET21_FIELD).
def c30_field(code: str) -> str:
    return f"c30_{code.lower()}"


C30_SUMMARY_FIELD = "c30_summary"
GINET21_FIELD = "ginet21_scores"


def ginet21_column(code: str) -> str:
    """The export column of a GI.NET21 scale, beside the items."""
    return f"ginet21_{code.lower()}"


def ginet21_stored(responses: dict[int, int | None], scales: dict | None = None) -> dict[str, str | None]:
    """The GI.NET21 scores as stored: scale code → score to one place as text (exact in JSON),
    None for a scale missing by the half rule. Every configured scale has its key, so a form scored
    by an older map is told apart from one whose scale is missing."""
    return {
        code: None if score is None else str(score)
        for code, score in qlq_ginet21_scores(responses, scales=scales).items()
    }


def quality_of_life_derived(responses: dict[int, int | None]) -> dict[str, object]:
    """The stored derived fields of the quality-of-life form: the 15 C30 scales rounded to one
    place, the summary score computed from the unrounded scales, and the GI.NET21 scales of the
    configured map."""
    out: dict[str, object] = {c30_field(code): score for code, score in qlq_c30_scores(responses).items()}
    out[C30_SUMMARY_FIELD] = qlq_c30_summary(responses)
    out[GINET21_FIELD] = ginet21_stored(responses)
    return out
