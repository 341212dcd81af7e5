from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.core import signing
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from conversion_tracking import pixel
from conversion_tracking.capture import HIDDEN_FIELD_NAME
from conversion_tracking.models import Conversion
from conversion_tracking.pixel_arguments import conversion_arguments
from conversion_tracking.templatetags.conversion_tracking import PIXEL_STYLE
from conversion_tracking.tracking import SIGNING_SALT, TrackingSet, sign, unsign
from tests import urls as test_urls
from tests.fire_support import LANDING, make_request, make_tracking

pytestmark = pytest.mark.django_db

BASE = "https://click.exacttarget.com/conversion.aspx"
THANKS = (
    "{% load conversion_tracking %}<h1>Thanks</h1>"
    '{% conversion_pixel alias="Order" amount=total unit="USD" accumulate=True '
    "reference=reference %}"
)
FORM = "{% load conversion_tracking %}<form>{% conversion_hidden_fields %}</form>"


def render(source: str, request: HttpRequest | None, **context: Any) -> str:
    if request is not None:
        context["request"] = request
    return Template(source).render(Context(context))


def thanks(request: HttpRequest) -> HttpResponse:
    reference = request.GET.get("order", "")
    context = {"request": request, "total": Decimal("49.90"), "reference": reference}
    return HttpResponse(Template(THANKS).render(Context(context)))


def form(request: HttpRequest) -> HttpResponse:
    return HttpResponse(Template(FORM).render(Context({"request": request})))


urlpatterns = [*test_urls.urlpatterns, path("thanks/", thanks), path("form/", form)]
uses_this_urlconf = pytest.mark.urls(__name__)


def expected_img(url: str) -> str:
    return (
        f'<img src="{url.replace("&", "&amp;")}" width="1" height="1" alt="" '
        f'style="{PIXEL_STYLE}">'
    )


# Hidden fields


def test_hidden_fields_render_one_signed_field() -> None:
    tracking = make_tracking()

    html = render(
        "{% load conversion_tracking %}{% conversion_hidden_fields %}",
        make_request(tracking),
    )

    match = re.fullmatch(
        rf'<input type="hidden" name="{HIDDEN_FIELD_NAME}" value="([^"<>&]+)">', html
    )
    assert match is not None
    assert unsign(match.group(1), max_age=timedelta(days=7)) == tracking


def test_raw_hidden_fields_render_six_plain_inputs() -> None:
    request = make_request(make_tracking())

    html = render(
        "{% load conversion_tracking %}{% conversion_hidden_fields raw=True %}", request
    )

    assert html == (
        '<input type="hidden" name="j" value="2027714">'
        '<input type="hidden" name="sfmc_sub" value="151496521">'
        '<input type="hidden" name="l" value="1940_HTML">'
        '<input type="hidden" name="u" value="55981221">'
        '<input type="hidden" name="mid" value="6421787">'
        '<input type="hidden" name="jb" value="1">'
    )


def test_raw_hidden_fields_leave_absent_values_empty() -> None:
    request = make_request(make_tracking(l=None, u=None, jb=None))

    html = render(
        "{% load conversion_tracking %}{% conversion_hidden_fields raw=True %}", request
    )

    assert html == (
        '<input type="hidden" name="j" value="2027714">'
        '<input type="hidden" name="sfmc_sub" value="151496521">'
        '<input type="hidden" name="l" value="">'
        '<input type="hidden" name="u" value="">'
        '<input type="hidden" name="mid" value="6421787">'
        '<input type="hidden" name="jb" value="">'
    )


@pytest.mark.parametrize("raw", ["", " raw=True"])
def test_hidden_fields_render_nothing_without_a_set(raw: str) -> None:
    source = f"{{% load conversion_tracking %}}[{{% conversion_hidden_fields{raw} %}}]"

    assert render(source, make_request()) == "[]"


def test_hidden_fields_render_nothing_without_consent(
    settings: SettingsWrapper,
) -> None:
    settings.CONVERSION_TRACKING_CONSENT = lambda request: False

    assert render(FORM, make_request(make_tracking())) == "<form></form>"


# The signed field read back by the middleware


