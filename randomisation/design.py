"""Pure randomisation logic: strata, block lists, list validation and minimisation.

Nothing here touches the database, so the simulation command and the services share it.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from .generator import SeededCsprng

ARMS = ("A", "B")


def strata(factors: Sequence[str], levels: dict[str, list[str]], sites: Sequence[str] = ()) -> list[str]:
    """Every stratum code, e.g. 'pancreas|G1|R0' (and '|GB01' when stratified by site)."""
    axes = [levels[f] for f in factors] + ([list(sites)] if sites else [])
    return ["|".join(combo) for combo in itertools.product(*axes)]


def stratum_of(factor_values: dict[str, str], factors: Sequence[str], site_code: str = "") -> str:
    parts = [factor_values[f] for f in factors]
    return "|".join(parts + ([site_code] if site_code else []))


@dataclass(frozen=True)
class ListRow:
    stratum: str
    sequence: int
    block_number: int
    block_size: int
    arm: str


def generate_blocks(
    rng: SeededCsprng, stratum_codes: Sequence[str], per_stratum: int, block_sizes: Sequence[int]
) -> list[ListRow]:
    """Permuted blocks of randomly varying size, each balanced 1:1, until ``per_stratum`` slots."""
    rows: list[ListRow] = []
    for stratum in stratum_codes:
        sequence, block = 0, 0
        while sequence < per_stratum:
            size = rng.choice(list(block_sizes))
            arms = list(ARMS) * (size // 2)
            rng.shuffle(arms)
            block += 1
            for arm in arms:
                sequence += 1
                rows.append(ListRow(stratum, sequence, block, size, arm))
    return rows


def list_to_csv(rows: Sequence[ListRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["stratum", "sequence", "block", "block_size", "arm"])
    for r in rows:
        writer.writerow([r.stratum, r.sequence, r.block_number, r.block_size, r.arm])
    return out.getvalue()


def parse_list_csv(text: str, expected_strata: Sequence[str]) -> tuple[list[ListRow], list[str]]:
    """Rows and errors (each naming its line) of a statistician's list.

    Checks: columns, arm values, integers, no gaps or repeats in each stratum's sequence, contiguous
    blocks balanced 1:1, and every stratum of the design present (and no unknown stratum).
    """
    errors: list[str] = []
    reader = csv.DictReader(io.StringIO(text))
    required = {"stratum", "sequence", "block", "arm"}
    if not reader.fieldnames or not required <= {f.strip() for f in reader.fieldnames}:
        return [], [f"Line 1: the header must name the columns {', '.join(sorted(required))}."]
    rows: list[ListRow] = []
    lines: dict[tuple[str, int], int] = {}
    for line, raw in enumerate(reader, start=2):
        record = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        try:
            sequence, block = int(record["sequence"]), int(record["block"])
        except ValueError:
            errors.append(f"Line {line}: sequence and block must be whole numbers.")
            continue
        if record["arm"] not in ARMS:
            errors.append(f"Line {line}: arm '{record['arm']}' is not A or B.")
            continue
        if record["stratum"] not in expected_strata:
            errors.append(f"Line {line}: stratum '{record['stratum']}' is not a stratum of this design.")
            continue
        lines[(record["stratum"], sequence)] = line
        rows.append(ListRow(record["stratum"], sequence, block, 0, record["arm"]))
    by_stratum: dict[str, list[ListRow]] = defaultdict(list)
    for row in rows:
        by_stratum[row.stratum].append(row)
    for stratum in expected_strata:
        if stratum not in by_stratum:
            errors.append(f"Stratum '{stratum}' has no rows: every stratum needs a list.")
    sized: list[ListRow] = []
    for stratum, srows in by_stratum.items():
        srows.sort(key=lambda r: r.sequence)
        counts = Counter(r.sequence for r in srows)
        for seq, n in counts.items():
            if n > 1:
                errors.append(f"Line {lines[(stratum, seq)]}: sequence {seq} appears {n} times in '{stratum}'.")
        expected = 1
        for r in srows:
            if r.sequence != expected and counts[r.sequence] == 1:
                errors.append(
                    f"Line {lines[(stratum, r.sequence)]}: '{stratum}' jumps from sequence "
                    f"{expected - 1} to {r.sequence} (a gap)."
                )
            expected = r.sequence + 1
        blocks: dict[int, list[ListRow]] = defaultdict(list)
        order: list[int] = []
        for r in srows:
            if r.block_number not in blocks:
                order.append(r.block_number)
            blocks[r.block_number].append(r)
        seen_done: set[int] = set()
        previous = None
        for r in srows:
            if r.block_number != previous and r.block_number in seen_done:
                errors.append(
                    f"Line {lines[(stratum, r.sequence)]}: block {r.block_number} of '{stratum}' is not contiguous."
                )
            if previous is not None and r.block_number != previous:
                seen_done.add(previous)
            previous = r.block_number
        for number in order:
            members = blocks[number]
            arms = Counter(m.arm for m in members)
            if arms["A"] != arms["B"]:
                first = lines[(stratum, members[0].sequence)]
                errors.append(
                    f"Line {first}: block {number} of '{stratum}' is unbalanced ({arms['A']} A, {arms['B']} B)."
                )
            sized.extend(ListRow(m.stratum, m.sequence, m.block_number, len(members), m.arm) for m in members)
    return sized, errors


def minimisation_choice(
    counts: dict[str, dict[str, dict[str, int]]],
    patient_levels: dict[str, str],
    *,
    measure: str,
    probability: float,
    rng_value: float,
    tie_value: float,
) -> tuple[str, str]:
    """Pocock–Simon: (chosen arm, minimising arm or '' on a tie).

    ``counts[factor][level][arm]`` are the existing allocations. For each candidate arm the
    imbalance over the patient's levels is summed (range or variance of the arm totals after
    hypothetically adding the patient); the arm with the smaller total is chosen with
    ``probability``; a tie is decided 50:50.
    """
    totals = {}
    for candidate in ARMS:
        total = 0.0
        for factor, level in patient_levels.items():
            n = {arm: counts.get(factor, {}).get(level, {}).get(arm, 0) for arm in ARMS}
            n[candidate] += 1
            values = list(n.values())
            if measure == "variance":
                mean = sum(values) / len(values)
                total += sum((v - mean) ** 2 for v in values) / (len(values) - 1)
            else:
                total += max(values) - min(values)
        totals[candidate] = total
    if totals["A"] == totals["B"]:
        return ("A" if tie_value < 0.5 else "B"), ""
    best = min(ARMS, key=lambda arm: totals[arm])
    other = "B" if best == "A" else "A"
    return (best if rng_value < probability else other), best
