from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from hypothesis import given
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from conversion_tracking import get_tracking
from conversion_tracking.capture import HIDDEN_FIELD_NAME, is_landing
from conversion_tracking.models import ClickThrough
from conversion_tracking.signals import click_captured
from conversion_tracking.tracking import PARAMETERS, TrackingSet, parse, sign
from tests.factories import LANDING_PARAMETERS
from tests.factories import LANDING_QUERY as LANDING

UNRELATED_QUERIES = [
    "",
    "page=2&utm_source=news",
    "jump=1",
    "url=x",
    "ll=1",
    "e=someone%40example.com",
    "et_cid=1&et_rid=2&sfmc_id=3&sfmc_activityid=4",
    "q=j&page=mid",
    "q=j%3D1%26mid%3D2",
    "j_=1&xmid=2&jbx=3&sfmc_subscriber=4",
]


def write_session(request: HttpRequest) -> HttpResponse:
    request.session["baseline"] = ["the", "same", "kind", "of", "payload", 1, 2]
    return HttpResponse("written")


async def async_plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async plain")


def refuse_consent(request: HttpRequest) -> bool:
    return False


urlpatterns = [
    path("write-session/", write_session),
    path("async-plain/", async_plain),
    path("", include("tests.urls")),
]

pytestmark = pytest.mark.urls(__name__)


def shown(response: Any) -> str:
    return str(response.content.decode())


def shown_landing() -> str:
    return repr(LANDING_PARAMETERS)


def assert_session_untouched(response: Any, request: HttpRequest) -> None:
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    assert request.session.accessed is False
    assert request.session.modified is False


@pytest.fixture
def captured() -> Iterator[list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        sent.append(kwargs)

    click_captured.connect(receiver, dispatch_uid="test-middleware")
    yield sent
    click_captured.disconnect(dispatch_uid="test-middleware")


@pytest.fixture
async def thread_connections() -> AsyncIterator[None]:
    """Close the connections the async path opened in its worker thread.

    Left open, they keep PostgreSQL from dropping the test database.
    """
    yield
    await sync_to_async(connections.close_all)()


@pytest.mark.parametrize("query", UNRELATED_QUERIES)
def test_requests_without_parameters_leave_the_session_alone(
    client: Client, query: str
) -> None:
    # Not marked for database access: any session query would fail the test.
    response = client.get(f"/plain/?{query}")

    assert response.status_code == 200
    assert_session_untouched(response, response.wsgi_request)


@pytest.mark.parametrize("query", UNRELATED_QUERIES)
def test_unrelated_queries_are_not_landings(rf: RequestFactory, query: str) -> None:
    assert not is_landing(rf.get(f"/plain/?{query}"))


@pytest.mark.parametrize(
    "query", [LANDING, "j=1", "mid", "a=1&sfmc_sub=2", "l=&x=1", "jb&u=3", "u"]
)
def test_queries_naming_a_parameter_are_landings(
    rf: RequestFactory, query: str
) -> None:
    assert is_landing(rf.get(f"/plain/?{query}"))


names = st.sampled_from(sorted(PARAMETERS)) | st.text("abcdfjlmsu_J%", max_size=6)
pairs = st.tuples(names, st.none() | st.text("0123456789jlu_+%=", max_size=4))


@given(st.lists(pairs, max_size=6))
def test_the_gate_finds_exactly_the_queries_naming_a_parameter(
    query_pairs: list[tuple[str, str | None]],
) -> None:
    query = "&".join(
        name if value is None else f"{name}={value}" for name, value in query_pairs
    )
    named = [pair.partition("=")[0] for pair in query.split("&")]

    landing = is_landing(RequestFactory().get(f"/plain/?{query}"))

    assert landing == any(name in PARAMETERS for name in named)


@pytest.mark.parametrize("method", ["post", "head", "put", "options", "delete"])
def test_only_get_requests_are_landings(rf: RequestFactory, method: str) -> None:
    assert not is_landing(getattr(rf, method)(f"/plain/?{LANDING}"))


@pytest.mark.django_db
def test_landing_is_captured_into_the_session(client: Client) -> None:
    landing = client.get(f"/current/?{LANDING}")
    later = client.get("/current/")

    assert shown(landing) == shown_landing()
    assert shown(later) == shown_landing()
    assert "sessionid" in landing.cookies
    click = ClickThrough.objects.get()
    assert (click.member_id, click.job_id, click.subscriber_id) == (
        6421787,
        2027714,
        151496521,
    )
    assert (click.list_id, click.url_id, click.batch_id) == ("1940_HTML", 55981221, 1)
    assert click.path == "/current/"
    tracking = get_tracking(later.wsgi_request)
    assert tracking is not None
    assert tracking.captured_at == click.captured_at


@pytest.mark.django_db
def test_landing_is_captured_before_a_redirecting_view(client: Client) -> None:
    response = client.get(f"/redirect/?{LANDING}")

    assert response.status_code == 302
    assert response["Location"] == "/plain/"
    assert shown(client.get("/current/")) == shown_landing()
    assert ClickThrough.objects.get().path == "/redirect/"


@pytest.mark.django_db
def test_landing_on_a_missing_page_is_still_captured(client: Client) -> None:
    assert client.get(f"/moved/?{LANDING}").status_code == 404

    assert shown(client.get("/current/")) == shown_landing()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "stored"),
    [("/caf%C3%A9%00x/", "/caf%C3%A9%00x/"), ("/a%20b/", "/a%20b/")],
)
def test_landing_path_is_stored_percent_encoded(
    client: Client, path: str, stored: str
) -> None:
    # A decoded NUL would make PostgreSQL refuse the row: the path is stored as
    # it travelled instead, whole.
    assert client.get(f"{path}?{LANDING}").status_code == 404

    assert ClickThrough.objects.get().path == stored