def signed_field_from_a_landing() -> str:
    landing = Client()
    landing.get("/plain/", LANDING)
    html = landing.get("/form/").content.decode()
    match = re.search(r'value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


@uses_this_urlconf
def test_signed_field_restores_the_set_into_a_fresh_session() -> None:
    token = signed_field_from_a_landing()
    fresh = Client()

    response = fresh.post("/current/", {HIDDEN_FIELD_NAME: token})

    assert response.status_code == 200
    assert response.content.decode() == repr(LANDING)
    assert fresh.get("/current/").content.decode() == repr(LANDING)


@uses_this_urlconf
def test_the_restored_set_fires_the_pixel_after_the_session_was_lost() -> None:
    token = signed_field_from_a_landing()
    fresh = Client()
    fresh.post("/current/", {HIDDEN_FIELD_NAME: token})

    html = fresh.get("/thanks/").content.decode()

    assert html == "<h1>Thanks</h1>" + expected_img(Conversion.objects.get().pixel_url)


def old_token(tracking: TrackingSet, age: timedelta) -> str:
    class PastSigner(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time() - age.total_seconds()))

    signer = PastSigner(salt=SIGNING_SALT)
    return signer.sign_object(tracking.to_payload(), compress=True)


@uses_this_urlconf
@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            lambda: sign(make_tracking())[:-2] + "xx", id="tampered-signature"
        ),
        pytest.param(lambda: "x" + sign(make_tracking())[1:], id="tampered-payload"),
        pytest.param(
            lambda: old_token(make_tracking(), timedelta(days=8)),
            id="signed-too-long-ago",
        ),
        pytest.param(
            lambda: sign(
                make_tracking(
                    captured_at=make_tracking().captured_at - timedelta(days=8)
                )
            ),
            id="click-too-old",
        ),
        pytest.param(lambda: "not-a-token", id="malformed"),
        pytest.param(lambda: "a" * 5000, id="too-long"),
        pytest.param(lambda: "é€\U0001f600:1:2", id="non-ascii"),
        pytest.param(lambda: signing.dumps(["x"], salt=SIGNING_SALT), id="bad-payload"),
        pytest.param(lambda: signing.dumps(LANDING), id="other-salt"),
    ],
)
def test_bad_hidden_fields_are_ignored_never_a_500(token: Any) -> None:
    fresh = Client()

    response = fresh.post("/current/", {HIDDEN_FIELD_NAME: token()})

    assert response.status_code == 200
    assert response.content.decode() == "none"


def test_old_token_helper_makes_a_token_that_would_otherwise_be_accepted() -> None:
    tracking = make_tracking()

    assert (
        unsign(old_token(tracking, timedelta(days=1)), max_age=timedelta(days=7))
        == tracking
    )


# Outgoing URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://checkout.example.com/cart/",
            "https://checkout.example.com/cart/?j=2027714&amp;sfmc_sub=151496521"
            "&amp;l=1940_HTML&amp;u=55981221&amp;mid=6421787&amp;jb=1",
        ),
        (
            "https://checkout.example.com/cart/?item=a%20b&j=1&mid=9#pay",
            "https://checkout.example.com/cart/?item=a%20b&amp;j=2027714"
            "&amp;sfmc_sub=151496521&amp;l=1940_HTML&amp;u=55981221&amp;mid=6421787"
            "&amp;jb=1#pay",
        ),
        (
            '/local/?q="<x>"',
            "/local/?q=&quot;&lt;x&gt;&quot;&amp;j=2027714&amp;sfmc_sub=151496521"
            "&amp;l=1940_HTML&amp;u=55981221&amp;mid=6421787&amp;jb=1",
        ),
    ],
)
def test_conversion_url_tag_and_filter_add_the_parameters(
    url: str, expected: str
) -> None:
    request = make_request(make_tracking())
    tag = "{% load conversion_tracking %}{% conversion_url url %}"
    filtered = (
        "{% load conversion_tracking %}{{ url|with_conversion_tracking:request }}"
    )

    assert render(tag, request, url=url) == expected
    assert render(filtered, request, url=url) == expected


