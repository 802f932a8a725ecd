"""Randomisation reports: balance by arm and list-integrity verification.

Only allocations are read here (never unused slots), so these reports are safe for the trial
manager; the integrity check compares used slots with allocations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count

from .models import Allocation, Arm
from .services import active_config
from .simulation import recommend_block_sizes, simulate


def _table(rows, key) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"A": 0, "B": 0})
    for row in rows:
        table[row[key] or "—"][row["arm"]] += row["n"]
    return dict(sorted(table.items()))


def balance_report() -> dict:
    """Allocations by arm overall, per stratum, per site and per factor level (five queries)."""
    allocations = Allocation.objects.all()
    overall = dict.fromkeys(Arm.values, 0)
    for row in allocations.values("arm").annotate(n=Count("id")):
        overall[row["arm"]] = row["n"]
    factor_fields = {
        "primary_site": "patient__primary_site_group",
        "who_grade": "patient__who_grade",
        "resection_margin": "patient__resection_margin",
    }
    return {
        "overall": overall,
        "total": sum(overall.values()),
        "by_stratum": _table(allocations.values("stratum", "arm").annotate(n=Count("id")), "stratum"),
        "by_site": _table(
            allocations.values("patient__site__code", "arm").annotate(n=Count("id")), "patient__site__code"
        ),
        "by_factor": {
            factor: _table(allocations.values(path, "arm").annotate(n=Count("id")), path)
            for factor, path in factor_fields.items()
        },
    }


@dataclass
class IntegrityReport:
    allocations: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def integrity_report() -> IntegrityReport:
    """Allocations follow the list in order within each stratum; no slot used twice; arms match."""
    report = IntegrityReport()
    used: dict[tuple[int, str], list[tuple[int, str, str, str]]] = defaultdict(list)
    rows = Allocation.objects.select_related("slot", "patient").order_by("randomised_at", "id")
    seen_slots: set[int] = set()
    for allocation in rows:
        report.allocations += 1
        slot = allocation.slot
        if slot is None:
            continue  # minimisation: no list
        if slot.pk in seen_slots:
            report.problems.append(f"Slot {slot.stratum} #{slot.sequence} is used twice.")
        seen_slots.add(slot.pk)
        if slot.arm != allocation.arm:
            report.problems.append(
                f"{allocation.patient.trial_number}: arm {allocation.arm} differs from its slot's arm {slot.arm}."
            )
        if slot.stratum != allocation.stratum:
            report.problems.append(
                f"{allocation.patient.trial_number}: stratum {allocation.stratum} differs from "
                f"its slot's stratum {slot.stratum}."
            )
        used[(slot.allocation_list_id, slot.stratum)].append(
            (slot.sequence, allocation.patient.trial_number, slot.arm, allocation.arm)
        )
    for (list_id, stratum), sequence in used.items():
        positions = [s for s, *_ in sequence]
        if positions != list(range(1, len(positions) + 1)):
            report.problems.append(
                f"List {list_id}, stratum {stratum}: positions used {positions[:10]} are not "
                "consecutive from 1 in the order of randomisation."
            )
    return report


def predictability_report(*, runs: int, seed: int, target_guess_rate: float) -> dict | None:
    """The active design's expected share of correct guesses under the strongest guessing strategy
    that applies to it, the other methods for comparison, and block sizes for a target rate
    (randomisation.simulation). None without a design. The statistician's report only."""
    config = active_config()
    if config is None:
        return None
    method = "minimisation" if config.method == "minimisation" else "blocks"
    options = {
        "patients": config.target,
        "runs": runs,
        "seed": seed,
        "block_sizes": tuple(config.block_sizes or (2, 4)),
        "probability": float(config.minimisation_probability),
        "measure": config.imbalance,
        "factors": config.factors or None,
    }
    design_result = simulate(method=method, **options).summary()
    alternatives = [simulate(method=m, **options).summary() for m in ("blocks", "minimisation") if m != method]
    return {
        "method": config.method,
        "patients": config.target,
        "design": design_result,
        "alternatives": alternatives,
        "block_size_advice": recommend_block_sizes(
            patients=config.target, target_guess_rate=target_guess_rate, runs=max(runs // 5, 50), seed=seed
        ),
    }
