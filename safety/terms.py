"""The CTCAE v5.0 term list, as data.

``data/ctcae_v5_0.csv`` is NCI's full list: 837 terms, each with its MedDRA LLT code (MedDRA
20.1), its system organ class and the grades CTCAE defines for it (source and terms of use in
``data/README.md``). ``data/ctcae_v5_terms.csv`` is this trial's short list of terms expected
after Lutathera, liver resection and in neuroendocrine disease: the picker offers them first as
"common in this trial". A site may still type any other term; it is then flagged for MedDRA coding
by the medical coder.

CTCAE v5.0 (Introduction, "Grades"): not every grade is defined for every term ("Grade 5 (Death)
is not appropriate for some AEs and therefore is not an option"); a grade CTCAE does not define
for a CTCAE term is refused.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

DATA = Path(__file__).parent / "data"
TERMS_FILE = DATA / "ctcae_v5_0.csv"
TRIAL_TERMS_FILE = DATA / "ctcae_v5_terms.csv"
SOURCE = "NCI CTCAE v5.0 (27 Nov 2017), MedDRA 20.1 LLT codes"


class CtcaeTerm(NamedTuple):
    """One CTCAE v5.0 term: as NCI spells it, its SOC, MedDRA LLT code and the grades defined."""

    term: str
    soc: str
    meddra_code: str
    grades: frozenset[int]


@lru_cache(maxsize=1)
def ctcae_terms() -> dict[str, CtcaeTerm]:
    """Term (lower case) → CtcaeTerm, for all 837 terms, read once per process."""
    with TERMS_FILE.open(encoding="utf-8", newline="") as handle:
        return {
            row["term"].strip().lower(): CtcaeTerm(
                row["term"].strip(), row["soc"].strip(), row["meddra_code"].strip(), frozenset(map(int, row["grades"]))
            )
            for row in csv.DictReader(handle)
        }


@lru_cache(maxsize=1)
def trial_common_terms() -> list[CtcaeTerm]:
    """The trial's highlighted terms, each one of NCI's (a term missing from the full list is an error)."""
    terms = ctcae_terms()
    with TRIAL_TERMS_FILE.open(encoding="utf-8", newline="") as handle:
        names = [row["term"].strip() for row in csv.DictReader(handle)]
    unknown = [name for name in names if name.lower() not in terms]
    if unknown:
        raise ValueError(f"Not CTCAE v5.0 terms: {', '.join(unknown)}")
    return [terms[name.lower()] for name in names]


def ctcae_match(term: str) -> CtcaeTerm | None:
    """The CTCAE v5.0 term ``term`` names (case-insensitive), else None."""
    return ctcae_terms().get((term or "").strip().lower())


def grade_refusal(term: str, grade: int | None) -> str:
    """Why ``grade`` is not a CTCAE v5.0 grade of ``term`` ("" when it is, or the term is free text)."""
    match = ctcae_match(term)
    if match is None or grade is None or grade in match.grades:
        return ""
    defined = ", ".join(str(g) for g in sorted(match.grades))
    return f"CTCAE v5.0 defines no grade {grade} for {match.term} (grades {defined})."
