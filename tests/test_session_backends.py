from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.file import SessionStore as FileSessionStore
from django.core.cache import cache
from django.test import Client
from pytest_django.fixtures import Settings

from conversion_tracking.models import ClickThrough
from tests.factories import LANDING_PARAMETERS
from tests.factories import LANDING_QUERY as LANDING

SHOWN = repr(LANDING_PARAMETERS)
ENGINES = ["db", "cache", "cached_db", "file", "signed_cookies"]
CACHE_BACKEND = django_settings.CACHES["default"]["BACKEND"].rpartition(".")[2]

pytestmark = pytest.mark.django_db


@pytest.fixture
def session_files(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    settings.SESSION_FILE_PATH = str(tmp_path)
    # The file engine remembers its directory for the life of the process.
    monkeypatch.delattr(FileSessionStore, "_storage_path", raising=False)
    return tmp_path


@pytest.fixture(params=ENGINES)
def engine(
    request: pytest.FixtureRequest, settings: Settings, session_files: Path
) -> str:
    name: str = request.param
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{name}"
    cache.clear()
    return name


def test_the_cache_backend_in_use() -> None:
    # Redis backs the cache engines whenever REDIS_URL is set.
    expected = "RedisCache" if django_settings.REDIS_URL else "LocMemCache"

    assert expected == CACHE_BACKEND


def test_capture_then_read_back(engine: str, client: Client) -> None:
    landing = client.get(f"/current/?{LANDING}")
    later = client.get("/current/")

    assert landing.content.decode() == SHOWN
    assert later.content.decode() == SHOWN
    assert ClickThrough.objects.count() == 1


def test_read_back_by_a_new_client_with_the_cookie(engine: str, client: Client) -> None:
    client.get(f"/plain/?{LANDING}")
    other = Client()
    other.cookies["sessionid"] = client.cookies["sessionid"].value

    assert other.get("/current/").content.decode() == SHOWN


def test_latest_click_wins(engine: str, client: Client) -> None:
    client.get(f"/plain/?{LANDING}")
    client.get("/plain/?j=2028000&sfmc_sub=42&mid=6421787")

    assert client.get("/current/").content.decode() == repr(
        {"j": "2028000", "sfmc_sub": "42", "mid": "6421787"}
    )


def test_plain_requests_create_no_session(engine: str, client: Client) -> None:
    response = client.get("/plain/?page=2&utm_source=news")

    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_file_engine_writes_to_its_directory(
    settings: Settings, session_files: Path
) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.file"

    Client().get("/plain/?page=2")
    assert not list(session_files.iterdir())

    Client().get(f"/plain/?{LANDING}")
    assert len(list(session_files.iterdir())) == 1
