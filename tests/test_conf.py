from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.http import HttpRequest
from pytest_django.fixtures import Settings

from conversion_tracking.conf import conf


def deny(request: HttpRequest) -> bool:
    return False


def test_defaults() -> None:
    assert timedelta(days=7) == conf.MAX_AGE
    assert frozenset() == conf.ALLOWED_MIDS
    assert conf.CONSENT is None
    assert conf.consent_callable() is None
    assert conf.STRIP_PARAMETERS is False
    assert conf.RECORD_CLICKS is True
    assert conf.PIXEL_URL == "https://click.exacttarget.com/conversion.aspx"
    assert ZoneInfo("Etc/GMT+6") == conf.EXTRACT_TIME_ZONE
    assert timedelta(minutes=30) == conf.MATCH_TOLERANCE
    assert conf.STORE_EMAIL_ADDRESS is False


def test_settings_are_read_when_used(settings: Settings) -> None:
    settings.CONVERSION_TRACKING_MAX_AGE = 3600
    settings.CONVERSION_TRACKING_ALLOWED_MIDS = [6421787, "7000001"]
    settings.CONVERSION_TRACKING_STRIP_PARAMETERS = True
    settings.CONVERSION_TRACKING_RECORD_CLICKS = False

    assert timedelta(hours=1) == conf.MAX_AGE
    assert frozenset({"6421787", "7000001"}) == conf.ALLOWED_MIDS
    assert conf.STRIP_PARAMETERS is True
    assert conf.RECORD_CLICKS is False


def test_consent_from_a_dotted_path(settings: Settings) -> None:
    settings.CONVERSION_TRACKING_CONSENT = f"{__name__}.deny"

    assert conf.consent_callable() is deny


def test_consent_as_a_callable(settings: Settings) -> None:
    settings.CONVERSION_TRACKING_CONSENT = deny

    assert conf.consent_callable() is deny


@pytest.mark.parametrize("value", [7, b"tests.test_conf.deny", ["deny"]])
def test_consent_of_another_type_is_refused(settings: Settings, value: object) -> None:
    settings.CONVERSION_TRACKING_CONSENT = value

    with pytest.raises(TypeError, match="dotted path or a callable"):
        conf.consent_callable()


@pytest.mark.parametrize("value", ["7 days", None, True])
def test_max_age_must_be_a_duration(settings: Settings, value: object) -> None:
    settings.CONVERSION_TRACKING_MAX_AGE = value

    with pytest.raises(TypeError, match="timedelta or a number of seconds"):
        conf.MAX_AGE  # noqa: B018
