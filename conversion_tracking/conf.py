"""The app's settings, each read from ``django.conf.settings`` when it is used.

Reading at access time (never copying a value at import) keeps
``override_settings`` working in tests and lets a site change a setting without
restarting anything but its own process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string

PREFIX = "CONVERSION_TRACKING_"

DEFAULT_MAX_AGE = timedelta(days=7)
DEFAULT_PIXEL_URL = "https://click.exacttarget.com/conversion.aspx"
DEFAULT_EXTRACT_TIME_ZONE = "Etc/GMT+6"  # US Central Standard Time, no DST.
DEFAULT_MATCH_TOLERANCE = timedelta(minutes=30)


def _to_timedelta(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a timedelta or a number of seconds, got {value!r}")
    return timedelta(seconds=value)


class Settings:
    """Typed access to every ``CONVERSION_TRACKING_*`` setting."""

    def _get(self, name: str, default: Any) -> Any:
        return getattr(settings, PREFIX + name, default)

    @property
    def MAX_AGE(self) -> timedelta:
        """The attribution window: how long a captured click may earn a conversion."""
        return _to_timedelta(self._get("MAX_AGE", DEFAULT_MAX_AGE))

    @property
    def ALLOWED_MIDS(self) -> frozenset[str]:
        """MIDs whose clicks are accepted, as strings of digits; empty accepts any."""
        return frozenset(str(mid) for mid in self._get("ALLOWED_MIDS", ()))

    @property
    def CONSENT(self) -> str | Callable[[HttpRequest], bool] | None:
        return self._get("CONSENT", None)  # type: ignore[no-any-return]

    def consent_callable(self) -> Callable[[HttpRequest], bool] | None:
        """The consent callable, imported from its dotted path, or ``None``."""
        consent = self.CONSENT
        if consent is None or callable(consent):
            return consent
        if not isinstance(consent, str):
            raise TypeError(f"expected a dotted path or a callable, got {consent!r}")
        return import_string(consent)  # type: ignore[no-any-return]

    @property
    def STRIP_PARAMETERS(self) -> bool:
        return bool(self._get("STRIP_PARAMETERS", False))

    @property
    def RECORD_CLICKS(self) -> bool:
        return bool(self._get("RECORD_CLICKS", True))

    @property
    def PIXEL_URL(self) -> str:
        return str(self._get("PIXEL_URL", DEFAULT_PIXEL_URL))

    @property
    def EXTRACT_TIME_ZONE(self) -> ZoneInfo:
        """The time zone of ``EventDate`` in imported Tracking Extracts."""
        return ZoneInfo(str(self._get("EXTRACT_TIME_ZONE", DEFAULT_EXTRACT_TIME_ZONE)))

    @property
    def MATCH_TOLERANCE(self) -> timedelta:
        """How far MCE's event time may lie from the pixel's render time."""
        return _to_timedelta(self._get("MATCH_TOLERANCE", DEFAULT_MATCH_TOLERANCE))

    @property
    def STORE_EMAIL_ADDRESS(self) -> bool:
        """Whether imported extract rows keep ``EmailAddress`` (personal data)."""
        return bool(self._get("STORE_EMAIL_ADDRESS", False))


conf = Settings()
