"""The example project's own parts: the MCE stand-in, the shop's views, the demo
commands and settings. The journey through them is in tests/browser/."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from example_project.mce_stand_in.models import ReceivedConversion
from example_project.mce_stand_in.pixel import MAX_XML_LENGTH
from example_project.shop.models import Order

pytestmark = [pytest.mark.django_db, pytest.mark.urls("example_project.urls")]

ROOT = Path(__file__).resolve().parent.parent
PIXEL = "/mce-stand-in/conversion.aspx"
XML = (
    "<system><system_name>tracking</system_name><action>conversion</action>"
    "<member_id>6421787</member_id><job_id>2027714</job_id><sub_id>151496521</sub_id>"
    "<list>1940_HTML</list><original_link_id>55981221</original_link_id>"
    "<BatchID>1</BatchID><conversion_link_id>1</conversion_link_id>"
    "<link_alias>Tom &amp; Jerry &lt;3</link_alias><display_order>2</display_order>"
    '<data_set><data amt="49.90" unit="USD" accumulate="true"/>'
    '<data amt="5" unit="EUR" accumulate="false"/></data_set></system>'
)


def pixel_request(client, xml: str):
    return client.get(f"{PIXEL}?xml={quote(xml, safe='')}")


def test_the_stand_in_stores_a_conversion_and_answers_with_a_gif(client) -> None:
    response = pixel_request(client, XML)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert "no-store" in response["Cache-Control"]
    received = ReceivedConversion.objects.get()
    assert (received.member_id, received.job_id, received.sub_id) == (
        "6421787",
        "2027714",
        "151496521",
    )
    assert (received.list_id, received.original_link_id, received.batch_id) == (
        "1940_HTML",
        "55981221",
        "1",
    )
    assert (received.conversion_link_id, received.display_order) == ("1", "2")
    assert received.link_alias == "Tom & Jerry <3"
    assert received.data == [
        {"amt": "49.90", "unit": "USD", "accumulate": "true"},
        {"amt": "5", "unit": "EUR", "accumulate": "false"},
    ]
    assert received.xml == XML


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<system><system_name>tracking</system_name><action>conversion</action>"
    "<link_alias>&lol2;</link_alias></system>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE system [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<system><system_name>tracking</system_name><action>conversion</action>"
    "<link_alias>&x;</link_alias></system>"
)


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        ("<system><job_id>1</job_id>", "not well-formed"),
        ("", "not well-formed"),
        ("<system>\x00</system>", "not well-formed"),
        (BILLION_LAUGHS, "DTD or entities"),
        (EXTERNAL_ENTITY, "DTD or entities"),
        ("<other><action>conversion</action></other>", "not a tracking conversion"),
        (XML.replace("conversion</action>", "click</action>"), "not a tracking"),
        (XML.replace("<job_id>", "<job_id>1</job_id><job_id>"), "more than once"),
        (XML.replace("Tom &amp; Jerry", "x" * 300), "link_alias is longer"),
        (XML.replace('amt="5"', f'amt="{"9" * 300}"'), "amt is longer"),
        (XML + " " * MAX_XML_LENGTH, "longer than 8192"),
    ],
)
def test_the_stand_in_refuses_bad_xml_whole(client, xml: str, reason: str) -> None:
    response = pixel_request(client, xml)

    assert response.status_code == 400
    assert reason in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert not ReceivedConversion.objects.exists()


@pytest.mark.parametrize("query", ["", "?xml=a&xml=b", "?other=1"])
def test_the_stand_in_needs_exactly_one_xml_parameter(client, query: str) -> None:
    response = client.get(PIXEL + query)

    assert response.status_code == 400
    assert b"exactly one xml parameter" in response.content
    assert not ReceivedConversion.objects.exists()


def test_the_stand_in_answers_only_get(client) -> None:
    assert client.post(PIXEL, {"xml": XML}).status_code == 405
    assert not ReceivedConversion.objects.exists()


def test_the_stand_in_lists_what_it_received_escaped(client) -> None:
    pixel_request(
        client, XML.replace("Tom &amp; Jerry &lt;3", "&lt;b&gt;bold&lt;/b&gt;")
    )

    page = client.get("/mce-stand-in/").content.decode()

    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<b>bold</b>" not in page
    assert "49.90 USD (accumulate)" in page


def test_the_email_link_redirects_without_its_query_after_capture(client) -> None:
    response = client.get("/go/winter-sale/?j=1&sfmc_sub=2&mid=3&utm_source=news")

    assert response.status_code == 302
    assert response["Location"] == "/offer/"
    assert "Job (j)</dt><dd>1</dd>" in client.get("/offer/").content.decode()


def test_an_unplaced_order_has_no_thank_you_page_yet(client) -> None:
    client.post("/offer/", {"plan": "filter", "quantity": "2"})
    order = Order.objects.get()

    response = client.get(f"/checkout/{order.reference}/thanks/")

    assert str(order.total) == "45.00"
    assert response["Location"] == f"/checkout/{order.reference}/"


def test_a_placed_order_goes_to_its_thank_you_page(client) -> None:
    client.post("/offer/", {"plan": "sampler", "quantity": "1"})
    reference = Order.objects.get().reference
    client.post(f"/checkout/{reference}/", {"name": "Grace"})

    response = client.get(f"/checkout/{reference}/")

    assert response["Location"] == f"/checkout/{reference}/thanks/"
    assert Order.objects.get().is_placed


@pytest.mark.parametrize("data", [{"plan": "beer", "quantity": "1"}, {"quantity": "9"}])
def test_an_invalid_plan_form_shows_errors_and_creates_nothing(client, data) -> None:
    response = client.post("/offer/", data)

    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert not Order.objects.exists()


def test_ending_the_session_forgets_the_tracking_set(client) -> None:
    client.get("/offer/?j=1&sfmc_sub=2&mid=3")

    response = client.post("/session/end/")

    assert response["Location"] == "/session/ended/"
    assert b"holds no tracking set" in client.get("/session/ended/").content


@pytest.mark.parametrize(("choice", "stored"), [("yes", "yes"), ("maybe", None)])
def test_the_cookie_page_records_only_a_clear_choice(client, choice, stored) -> None:
    client.post("/privacy/", {"marketing": choice})

    cookie = client.cookies.get("marketing_consent")
    assert (cookie.value if cookie else None) == stored


def test_demo_admin_creates_then_resets_the_admin_user() -> None:
    first, second = StringIO(), StringIO()

    call_command("demo_admin", stdout=first)
    call_command("demo_admin", stdout=second)

    user = get_user_model().objects.get()
    password = second.getvalue().rsplit("Password: ", 1)[1].strip()
    assert first.getvalue().startswith("Created")
    assert second.getvalue().startswith("Reset the password")
    assert password not in first.getvalue()
    assert user.is_superuser
    assert user.check_password(password)


def run_demo_check(pixel_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONVERSION_TRACKING_PIXEL_URL": pixel_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_demo_silences_the_https_check_only_for_a_local_stand_in() -> None:
    local = run_demo_check("http://127.0.0.1:8000/mce-stand-in/conversion.aspx")
    remote = run_demo_check("http://click.exacttarget.com/conversion.aspx")

    assert local.returncode == 0, local.stderr
    assert "1 silenced" in local.stdout
    assert remote.returncode != 0
    assert "conversion_tracking.E003" in remote.stderr
