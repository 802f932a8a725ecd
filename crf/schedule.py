"""The NELMAS visit schedule, declared in one place (protocol, "Visit schedule").

Each visit: code, label, anchor (what its target date counts from), offset, window, arms and the
CRFs expected. Timings and windows can be overridden without code through the setting
``VISIT_SCHEDULE_OVERRIDES = {"C1": {"offset_days": 63}}``; the trial manager reviews the schedule
in force on the schedule page.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, replace

from django.conf import settings

LIVER_RESECTION = "liver_resection"
RANDOMISATION = "randomisation"
CYCLE_1 = "cycle_1_dose"  # the actual date of the first Lutathera dose (or its target until given)
CYCLE_2 = "cycle_2_dose"

ANCHOR_LABELS = {
    LIVER_RESECTION: "liver resection",
    RANDOMISATION: "randomisation",
    CYCLE_1: "cycle 1 dose",
    CYCLE_2: "cycle 2 dose",
}


@dataclass(frozen=True)
class VisitDef:
    code: str
    label: str
    anchor: str
    offset_days: int = 0
    offset_months: int = 0  # calendar months (follow-up grid), added before offset_days
    window_before: int = 0
    window_after: int = 0
    arms: tuple[str, ...] = ("A", "B")
    forms: tuple[str, ...] = ()

    def describe(self) -> str:
        when = f"{self.offset_months} months" if self.offset_months else f"{self.offset_days // 7} weeks"
        window = (
            f"−{self.window_before}/+{self.window_after} days" if (self.window_before or self.window_after) else "—"
        )
        return f"{when} after {ANCHOR_LABELS[self.anchor]}, window {window}"


# 68Ga-DOTATATE PET at months 12 and 36 (protocol, visit schedule): an expected imaging form there.
PROTOCOL_PET_MONTHS = (12, 36)


def _follow_up(month: int) -> VisitDef:
    window = 14 if month <= 12 else 28
    forms = ("follow_up", "laboratory", "quality_of_life", "biomarker_sample") + (
        ("end_of_study",) if month == 36 else ()
    )
    if month in PROTOCOL_PET_MONTHS:
        forms += ("imaging",)
    return VisitDef(
        f"FU{month:02d}",
        f"Follow-up month {month}",
        LIVER_RESECTION,
        offset_months=month,
        window_before=window,
        window_after=window,
        forms=forms,
    )


SCHEDULE: tuple[VisitDef, ...] = (
    VisitDef(
        "RAND",
        "Randomisation and baseline",
        RANDOMISATION,
        forms=(
            "demographics",
            "medical_history",
            "histopathology",
            "liver_resection",
            "laboratory",
            "quality_of_life",
            "biomarker_sample",
        ),
    ),
    VisitDef(
        "C1",
        "Cycle 1 Lutathera",
        LIVER_RESECTION,
        offset_days=56,
        window_before=14,
        window_after=14,
        arms=("B",),
        forms=("laboratory", "lutathera_dosing"),
    ),
    # Cycle 2: 8 ± 1 weeks after the actual cycle 1 dose (extendable to 16 weeks for toxicity: the
    # dosing edit check, not the window, handles that).
    VisitDef(
        "C2",
        "Cycle 2 Lutathera",
        CYCLE_1,
        offset_days=56,
        window_before=7,
        window_after=7,
        arms=("B",),
        forms=("laboratory", "lutathera_dosing"),
    ),
    VisitDef(
        "SB1",
        "Safety bloods 4 weeks after cycle 2",
        CYCLE_2,
        offset_days=28,
        window_before=7,
        window_after=7,
        arms=("B",),
        forms=("laboratory",),
    ),
    VisitDef(
        "SB2",
        "Safety bloods 8 weeks after cycle 2",
        CYCLE_2,
        offset_days=56,
        window_before=7,
        window_after=7,
        arms=("B",),
        forms=("laboratory",),
    ),
    VisitDef(
        "SB3",
        "Safety bloods 12 weeks after cycle 2",
        CYCLE_2,
        offset_days=84,
        window_before=7,
        window_after=7,
        arms=("B",),
        forms=("laboratory",),
    ),
    *(_follow_up(m) for m in (3, 6, 9, 12, 18, 24, 30, 36)),
)


# Patient-level logs and events (not a visit in the protocol table): concomitant medications,
# deviations, imaging outside the grid, recurrence, pregnancy. Open for the whole study.
LOG = VisitDef(
    "LOG",
    "Logs and events",
    RANDOMISATION,
    forms=("con_med", "deviation", "imaging", "recurrence", "pregnancy"),
)


def overrides() -> dict[str, dict]:
    return getattr(settings, "VISIT_SCHEDULE_OVERRIDES", {})


def schedule() -> tuple[VisitDef, ...]:
    """The schedule in force: the protocol's, with any overrides from settings (read at call time)."""
    overrides = getattr(settings, "VISIT_SCHEDULE_OVERRIDES", {})
    return tuple(replace(v, **overrides.get(v.code, {})) for v in SCHEDULE)


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def target_date(visit: VisitDef, anchors: dict[str, dt.date]) -> dt.date:
    return add_months(anchors[visit.anchor], visit.offset_months) + dt.timedelta(days=visit.offset_days)


def planned_visits(
    *,
    arm: str,
    liver_resection: dt.date,
    randomised_on: dt.date,
    cycle_1_dose: dt.date | None = None,
    cycle_2_dose: dt.date | None = None,
) -> list[tuple[VisitDef, dt.date, dt.date, dt.date]]:
    """(visit, target, window start, window end) for a patient of ``arm``, in schedule order.

    Dosing visits chain on the actual dose dates when known, else on their own targets; the
    follow-up grid hangs on the liver resection only, so a dosing delay never moves it.
    """
    anchors = {LIVER_RESECTION: liver_resection, RANDOMISATION: randomised_on}
    rows = []
    for visit in schedule():
        if arm not in visit.arms:
            continue
        target = target_date(visit, anchors)
        if visit.code == "C1":
            anchors[CYCLE_1] = cycle_1_dose or target
        elif visit.code == "C2":
            anchors[CYCLE_2] = cycle_2_dose or target
        rows.append(
            (
                visit,
                target,
                target - dt.timedelta(days=visit.window_before),
                target + dt.timedelta(days=visit.window_after),
            )
        )
    return rows
