from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.checks import Error, run_checks
from django.http import HttpRequest
from django.test import override_settings
from pytest_django.fixtures import Settings

from conversion_tracking.checks import (
    _check_sqlite_version,
    check_middleware,
    check_settings,
)
from conversion_tracking.middleware import ConversionTrackingMiddleware

SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
OURS = "conversion_tracking.middleware.ConversionTrackingMiddleware"
NOT_CALLABLE = "a string, not a function"


class SiteMiddleware(ConversionTrackingMiddleware):
    """A site's own subclass still counts as the middleware."""


def allow_everyone(request: HttpRequest) -> bool:
    return True


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def test_the_test_settings_pass_every_check() -> None:
    assert check_middleware() == []
    assert check_settings() == []


def test_e001_middleware_missing(settings: Settings) -> None:
    settings.MIDDLEWARE = [SESSIONS, "no.such.Middleware"]

    [error] = check_middleware()

    assert error.id == "conversion_tracking.E001"
    assert isinstance(error, Error)
    assert OURS in error.hint


@pytest.mark.parametrize(
    "middleware",
    [[SESSIONS, OURS], [SESSIONS, f"{__name__}.SiteMiddleware"]],
    ids=["ours", "subclass"],
)
def test_e001_passes_with_the_middleware(
    settings: Settings, middleware: list[str]
) -> None:
    settings.MIDDLEWARE = middleware

    assert check_middleware() == []


@pytest.mark.parametrize(
    "middleware", [[OURS, SESSIONS], [OURS]], ids=["before", "missing"]
)
def test_e002_session_middleware_missing_or_after(
    settings: Settings, middleware: list[str]
) -> None:
    settings.MIDDLEWARE = middleware

    assert ids(check_middleware()) == ["conversion_tracking.E002"]


@pytest.mark.parametrize(
    "url",
    [
        "http://click.exacttarget.com/conversion.aspx",
        "//click.exacttarget.com/conversion.aspx",
        "https://",
        "/conversion.aspx",
        "",
    ],
)
def test_e003_pixel_url_not_https(settings: Settings, url: str) -> None:
    settings.CONVERSION_TRACKING_PIXEL_URL = url

    assert ids(check_settings()) == ["conversion_tracking.E003"]


def test_e003_passes_with_a_stack_host(settings: Settings) -> None:
    settings.CONVERSION_TRACKING_PIXEL_URL = (
        "https://click.s10.exacttarget.com/conversion.aspx"
    )

    assert check_settings() == []


@pytest.mark.parametrize(
    "mids", ["6421787", 6421787, None, ["6421787", "64-1"], ["١٢٣"], [-5], [True]]
)
def test_e004_mids_not_digits(settings: Settings, mids: Any) -> None:
    settings.CONVERSION_TRACKING_ALLOWED_MIDS = mids

    assert ids(check_settings()) == ["conversion_tracking.E004"]


@pytest.mark.parametrize("mids", [[], ["6421787"], (6421787, "7000001"), {"1"}])
def test_e004_passes_with_digits(settings: Settings, mids: Any) -> None:
    settings.CONVERSION_TRACKING_ALLOWED_MIDS = mids

    assert check_settings() == []


@pytest.mark.parametrize(
    "consent",
    [
        "tests.test_checks.no_such_function",
        "no_such_module.consent",
        "nodots",
        f"{__name__}.NOT_CALLABLE",
        42,
    ],
)
def test_e005_consent_unusable(settings: Settings, consent: Any) -> None:
    settings.CONVERSION_TRACKING_CONSENT = consent

    assert ids(check_settings()) == ["conversion_tracking.E005"]


@pytest.mark.parametrize(
    "consent", [None, f"{__name__}.allow_everyone", allow_everyone]
)
def test_e005_passes_with_a_callable(settings: Settings, consent: Any) -> None:
    settings.CONVERSION_TRACKING_CONSENT = consent

    assert check_settings() == []


@pytest.mark.parametrize(
    "max_age", ["7 days", None, True, timedelta(0), -1, timedelta(days=-1)]
)
def test_e006_max_age_not_a_positive_duration(settings: Settings, max_age: Any) -> None:
    settings.CONVERSION_TRACKING_MAX_AGE = max_age

    assert ids(check_settings()) == ["conversion_tracking.E006"]