def test_conversion_url_with_a_literal_and_no_set_is_the_url_escaped() -> None:
    source = (
        "{% load conversion_tracking %}"
        '{% conversion_url "https://x.example/?a=1&b=2" %}'
    )

    assert render(source, make_request()) == "https://x.example/?a=1&amp;b=2"
    assert unescape(render(source, make_request(make_tracking()))).startswith(
        "https://x.example/?a=1&b=2&j=2027714&"
    )


def test_filter_without_a_request_keeps_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = "{% load conversion_tracking %}{{ url|with_conversion_tracking:other }}"

    with caplog.at_level(logging.WARNING):
        html = render(source, None, url="https://x.example/", other="x")

    assert html == "https://x.example/"
    assert "needs the request as its argument" in caplog.text


def test_malformed_url_is_kept_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    source = "{% load conversion_tracking %}{% conversion_url url %}"

    with caplog.at_level(logging.WARNING):
        html = render(source, make_request(make_tracking()), url="https://[::1/")

    assert html == "https://[::1/"
    assert "malformed URL" in caplog.text


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("{% conversion_url url %}", "https://[::1/"),
        ("{{ url|with_conversion_tracking:other }}", "https://x.example/"),
        ("{% conversion_url url %}", "https://x.example/"),
    ],
)
def test_url_misuse_raises_in_debug(
    settings: SettingsWrapper, source: str, url: str
) -> None:
    settings.DEBUG = True
    request = make_request(make_tracking()) if "[" in url else None

    with pytest.raises(TemplateSyntaxError):
        render("{% load conversion_tracking %}" + source, request, url=url, other="x")


# The pixel


def test_pixel_renders_one_exact_img_and_fires_once() -> None:
    tracking = make_tracking()
    request = make_request(tracking)
    context = {"total": Decimal("49.90"), "reference": "A-1"}

    html = render(THANKS, request, **context)

    arguments = conversion_arguments(
        alias="Order", amount=Decimal("49.90"), unit="USD", accumulate=True
    )
    url = pixel.pixel_url(tracking, arguments, base_url=BASE)
    assert html == "<h1>Thanks</h1>" + expected_img(url)
    assert Conversion.objects.get().reference == "A-1"
    assert render(THANKS, request, **context) == "<h1>Thanks</h1>"


def test_pixel_escapes_a_configured_query(settings: SettingsWrapper) -> None:
    settings.CONVERSION_TRACKING_PIXEL_URL = BASE + "?brand=1"
    source = "{% load conversion_tracking %}{% conversion_pixel link_id=2 %}"

    html = render(source, make_request(make_tracking()))

    assert html.startswith(f'<img src="{BASE}?brand=1&amp;xml=%3Csystem%3E')
    assert html == expected_img(Conversion.objects.get().pixel_url)


def test_pixel_with_data_items_from_the_context() -> None:
    source = "{% load conversion_tracking %}{% conversion_pixel data=lines %}"
    lines = [{"amt": Decimal("10.00"), "unit": "USD"}, {"amt": 2, "unit": "EUR"}]

    render(source, make_request(make_tracking()), lines=lines)

    assert Conversion.objects.get().data == [
        {"amt": "10.00", "unit": "USD", "accumulate": False},
        {"amt": "2", "unit": "EUR", "accumulate": False},
    ]


@uses_this_urlconf
def test_refresh_renders_nothing_and_a_new_order_fires_again() -> None:
    client = Client()
    client.get("/plain/", LANDING)

    first = client.get("/thanks/", {"order": "1001"}).content.decode()
    refresh = client.get("/thanks/", {"order": "1001"}).content.decode()
    second = client.get("/thanks/", {"order": "1002"}).content.decode()

    rows = {row.reference: row for row in Conversion.objects.all()}
    assert set(rows) == {"1001", "1002"}
    assert first == "<h1>Thanks</h1>" + expected_img(rows["1001"].pixel_url)
    assert refresh == "<h1>Thanks</h1>"
    assert second == "<h1>Thanks</h1>" + expected_img(rows["1002"].pixel_url)