@pytest.mark.django_db
def test_latest_click_wins(client: Client) -> None:
    client.get(f"/plain/?{LANDING}")
    client.get("/plain/?j=2028000&sfmc_sub=42&mid=6421787")

    assert shown(client.get("/current/")) == repr(
        {"j": "2028000", "sfmc_sub": "42", "mid": "6421787"}
    )
    assert ClickThrough.objects.count() == 2


@pytest.mark.django_db
def test_a_repeated_parameter_with_the_same_value_is_accepted(client: Client) -> None:
    client.get(f"/plain/?{LANDING}&j=2027714&mid=6421787")

    assert shown(client.get("/current/")) == shown_landing()


@pytest.mark.django_db
def test_empty_optional_values_are_left_out(client: Client) -> None:
    client.get("/plain/?j=2027714&sfmc_sub=151496521&l=&u=&mid=6421787&jb=")

    assert shown(client.get("/current/")) == repr(
        {"j": "2027714", "sfmc_sub": "151496521", "mid": "6421787"}
    )
    assert ClickThrough.objects.get().list_id == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data", [LANDING_PARAMETERS, {**LANDING_PARAMETERS, "_": "x" * 100}]
)
def test_parameters_in_a_post_body_are_ignored(
    client: Client, data: dict[str, str]
) -> None:
    response = client.post("/plain/", data)

    assert_session_untouched(response, response.wsgi_request)
    assert not ClickThrough.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "head", "put", "delete"])
def test_parameters_in_the_url_of_other_methods_are_ignored(
    client: Client, method: str
) -> None:
    response = getattr(client, method)(f"/plain/?{LANDING}")

    assert_session_untouched(response, response.wsgi_request)
    assert not ClickThrough.objects.exists()


INVALID_QUERIES = {
    "conflicting repeat": f"{LANDING}&j=1",
    "repeat with an empty value": f"{LANDING}&sfmc_sub=",
    "arabic-indic digits": "j=%D9%A1%D9%A2%D9%A3&sfmc_sub=151496521&mid=6421787",
    "full-width digits": "j=%EF%BC%91%EF%BC%92&sfmc_sub=151496521&mid=6421787",
    "plus as a space": "j=2027714+&sfmc_sub=151496521&mid=6421787",
    "encoded space": "j=%202027714&sfmc_sub=151496521&mid=6421787",
    "encoded plus": "j=%2B2027714&sfmc_sub=151496521&mid=6421787",
    "over-long": f"j={'9' * 5000}&sfmc_sub=151496521&mid=6421787",
    "2**63": f"j={2**63}&sfmc_sub=151496521&mid=6421787",
    "missing mid": "j=2027714&sfmc_sub=151496521",
    "empty subscriber": "j=2027714&sfmc_sub=&mid=6421787",
    "bad list suffix": "j=2027714&sfmc_sub=151496521&mid=6421787&l=1940-HTML",
    "bad batch": "j=2027714&sfmc_sub=151496521&mid=6421787&jb=1.0",
    "not utf-8": "j=%FF&sfmc_sub=151496521&mid=6421787",
    "markup": "j=%3Cscript%3E&sfmc_sub=151496521&mid=6421787",
}


