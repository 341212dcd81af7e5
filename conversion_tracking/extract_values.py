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
    extract share few distinct hours, so each hour is parsed and converted to
    UTC once, and each row adds only its minutes and seconds, found by a dict
    look-up that also validates them. An hour in which the zone's offset
    changes (a 30-minute daylight saving shift) is converted minute by minute.
    """

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.hours: dict[str, datetime] = {}
        self.clock = {
            f"{minute:02d}:{second:02d}": timedelta(minutes=minute, seconds=second)
            for minute in range(60)
            for second in range(60)
        }
        self._shifting: dict[str, datetime] = {}

    def __call__(self, value: str) -> datetime:
        # "11/26/2026 3:04:05 PM": the hour "11/26/2026 3:" and " PM" make the
        # key; minutes and seconds sit at [-8:-3].
        key = value[:-8] + value[-3:]
        base = self.hours.get(key)
        if base is None:
            return self.parse_slowly(value, key)
        return base + self.clock[value[-8:-3]]

    def parse_slowly(self, value: str, key: str) -> datetime:
        """``value``, whose hour ``key`` is not cached (or shifts its offset)."""
        offset = self.clock[value[-8:-3]]
        local = self._shifting.get(key) or self._parse_hour(key)
        if key in self.hours:
            return self.hours[key] + offset
        minute = timedelta(minutes=offset.seconds // 60)
        moment = (local + minute).astimezone(timezone.utc)
        return moment + (offset - minute)

    def _parse_hour(self, key: str) -> datetime:
        day, clock, meridiem = key.split(" ")
        months, dates, years = day.split("/")
        month, date = _digits(months, 1, 2), _digits(dates, 1, 2)
        year = _digits(years, 4, 4)
        hours, nothing = clock.split(":")
        hour = _digits(hours, 1, 2)
        if (
            year < 1900
            or not 1 <= hour <= 12
            or nothing
            or meridiem not in ("AM", "PM")
        ):
            raise ValueError(key)
        hour = hour % 12 + (12 if meridiem == "PM" else 0)
        # Adding to an aware datetime moves its wall clock, as MCE writes it.
        local = datetime(year, month, date, hour, tzinfo=self.zone)
        start = local.astimezone(timezone.utc)
        last = (local + timedelta(minutes=59)).astimezone(timezone.utc)
        if last - start == timedelta(minutes=59):
            self.hours[key] = start
        else:
            self._shifting[key] = local
        return local


def _digits(text: str, shortest: int, longest: int) -> int:
    if not (text.isascii() and text.isdigit() and shortest <= len(text) <= longest):
        raise ValueError(text)
    return int(text)
