"""Checking and converting single values of a Tracking Extract."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

MAX_ID = 2**63 - 1  # the largest value a signed 64-bit column holds
# The longest value of the bounded text columns (SubscriberKey, ListID...).
MAX_TEXT_LENGTH = 255
DATE_EXAMPLE = "11/26/2026 3:04:05 PM"


def check_identifier(value: str, *, required: bool) -> None:
    """Raise ``ValueError`` saying why ``value`` is not an MCE ID."""
    if not value:
        if required:
            raise ValueError("empty, where an ID is required")
        return
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
        raise ValueError("not an ID (digits only, at most 19)")


class DateParser:
    """Parses MCE's ``11/26/2026 3:04:05 PM`` into aware UTC datetimes, fast.

    ``strptime`` on every row of a large extract costs seconds. The rows of an
    extract share few distinct minutes, so each minute is parsed and converted
    to UTC once, and each row adds only its seconds, found by a dict look-up
    that also validates them.
    """

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._minutes: dict[str, datetime] = {}
        self._seconds = {
            f"{second:02d}": timedelta(seconds=second) for second in range(60)
        }

    def __call__(self, value: str) -> datetime:
        # "11/26/2026 3:04:05 PM": the minute "11/26/2026 3:04:" and " PM" make
        # the key; the seconds sit at [-5:-3].
        key = value[:-5] + value[-3:]
        base = self._minutes.get(key)
        if base is None:
            base = self._parse_minute(key)
        return base + self._seconds[value[-5:-3]]

    def _parse_minute(self, key: str) -> datetime:
        day, clock, meridiem = key.split(" ")
        months, dates, years = day.split("/")
        month, date = _digits(months, 1, 2), _digits(dates, 1, 2)
        year = _digits(years, 4, 4)
        hours, minutes, nothing = clock.split(":")
        hour, minute = _digits(hours, 1, 2), _digits(minutes, 2, 2)
        if (
            year < 1900
            or not 1 <= hour <= 12
            or nothing
            or meridiem not in ("AM", "PM")
        ):
            raise ValueError(key)
        hour = hour % 12 + (12 if meridiem == "PM" else 0)
        local = datetime(year, month, date, hour, minute, tzinfo=self.zone)
        base = local.astimezone(timezone.utc)
        self._minutes[key] = base
        return base


def _digits(text: str, shortest: int, longest: int) -> int:
    if not (text.isascii() and text.isdigit() and shortest <= len(text) <= longest):
        raise ValueError(text)
    return int(text)