@pytest.mark.django_db
@pytest.mark.parametrize("query", INVALID_QUERIES.values(), ids=INVALID_QUERIES)
def test_an_invalid_set_stores_nothing(client: Client, query: str) -> None:
    response = client.get(f"/plain/?{query}")

    assert response.status_code == 200
    assert_session_untouched(response, response.wsgi_request)
    assert not ClickThrough.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("query", INVALID_QUERIES.values(), ids=INVALID_QUERIES)
def test_an_invalid_set_leaves_an_earlier_one_intact(
    client: Client, query: str, captured: list[dict[str, Any]]
) -> None:
    client.get(f"/plain/?{LANDING}")

    assert shown(client.get(f"/current/?{query}")) == shown_landing()
    assert ClickThrough.objects.count() == 1
    assert len(captured) == 1


@pytest.mark.django_db
def test_an_invalid_set_logs_one_debug_line_without_the_subscriber(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="conversion_tracking"):
        client.get("/plain/?j=2027714&sfmc_sub=151496521x&mid=6421787")

    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    assert record.name == "conversion_tracking.capture"
    assert "/plain/" in record.getMessage()
    assert "sfmc_sub" in record.getMessage()
    assert "151496521" not in record.getMessage()


@pytest.mark.django_db
def test_a_landing_with_a_long_query_is_still_captured(client: Client) -> None:
    # More fields than request.GET would parse (DATA_UPLOAD_MAX_NUMBER_FIELDS).
    query = "&".join(f"f{number}=1" for number in range(1001))

    assert client.get(f"/plain/?{query}&{LANDING}").status_code == 200
    assert shown(client.get("/current/")) == shown_landing()


@pytest.mark.django_db
def test_percent_encoded_names_are_not_parameters(client: Client) -> None:
    # MCE writes the names plainly; the gate and the parser both read them as is.
    response = client.get("/plain/?%6A=2027714&sfmc_sub=151496521&mid=6421787")

    assert_session_untouched(response, response.wsgi_request)
    assert not ClickThrough.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("allowed", [["6421787"], [6421787], ("1", "6421787")])
def test_allowed_mids_accept_listed_ones(
    client: Client, settings: Settings, allowed: list[Any]
) -> None:
    settings.CONVERSION_TRACKING_ALLOWED_MIDS = allowed

    assert shown(client.get(f"/current/?{LANDING}")) == shown_landing()


@pytest.mark.django_db
def test_allowed_mids_refuse_others(
    client: Client, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CONVERSION_TRACKING_ALLOWED_MIDS = ["1234567"]

    with caplog.at_level(logging.DEBUG, logger="conversion_tracking"):
        response = client.get(f"/plain/?{LANDING}")

    assert_session_untouched(response, response.wsgi_request)
    assert not ClickThrough.objects.exists()
    [record] = caplog.records
    assert "ALLOWED_MIDS" in record.getMessage()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "consent", ["tests.test_middleware.refuse_consent", refuse_consent]
)
def test_without_consent_nothing_is_captured_or_read(
    client: Client, settings: Settings, consent: Any, captured: list[dict[str, Any]]
) -> None:
    client.get(f"/plain/?{LANDING}")
    settings.CONVERSION_TRACKING_CONSENT = consent

    response = client.get("/current/?j=2028000&sfmc_sub=42&mid=6421787")

    assert shown(response) == "none"
    assert get_tracking(response.wsgi_request) is None
    assert ClickThrough.objects.count() == 1
    assert len(captured) == 1
    settings.CONVERSION_TRACKING_CONSENT = None
    assert shown(client.get("/current/")) == shown_landing()


@pytest.mark.django_db
def test_consent_callable_gets_the_request(client: Client, settings: Settings) -> None:
    asked: list[str] = []

    def consent(request: HttpRequest) -> bool:
        asked.append(request.path)
        return request.COOKIES.get("marketing") == "yes"

    settings.CONVERSION_TRACKING_CONSENT = consent
    client.get(f"/plain/?{LANDING}")
    assert not ClickThrough.objects.exists()

    client.cookies["marketing"] = "yes"
    assert shown(client.get(f"/current/?{LANDING}")) == shown_landing()
    assert asked[:2] == ["/plain/", "/current/"]


