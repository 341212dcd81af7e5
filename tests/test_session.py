from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from importlib import import_module

import pytest
from django.contrib.sessions.backends.base import SessionBase
from pytest_django.fixtures import Settings as SettingsWrapper

from conversion_tracking import session as tracking_session
from conversion_tracking.session import SESSION_KEY
from conversion_tracking.tracking import TrackingSet, parse

NOW = datetime(2026, 11, 26, 15, 4, 5, tzinfo=timezone.utc)
LANDING = {"j": "2027714", "sfmc_sub": "151496521", "mid": "6421787", "l": "1940_HTML"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(settings: SettingsWrapper) -> SessionBase:
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore()
    return store


def click(captured_at: datetime = NOW, **changes: str) -> TrackingSet:
    return parse({**LANDING, **changes}, captured_at=captured_at)


def test_save_then_load(session: SessionBase) -> None:
    tracking_session.save(session, click())

    assert tracking_session.load(session, now=NOW) == click()


def test_load_survives_a_real_save_and_reload(
    session: SessionBase, settings: SettingsWrapper
) -> None:
    tracking_session.save(session, click())
    session.save()

    reloaded = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)

    assert tracking_session.load(reloaded, now=NOW) == click()


def test_load_without_a_set_leaves_the_session_unmodified(session: SessionBase) -> None:
    assert tracking_session.load(session) is None
    assert not session.modified


def test_latest_click_wins(session: SessionBase) -> None:
    tracking_session.save(session, click())
    later = click(NOW + timedelta(hours=1), j="2027999", sfmc_sub="42")
    tracking_session.save(session, later)

    assert tracking_session.load(session, now=NOW + timedelta(hours=2)) == later


def test_a_set_inside_the_window_is_kept(
    session: SessionBase, settings: SettingsWrapper
) -> None:
    settings.CONVERSION_TRACKING_MAX_AGE = timedelta(days=7)
    tracking_session.save(session, click())

    assert tracking_session.load(session, now=NOW + timedelta(days=7)) == click()
    assert SESSION_KEY in session


def test_window_expiry_removes_the_set(
    session: SessionBase, settings: SettingsWrapper
) -> None:
    settings.CONVERSION_TRACKING_MAX_AGE = timedelta(days=7)
    tracking_session.save(session, click())
    session.modified = False

    later = NOW + timedelta(days=7, seconds=1)

    assert tracking_session.load(session, now=later) is None
    assert SESSION_KEY not in session
    assert session.modified


def test_window_in_seconds(session: SessionBase, settings: SettingsWrapper) -> None:
    settings.CONVERSION_TRACKING_MAX_AGE = 3600
    tracking_session.save(session, click())

    assert tracking_session.load(session, now=NOW + timedelta(minutes=59)) == click()
    assert tracking_session.load(session, now=NOW + timedelta(minutes=61)) is None


def test_load_uses_the_current_time_by_default(session: SessionBase) -> None:
    tracking_session.save(session, click(datetime.now(timezone.utc)))
    assert tracking_session.load(session) is not None

    tracking_session.save(session, click(datetime.now(timezone.utc) - timedelta(30)))
    assert tracking_session.load(session) is None


@pytest.mark.parametrize(
    "payload",
    [
        "garbage",
        {"j": "2027714"},
        [6421787, 2027714],
        [6421787, 2027714, "١٢٣", None, None, None, NOW.isoformat()],
        [6421787, 2027714, 151496521, None, None, None, "2026-11-26T15:04:05"],
    ],
)
def test_malformed_payload_is_dropped(
    session: SessionBase, payload: object, caplog: pytest.LogCaptureFixture
) -> None:
    session[SESSION_KEY] = payload

    with caplog.at_level(logging.DEBUG, logger="conversion_tracking.session"):
        assert tracking_session.load(session, now=NOW) is None

    assert SESSION_KEY not in session
    assert len(caplog.records) == 1
    assert "Dropped an unreadable tracking set" in caplog.records[0].getMessage()


def test_clear(session: SessionBase) -> None:
    tracking_session.save(session, click())
    tracking_session.clear(session)
    tracking_session.clear(session)

    assert tracking_session.load(session, now=NOW) is None


def test_saving_leaves_other_session_keys_alone(session: SessionBase) -> None:
    session["cart"] = [1, 2]
    tracking_session.save(session, click())
    tracking_session.clear(session)

    assert session["cart"] == [1, 2]
