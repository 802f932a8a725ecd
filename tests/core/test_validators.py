"""One "not in the future" rule, on the site's calendar (core.validators).

Source: architecture.md "Time: UTC in the database, the site's timezone on screen; dates of clinical
events are dates"; issue 21 ("one 'not in the future' rule in the site's timezone, not five"). UTC
offsets by hand from the IANA tz database: Australia/Sydney AEDT = UTC+11 in January, Pacific/Honolulu
HST = UTC-10 (no DST), Europe/London GMT = UTC+0 in January and BST = UTC+1 in July,
Pacific/Kiritimati = UTC+14 (the furthest zone ahead of UTC, the bound of the site-less validator).
"""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.validators import is_in_future, not_in_future, not_in_future_at, site_today
from crf.validators import CrfValidator


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


D = dt.date


@pytest.mark.parametrize(
    ("zone", "now", "today"),
    [
        # Sydney 08:00 on 2 Jan while UTC is 21:00 on 1 Jan.
        ("Australia/Sydney", utc(2026, 1, 1, 21, 0), D(2026, 1, 2)),
        # Honolulu 20:00 on 1 Jan while UTC is 06:00 on 2 Jan.
        ("Pacific/Honolulu", utc(2026, 1, 2, 6, 0), D(2026, 1, 1)),
        # London in winter: one second either side of midnight UTC is midnight there too.
        ("Europe/London", utc(2026, 1, 1, 23, 59, 59), D(2026, 1, 1)),
        ("Europe/London", utc(2026, 1, 2, 0, 0, 0), D(2026, 1, 2)),
        # London in summer (BST): 23:30 UTC on 1 July is 00:30 on 2 July.
        ("Europe/London", utc(2026, 7, 1, 23, 30), D(2026, 7, 2)),
        # No site: the latest calendar on Earth, UTC+14.
        (None, utc(2026, 1, 1, 9, 59), D(2026, 1, 1)),
        (None, utc(2026, 1, 1, 10, 0), D(2026, 1, 2)),
    ],
)
def test_today_is_the_date_on_the_site_calendar(zone, now, today):
    assert site_today(zone, now=now) == today


def test_a_nurse_in_sydney_at_eight_on_2_january_may_enter_2_january():
    now = utc(2026, 1, 1, 21, 0)  # UTC still on 1 January
    assert not is_in_future(D(2026, 1, 2), timezone_name="Australia/Sydney", now=now)
    assert is_in_future(D(2026, 1, 3), timezone_name="Australia/Sydney", now=now)


def test_a_nurse_in_honolulu_on_the_evening_of_1_january_may_not_enter_2_january():
    now = utc(2026, 1, 2, 6, 0)  # UTC already on 2 January
    assert is_in_future(D(2026, 1, 2), timezone_name="Pacific/Honolulu", now=now)
    assert not is_in_future(D(2026, 1, 1), timezone_name="Pacific/Honolulu", now=now)


def test_around_midnight_at_the_site():
    before, after = utc(2026, 1, 1, 23, 59, 59), utc(2026, 1, 2, 0, 0, 0)
    assert is_in_future(D(2026, 1, 2), timezone_name="Europe/London", now=before)
    assert not is_in_future(D(2026, 1, 2), timezone_name="Europe/London", now=after)


def test_without_a_site_only_a_date_in_the_future_everywhere_is_refused(monkeypatch):
    # 10:00 UTC on 1 Jan is midnight starting 2 Jan at UTC+14: 2 Jan is today somewhere, 3 Jan nowhere.
    monkeypatch.setattr(timezone, "now", lambda: utc(2026, 1, 1, 10, 0))
    not_in_future(D(2026, 1, 2))
    not_in_future(None)
    with pytest.raises(ValidationError) as refused:
        not_in_future(D(2026, 1, 3))
    assert refused.value.code == "future"
    # One minute earlier (09:59 UTC, 23:59 on 1 Jan at UTC+14) 2 Jan is in the future everywhere.
    monkeypatch.setattr(timezone, "now", lambda: utc(2026, 1, 1, 9, 59))
    with pytest.raises(ValidationError):
        not_in_future(D(2026, 1, 2))


def test_the_form_validator_with_the_site_timezone(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: utc(2026, 1, 1, 21, 0))
    not_in_future_at("Australia/Sydney")(D(2026, 1, 2))
    with pytest.raises(ValidationError):
        not_in_future_at("Europe/London")(D(2026, 1, 2))


def test_a_moment_is_compared_with_now_whatever_the_zone():
    now = utc(2026, 1, 1, 12, 0)
    assert is_in_future(utc(2026, 1, 1, 12, 1), timezone_name="Pacific/Honolulu", now=now)
    assert not is_in_future(utc(2026, 1, 1, 11, 59), timezone_name="Australia/Sydney", now=now)


def test_crf_edit_check_uses_the_patient_site_calendar(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: utc(2026, 1, 1, 21, 0))
    sydney = SimpleNamespace(site=SimpleNamespace(timezone="Australia/Sydney"))
    london = SimpleNamespace(site=SimpleNamespace(timezone="Europe/London"))
    assert CrfValidator().check({"resection_date": D(2026, 1, 2)}, patient=sydney, visit=None).hard == []
    refused = CrfValidator().check({"resection_date": D(2026, 1, 2)}, patient=london, visit=None).hard
    assert refused == [("resection_date", "This date is in the future.")]