@pytest.mark.django_db
def test_strip_parameters_keeps_the_others_in_order_and_encoding(
    client: Client, settings: Settings
) -> None:
    settings.CONVERSION_TRACKING_STRIP_PARAMETERS = True
    query = (
        "page=2&j=2027714&utm_source=a%20b&sfmc_sub=151496521&q=caf%C3%A9+x"
        "&l=1940_HTML&tag=a&u=55981221&mid=6421787&jb=1&tag=b&empty=&flag"
    )

    response = client.get(f"/current/?{query}")

    assert response.status_code == 302
    assert response["Location"] == (
        "/current/?page=2&utm_source=a%20b&q=caf%C3%A9+x&tag=a&tag=b&empty=&flag"
    )
    assert "sessionid" in response.cookies
    assert shown(client.get(response["Location"])) == shown_landing()


@pytest.mark.django_db
def test_strip_parameters_without_other_parameters(
    client: Client, settings: Settings
) -> None:
    settings.CONVERSION_TRACKING_STRIP_PARAMETERS = True

    response = client.get(f"/plain/?{LANDING}")

    assert response["Location"] == "/plain/"


@pytest.mark.django_db
def test_strip_parameters_escapes_the_path(client: Client, settings: Settings) -> None:
    settings.CONVERSION_TRACKING_STRIP_PARAMETERS = True

    response = client.get(f"/caf%C3%A9%20menu/?{LANDING}&x=%22")

    assert response["Location"] == "/caf%C3%A9%20menu/?x=%22"


@pytest.mark.django_db
def test_strip_parameters_never_redirects_off_site(
    client: Client, settings: Settings
) -> None:
    settings.CONVERSION_TRACKING_STRIP_PARAMETERS = True

    response = client.get(f"/%2Fevil.example/?{LANDING}")

    assert response.wsgi_request.path == "//evil.example/"
    assert response["Location"] == "/%2Fevil.example/"


@pytest.mark.django_db
def test_strip_parameters_leaves_an_invalid_set_in_place(
    client: Client, settings: Settings
) -> None:
    settings.CONVERSION_TRACKING_STRIP_PARAMETERS = True

    assert client.get("/plain/?j=1&sfmc_sub=x&mid=1").status_code == 200


@pytest.mark.django_db
def test_record_clicks_off_keeps_the_session_only(
    client: Client, settings: Settings
) -> None:
    settings.CONVERSION_TRACKING_RECORD_CLICKS = False

    assert shown(client.get(f"/current/?{LANDING}")) == shown_landing()
    assert not ClickThrough.objects.exists()


@pytest.mark.django_db
def test_click_captured_is_sent_with_request_and_tracking(
    client: Client, captured: list[dict[str, Any]]
) -> None:
    response = client.get(f"/plain/?{LANDING}")
    client.get("/plain/?j=x&sfmc_sub=1&mid=1")

    [sent] = captured
    assert sent["sender"] is TrackingSet
    assert sent["request"] is response.wsgi_request
    assert sent["tracking"] == get_tracking(response.wsgi_request)
    assert sent["tracking"].parameters() == LANDING_PARAMETERS


@pytest.mark.django_db
def test_landing_with_use_tz_off(client: Client, settings: Settings) -> None:
    settings.USE_TZ = False

    landing = client.get(f"/current/?{LANDING}")

    assert shown(landing) == shown_landing()
    assert shown(client.get("/current/")) == shown_landing()
    assert ClickThrough.objects.get().captured_at.tzinfo is None


def token_for(captured_at: datetime, **changes: str) -> str:
    return sign(parse({**LANDING_PARAMETERS, **changes}, captured_at=captured_at))


@pytest.mark.django_db
def test_hidden_field_restores_a_lost_set(client: Client) -> None:
    token = token_for(datetime.now(timezone.utc))

    response = client.post("/current/", {HIDDEN_FIELD_NAME: token})

    assert shown(response) == shown_landing()
    assert shown(client.get("/current/")) == shown_landing()
    assert not ClickThrough.objects.exists()


