"""System checks for the app's settings and middleware placement."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfoNotFoundError

from django.apps.config import AppConfig
from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from conversion_tracking.conf import PREFIX, conf

MIDDLEWARE_PATH = "conversion_tracking.middleware.ConversionTrackingMiddleware"
MIN_MATCH_TOLERANCE = timedelta(minutes=5)
# Reconciliation ranks competing pairs with window functions, which SQLite has
# had since 3.25.0 (2018); Django 4.2 still runs on 3.21.
MIN_SQLITE_VERSION = (3, 25, 0)


def _middleware_index(cls: type) -> int | None:
    for index, path in enumerate(settings.MIDDLEWARE):
        try:
            imported = import_string(path)
        except ImportError:
            continue
        if isinstance(imported, type) and issubclass(imported, cls):
            return index
    return None


def check_middleware(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    from conversion_tracking.middleware import ConversionTrackingMiddleware

    ours = _middleware_index(ConversionTrackingMiddleware)
    if ours is None:
        return [
            Error(
                "ConversionTrackingMiddleware is not in MIDDLEWARE, so no click is "
                "captured.",
                hint=f"Add '{MIDDLEWARE_PATH}' to MIDDLEWARE, after SessionMiddleware.",
                id="conversion_tracking.E001",
            )
        ]
    sessions = _middleware_index(SessionMiddleware)
    if sessions is None or sessions > ours:
        return [
            Error(
                "ConversionTrackingMiddleware must come after SessionMiddleware, "
                "which it needs to store the tracking set.",
                hint="Move 'django.contrib.sessions.middleware.SessionMiddleware' "
                f"above '{MIDDLEWARE_PATH}' in MIDDLEWARE.",
                id="conversion_tracking.E002",
            )
        ]
    return []


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    return [
        *_check_pixel_url(),
        *_check_allowed_mids(),
        *_check_consent(),
        *_check_max_age(),
        *_check_extract_settings(),
        *_check_sqlite_version(sqlite3.sqlite_version_info, settings.DATABASES),
    ]


def _check_pixel_url() -> list[CheckMessage]:
    url = conf.PIXEL_URL
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return []
    return [
        Error(
            f"{PREFIX}PIXEL_URL must be an absolute https:// URL, not {url!r}: "
            "browsers block an http:// image on an HTTPS page.",
            hint="Use your MCE click host, for example "
            "'https://click.exacttarget.com/conversion.aspx'.",
            id="conversion_tracking.E003",
        )
    ]


def _check_allowed_mids() -> list[CheckMessage]:
    mids = getattr(settings, PREFIX + "ALLOWED_MIDS", ())
    hint = f"Set {PREFIX}ALLOWED_MIDS to a list of MIDs, such as ['6421787']."
    if isinstance(mids, str | bytes) or not hasattr(mids, "__iter__"):
        return [
            Error(
                f"{PREFIX}ALLOWED_MIDS must be a list of MIDs, not {mids!r}.",
                hint=hint,
                id="conversion_tracking.E004",
            )
        ]
    bad = [mid for mid in mids if not (str(mid).isascii() and str(mid).isdigit())]
    if not bad:
        return []
    return [
        Error(
            f"{PREFIX}ALLOWED_MIDS holds values that are not MIDs (digits): {bad!r}.",
            hint=hint,
            id="conversion_tracking.E004",
        )
    ]


def _check_consent() -> list[CheckMessage]:
    try:
        consent = conf.consent_callable()
    except ImportError as exc:
        problem = f"cannot be imported ({exc})"
    except TypeError:
        problem = "is neither a dotted path nor a callable"
    else:
        if consent is None or callable(consent):
            return []
        problem = "is not callable"
    return [
        Error(
            f"{PREFIX}CONSENT {problem}.",
            hint="Give the dotted path of a function that takes the request and "
            "returns True when the visitor allows tracking, or None.",
            id="conversion_tracking.E005",
        )
    ]


def _check_max_age() -> list[CheckMessage]:
    try:
        max_age = conf.MAX_AGE
    except TypeError as exc:
        return [
            Error(
                f"{PREFIX}MAX_AGE is not a duration: {exc}.",
                hint="Use a datetime.timedelta or a number of seconds.",
                id="conversion_tracking.E006",
            )
        ]
    if max_age <= timedelta(0):
        return [
            Error(
                f"{PREFIX}MAX_AGE must be positive.",
                hint="Use a datetime.timedelta or a number of seconds.",
                id="conversion_tracking.E006",
            )
        ]
    session_age = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    if max_age <= session_age:
        return []
    return [
        Warning(
            f"{PREFIX}MAX_AGE ({max_age}) is longer than SESSION_COOKIE_AGE "
            f"({session_age}): a click is forgotten with its session before its "
            "attribution window ends, unless a hidden field brings it back.",
            hint=f"Raise SESSION_COOKIE_AGE or lower {PREFIX}MAX_AGE.",
            id="conversion_tracking.W001",
        )
    ]


def _check_extract_settings() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    try:
        conf.EXTRACT_TIME_ZONE  # noqa: B018
    except (ZoneInfoNotFoundError, ValueError) as exc:
        messages.append(
            Error(
                f"{PREFIX}EXTRACT_TIME_ZONE is not a known time zone: {exc}.",
                hint="Use an IANA name such as 'Etc/GMT+6' (MCE's system time, "
                "US Central Standard Time all year) or 'America/Chicago'.",
                id="conversion_tracking.E007",
            )
        )
    try:
        tolerance = conf.MATCH_TOLERANCE
    except TypeError:
        tolerance = timedelta(0)
    if tolerance < MIN_MATCH_TOLERANCE:
        messages.append(
            Error(
                f"{PREFIX}MATCH_TOLERANCE must be a duration of at least 5 minutes: "
                "clocks differ and MCE logs a conversion when its request arrives.",
                hint="Use a datetime.timedelta of 5 minutes or more.",
                id="conversion_tracking.E008",
            )
        )
    return messages


def _check_sqlite_version(
    version: tuple[int, int, int], databases: dict[str, dict[str, Any]]
) -> list[CheckMessage]:
    uses_sqlite = any(
        "sqlite3" in database.get("ENGINE", "") for database in databases.values()
    )
    if not uses_sqlite or version >= MIN_SQLITE_VERSION:
        return []
    found = ".".join(map(str, version))
    return [
        Error(
            f"SQLite {found} is too old to reconcile extracts: the app needs "
            "3.25.0 or newer.",
            hint="Install a newer SQLite library for Python, or use PostgreSQL.",
            id="conversion_tracking.E009",
        )
    ]
