"""Regulatory clocks. Pure functions over aware datetimes, tested across timezones and DST.

- The site's initial SAE report is due SAE_INITIAL_HOURS (24) elapsed hours after the site became
  aware: elapsed time, so a DST change in between does not move it.
- A SUSAR is due N calendar days after the sponsor became aware, counted on the sponsor's calendar:
  the same wall-clock time N days later in the sponsor's time zone (so across a DST change the elapsed
  time is N days ± 1 hour, which is what "day 7" means to the people counting).
- The follow-up of a fatal or life-threatening SUSAR is due within 8 days of the day the initial
  report was actually sent (UK SI 2004/1031 reg. 33(2)): a date, so the deadline is the end of day 8
  on the sponsor's calendar.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .models import ReportingTimelines


def timelines() -> dict[str, int]:
    """The configured timelines (reviewed on the timelines page, not set from the environment)."""
    row = ReportingTimelines.current()
    return {
        "SAE_INITIAL_HOURS": row.sae_initial_hours,
        "SUSAR_FATAL_DAYS": row.susar_fatal_days,
        "SUSAR_FATAL_FOLLOWUP_DAYS": row.susar_fatal_followup_days,
        "SUSAR_OTHER_DAYS": row.susar_other_days,
    }


def sponsor_timezone() -> str:
    return ReportingTimelines.current().sponsor_timezone


def local_to_utc(naive: dt.datetime, tz_name: str) -> dt.datetime:
    """A wall-clock time at a site (as a nurse types it) to an aware UTC datetime."""
    return naive.replace(tzinfo=ZoneInfo(tz_name)).astimezone(dt.UTC)


def sae_initial_due(aware_at: dt.datetime) -> dt.datetime:
    if aware_at.tzinfo is None:
        raise ValueError("aware_at must be timezone-aware")
    return aware_at + dt.timedelta(hours=timelines()["SAE_INITIAL_HOURS"])


def _add_calendar_days(moment: dt.datetime, days: int, tz_name: str) -> dt.datetime:
    local = moment.astimezone(ZoneInfo(tz_name))
    wall = local.replace(tzinfo=None) + dt.timedelta(days=days)
    return wall.replace(tzinfo=ZoneInfo(tz_name)).astimezone(dt.UTC)


def susar_due(
    sponsor_aware_at: dt.datetime, *, fatal_or_life_threatening: bool, tz_name: str | None = None
) -> dt.datetime:
    """When a SUSAR is due at the regulator and ethics committee, from the sponsor's day 0."""
    if sponsor_aware_at.tzinfo is None:
        raise ValueError("sponsor_aware_at must be timezone-aware")
    tz_name = tz_name or sponsor_timezone()
    t = timelines()
    days = t["SUSAR_FATAL_DAYS"] if fatal_or_life_threatening else t["SUSAR_OTHER_DAYS"]
    return _add_calendar_days(sponsor_aware_at, days, tz_name)


def susar_followup_due(initial_sent_on: dt.date, *, tz_name: str | None = None) -> dt.datetime:
    """The follow-up of a fatal or life-threatening SUSAR: the end of the 8th day after the day the
    initial report was sent, on the sponsor's calendar (the last second of that local day)."""
    tz_name = tz_name or sponsor_timezone()
    last_day = initial_sent_on + dt.timedelta(days=timelines()["SUSAR_FATAL_FOLLOWUP_DAYS"])
    return dt.datetime.combine(last_day, dt.time(23, 59, 59), tzinfo=ZoneInfo(tz_name)).astimezone(dt.UTC)


def time_left(due: dt.datetime | None, now: dt.datetime) -> dt.timedelta | None:
    return None if due is None else due - now


def describe_left(delta: dt.timedelta | None) -> str:
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    overdue = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    text = f"{days} d {hours} h" if days else f"{hours} h {rest // 60} min"
    return f"overdue by {text}" if overdue else f"{text} left"