@pytest.mark.parametrize("max_age", [1, 3600.5, timedelta(days=14)])
def test_e006_passes_with_a_duration(settings: Settings, max_age: Any) -> None:
    settings.CONVERSION_TRACKING_MAX_AGE = max_age

    assert check_settings() == []


@pytest.mark.parametrize("zone", ["Nope/Zone", "", "/etc/localtime", "../UTC"])
def test_e007_unknown_extract_time_zone(settings: Settings, zone: str) -> None:
    settings.CONVERSION_TRACKING_EXTRACT_TIME_ZONE = zone

    assert ids(check_settings()) == ["conversion_tracking.E007"]


@pytest.mark.parametrize("zone", ["Etc/GMT+6", "America/Chicago", "UTC"])
def test_e007_passes_with_a_known_zone(settings: Settings, zone: str) -> None:
    settings.CONVERSION_TRACKING_EXTRACT_TIME_ZONE = zone

    assert check_settings() == []


@pytest.mark.parametrize("tolerance", [timedelta(minutes=4), 60, "30 minutes"])
def test_e008_match_tolerance_too_small(settings: Settings, tolerance: Any) -> None:
    settings.CONVERSION_TRACKING_MATCH_TOLERANCE = tolerance

    assert ids(check_settings()) == ["conversion_tracking.E008"]


@pytest.mark.parametrize("tolerance", [timedelta(minutes=5), 3600])
def test_e008_passes_from_five_minutes(settings: Settings, tolerance: Any) -> None:
    settings.CONVERSION_TRACKING_MATCH_TOLERANCE = tolerance

    assert check_settings() == []


def test_w001_window_longer_than_the_session(settings: Settings) -> None:
    settings.SESSION_COOKIE_AGE = 3 * 24 * 3600

    [warning] = check_settings()

    assert warning.id == "conversion_tracking.W001"
    assert not isinstance(warning, Error)
    assert "SESSION_COOKIE_AGE" in warning.hint


def test_w001_passes_when_the_session_outlives_the_window(settings: Settings) -> None:
    settings.SESSION_COOKIE_AGE = 7 * 24 * 3600
    settings.CONVERSION_TRACKING_MAX_AGE = timedelta(days=7)

    assert check_settings() == []


def test_the_default_window_fits_the_default_session() -> None:
    assert django_settings.SESSION_COOKIE_AGE == 14 * 24 * 3600
    assert check_settings() == []


SQLITE = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "site"}}
POSTGRESQL = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "site"}}


def test_e009_sqlite_too_old_to_reconcile() -> None:
    too_old = _check_sqlite_version((3, 24, 0), SQLITE)
    assert ids(too_old) == ["conversion_tracking.E009"]
    assert "3.24.0" in too_old[0].msg
    assert _check_sqlite_version((3, 25, 0), SQLITE) == []


def test_e009_ignores_sqlite_when_no_database_uses_it() -> None:
    assert _check_sqlite_version((3, 24, 0), POSTGRESQL) == []


def test_checks_are_registered() -> None:
    broken = {
        "MIDDLEWARE": [SESSIONS],
        "CONVERSION_TRACKING_PIXEL_URL": "http://click.exacttarget.com/x",
        "CONVERSION_TRACKING_ALLOWED_MIDS": ["abc"],
        "CONVERSION_TRACKING_CONSENT": "no_such_module.consent",
        "CONVERSION_TRACKING_MAX_AGE": timedelta(0),
        "CONVERSION_TRACKING_EXTRACT_TIME_ZONE": "Nope/Zone",
        "CONVERSION_TRACKING_MATCH_TOLERANCE": timedelta(0),
    }
    with override_settings(**broken):
        found = set(ids(run_checks()))
    with override_settings(SESSION_COOKIE_AGE=60):
        found |= set(ids(run_checks()))

    assert {f"conversion_tracking.E00{number}" for number in range(1, 9)} - {
        "conversion_tracking.E002"
    } <= found
    assert "conversion_tracking.W001" in found
    with override_settings(MIDDLEWARE=[OURS, SESSIONS]):
        assert "conversion_tracking.E002" in ids(run_checks())
    assert not [found for found in ids(run_checks()) if "conversion_tracking" in found]