def test_pixel_renders_nothing_without_a_set_or_consent(
    settings: SettingsWrapper, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(0):
        assert render(THANKS, make_request(), total=1) == "<h1>Thanks</h1>"
    settings.CONVERSION_TRACKING_CONSENT = lambda request: False
    with django_assert_num_queries(0):
        assert (
            render(THANKS, make_request(make_tracking()), total=1) == "<h1>Thanks</h1>"
        )

    assert not Conversion.objects.exists()


BAD_PIXELS = [
    ('alias="' + "a" * 101 + '"', "alias: 101 characters"),
    ("link_id=0", "link_id: must lie between"),
    ('display_order="first"', "display_order: not a positive integer"),
    ('amount="ten"', "amount: not a plain decimal"),
    ("reference=items", "reference: not a string"),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_PIXELS)
def test_bad_pixel_arguments_raise_in_debug(
    settings: SettingsWrapper, arguments: str, message: str
) -> None:
    settings.DEBUG = True
    source = f"{{% load conversion_tracking %}}{{% conversion_pixel {arguments} %}}"

    with pytest.raises(TemplateSyntaxError, match=message):
        render(source, make_request(), items=[1])


@pytest.mark.parametrize(("arguments", "message"), BAD_PIXELS)
def test_bad_pixel_arguments_log_and_render_nothing_in_production(
    caplog: pytest.LogCaptureFixture, arguments: str, message: str
) -> None:
    source = f"{{% load conversion_tracking %}}[{{% conversion_pixel {arguments} %}}]"

    with caplog.at_level(logging.WARNING, "conversion_tracking"):
        assert render(source, make_request(make_tracking()), items=[1]) == "[]"

    assert re.search(message, caplog.text)
    assert not Conversion.objects.exists()


def test_an_unknown_pixel_argument_is_a_syntax_error() -> None:
    with pytest.raises(TemplateSyntaxError, match="unexpected keyword argument 'amt'"):
        Template("{% load conversion_tracking %}{% conversion_pixel amt=5 %}")


@pytest.mark.parametrize(
    "tag", ["conversion_pixel", "conversion_hidden_fields", 'conversion_url "/x/"']
)
def test_tags_without_the_request_in_context(
    settings: SettingsWrapper, caplog: pytest.LogCaptureFixture, tag: str
) -> None:
    source = f"{{% load conversion_tracking %}}[{{% {tag} %}}]"

    with caplog.at_level(logging.WARNING, "conversion_tracking"):
        html = render(source, None)

    assert html == ("[/x/]" if "url" in tag else "[]")
    assert "context_processors.request" in caplog.text
    settings.DEBUG = True
    with pytest.raises(TemplateSyntaxError, match="needs the request"):
        render(source, None)


# Query counts


def test_a_page_without_the_pixel_makes_no_query(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    source = (
        "{% load conversion_tracking %}<form>{% conversion_hidden_fields %}"
        "{% conversion_hidden_fields raw=True %}</form>"
        '<a href="{% conversion_url "https://x.example/" %}">x</a>'
    )

    with django_assert_num_queries(0):
        render(source, make_request(make_tracking()))


def test_pixel_queries_fire_then_lookup_only() -> None:
    request = make_request(make_tracking())

    with CaptureQueriesContext(connection) as first:
        render(THANKS, request, total=5)
    with CaptureQueriesContext(connection) as again:
        render(THANKS, request, total=5)

    inserts = [query for query in first.captured_queries if "INSERT" in query["sql"]]
    assert len(inserts) == 1
    assert len(first.captured_queries) == 4  # lookup, SAVEPOINT, INSERT, RELEASE
    assert len(again.captured_queries) == 1
    assert again.captured_queries[0]["sql"].startswith("SELECT")


def test_url_output_is_raw_when_autoescape_is_off() -> None:
    source = (
        "{% load conversion_tracking %}{% autoescape off %}"
        "{% conversion_url url %} {{ url|with_conversion_tracking:request }}"
        "{% endautoescape %}"
    )

    html = render(
        source, make_request(make_tracking(l=None, u=None, jb=None)), url="/a/?%6A=9"
    )

    expected = "/a/?j=2027714&sfmc_sub=151496521&mid=6421787"
    assert html == f"{expected} {expected}"
