"""The CTCAE v5.0 term list, as data (safety/data/ctcae_v5_terms.csv).

Source: National Cancer Institute, Common Terminology Criteria for Adverse Events (CTCAE) v5.0,
27 November 2017, term and system organ class columns. The file holds the terms expected in this
trial (Lutathera SmPC 4.8, liver resection, neuroendocrine disease); a site may still type any
other term, which is then flagged for MedDRA coding. The full NCI list loads into the same file.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

TERMS_FILE = Path(__file__).parent / "data" / "ctcae_v5_terms.csv"
SOURCE = "NCI CTCAE v5.0 (27 Nov 2017)"


@lru_cache(maxsize=1)
def ctcae_terms() -> dict[str, str]:
    """Term (lower case) → (term as written, system organ class), read once per process."""
    with TERMS_FILE.open(encoding="utf-8", newline="") as handle:
        return {
            row["term"].strip().lower(): (row["term"].strip(), row["soc"].strip()) for row in csv.DictReader(handle)
        }


def ctcae_match(term: str) -> tuple[str, str] | None:
    """(CTCAE term, SOC) when ``term`` is a CTCAE v5.0 term (case-insensitive), else None."""
    return ctcae_terms().get((term or "").strip().lower())