@pytest.mark.django_db
def test_hidden_field_does_not_replace_a_set_in_the_session(client: Client) -> None:
    client.get(f"/plain/?{LANDING}")
    token = token_for(datetime.now(timezone.utc), j="2028000")

    assert shown(client.post("/current/", {HIDDEN_FIELD_NAME: token})) == (
        shown_landing()
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [
        "forged",
        "x" * 5000,
        token_for(datetime.now(timezone.utc) - timedelta(days=8)),
        token_for(datetime.now(timezone.utc), mid="1234567"),
    ],
    ids=["forged", "over-long", "out of window", "mid not allowed"],
)
def test_hidden_field_refuses_bad_tokens(
    client: Client,
    settings: Settings,
    token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.CONVERSION_TRACKING_ALLOWED_MIDS = ["6421787"]

    with caplog.at_level(logging.DEBUG, logger="conversion_tracking"):
        response = client.post("/current/", {HIDDEN_FIELD_NAME: token})

    assert shown(response) == "none"
    [record] = caplog.records
    assert "hidden tracking field" in record.getMessage()


@pytest.mark.django_db
def test_hidden_field_needs_consent(client: Client, settings: Settings) -> None:
    settings.CONVERSION_TRACKING_CONSENT = refuse_consent
    token = token_for(datetime.now(timezone.utc))

    response = client.post("/plain/", {HIDDEN_FIELD_NAME: token})

    assert_session_untouched(response, response.wsgi_request)


@pytest.mark.django_db
def test_hidden_field_in_a_multipart_form(client: Client) -> None:
    token = token_for(datetime.now(timezone.utc))
    data = {HIDDEN_FIELD_NAME: token, "upload": ("note.txt", b"hello")}

    response = client.post("/current/", data)

    assert shown(response) == shown_landing()


def test_hidden_field_in_a_json_body_is_ignored(client: Client) -> None:
    body = {HIDDEN_FIELD_NAME: token_for(datetime.now(timezone.utc))}

    response = client.post("/plain/", body, content_type="application/json")

    assert_session_untouched(response, response.wsgi_request)


@pytest.mark.django_db(transaction=True)
async def test_async_landing(
    async_client: AsyncClient, thread_connections: None
) -> None:
    landing = await async_client.get(f"/async-current/?{LANDING}")
    later = await async_client.get("/async-current/")

    assert shown(landing) == shown_landing()
    assert shown(later) == shown_landing()
    assert await ClickThrough.objects.acount() == 1


@pytest.mark.django_db(transaction=True)
async def test_async_landing_with_strip_parameters(
    async_client: AsyncClient, settings: Settings, thread_connections: None
) -> None:
    settings.CONVERSION_TRACKING_STRIP_PARAMETERS = True

    response = await async_client.get(f"/async-plain/?page=2&{LANDING}")

    assert response.status_code == 302
    assert response["Location"] == "/async-plain/?page=2"


@pytest.mark.parametrize("query", UNRELATED_QUERIES)
async def test_async_requests_without_parameters_leave_the_session_alone(
    async_client: AsyncClient, query: str
) -> None:
    response = await async_client.get(f"/async-plain/?{query}")

    assert shown(response) == "async plain"
    assert_session_untouched(response, response.asgi_request)


def statements(queries: CaptureQueriesContext) -> list[str]:
    """Each query's verb and whether it names the session table."""
    return [
        f"{query['sql'].split()[0].upper()} {'django_session' in query['sql']}"
        for query in queries.captured_queries
    ]


def split_clicks(queries: CaptureQueriesContext) -> tuple[list[str], list[str]]:
    clicks = [
        query["sql"]
        for query in queries.captured_queries
        if "conversion_tracking_clickthrough" in query["sql"]
    ]
    others = [
        f"{query['sql'].split()[0].upper()} {'django_session' in query['sql']}"
        for query in queries.captured_queries
        if "conversion_tracking_clickthrough" not in query["sql"]
    ]
    return clicks, others


@pytest.mark.django_db
@pytest.mark.parametrize("returning", [False, True], ids=["new", "returning"])
@pytest.mark.parametrize(
    "engine",
    [
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
        "django.contrib.sessions.backends.signed_cookies",
    ],
)
def test_a_landing_costs_one_session_save_and_one_insert(
    settings: Settings, engine: str, returning: bool
) -> None:
    settings.SESSION_ENGINE = engine
    baseline_client, landing_client = Client(), Client()
    if returning:
        baseline_client.get("/write-session/")
        landing_client.get("/write-session/")

    with CaptureQueriesContext(connection) as baseline:
        baseline_client.get("/write-session/")
    with CaptureQueriesContext(connection) as landing:
        landing_client.get(f"/plain/?{LANDING}")

    clicks, others = split_clicks(landing)
    assert len(clicks) == 1
    assert clicks[0].lstrip().upper().startswith("INSERT")
    assert others == statements(baseline)
    assert len(landing) == len(baseline) + 1
