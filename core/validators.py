"""Field validators shared by every app's forms and services.

"Not in the future" is one rule, judged on the calendar of the place where the event happened: the
site's timezone (architecture: "UTC in the database, the site's timezone on screen; dates of
clinical events are dates"). A nurse in Sydney at 08:00 on 2 January enters 2 January while UTC is
still on 1 January; a nurse in Honolulu at 20:00 on 1 January may not enter 2 January although UTC
already has. Forms and services know the site (the patient's, the form's) and pass its timezone.

A model field or a form without a site cannot know whose "today" applies. Its plain validator
refuses only a date that is in the future everywhere: later than today at UTC+14 (the Line Islands,
Pacific/Kiritimati, the furthest zone ahead of UTC), so it never refuses a date that is already
today at some site; the service with the site applies the exact rule.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext as _

# The furthest civil timezone ahead of UTC (IANA tz database: Pacific/Kiritimati, +14:00).
FURTHEST_AHEAD = dt.timedelta(hours=14)


def site_today(timezone_name: str | None, *, now: dt.datetime | None = None) -> dt.date:
    """Today's date at a site whose timezone is ``timezone_name`` (an IANA name, ``Site.timezone``).

    Without a timezone: the latest date anywhere on Earth (today at UTC+14), the only "today"
    that cannot refuse a date already reached at some site.
    """
    now = now or timezone.now()
    if not timezone_name:
        return (now.astimezone(dt.UTC) + FURTHEST_AHEAD).date()
    return now.astimezone(zoneinfo.ZoneInfo(timezone_name)).date()


def is_in_future(
    day: dt.date | dt.datetime | None, *, timezone_name: str | None, now: dt.datetime | None = None
) -> bool:
    """Whether ``day`` is after today at the site (a moment: after now, whatever the timezone)."""
    if day is None:
        return False
    if isinstance(day, dt.datetime):
        return day > (now or timezone.now())
    return day > site_today(timezone_name, now=now)


FUTURE_MESSAGE = "This date is in the future. Enter the date it happened."


@deconstructible
class NotInFuture:
    """Form-field validator: the date has already happened at the site (``timezone_name``)."""

    def __init__(self, timezone_name: str | None = None) -> None:
        self.timezone_name = timezone_name

    def __call__(self, value) -> None:
        if is_in_future(value, timezone_name=self.timezone_name):
            raise ValidationError(_(FUTURE_MESSAGE), code="future")

    def __eq__(self, other) -> bool:
        return isinstance(other, NotInFuture) and other.timezone_name == self.timezone_name

    def __hash__(self) -> int:
        return hash(self.timezone_name)


def not_in_future(value) -> None:
    """The validator without a site: refuses only a date after today at UTC+14 (see above)."""
    NotInFuture(None)(value)


def not_in_future_at(timezone_name: str | None) -> NotInFuture:
    """The validator for a form that knows the site: ``not_in_future_at(site.timezone)``."""
    return NotInFuture(timezone_name)
