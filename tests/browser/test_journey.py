"""The whole journey in a real browser: email click, checkout, one pixel.

Database queries stay outside the ``with browse()`` blocks (see conftest.py).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

import pytest
from defusedxml.ElementTree import fromstring
from django.contrib.auth import get_user_model
from playwright.sync_api import Page

from conversion_tracking.models import ClickThrough, Conversion
from example_project.mce_stand_in.models import ReceivedConversion
from example_project.shop.models import Order
from tests.factories import LANDING_PARAMETERS as CLICK

pytestmark = [pytest.mark.browser, pytest.mark.urls("example_project.urls")]

EMAIL_LINK = "/go/winter-sale/?" + urlencode(CLICK)
ADMIN_PASSWORD = "a-long-demo-password"
EXPECTED_ELEMENTS = [
    ("system_name", "tracking"),
    ("action", "conversion"),
    ("member_id", "6421787"),
    ("job_id", "2027714"),
    ("sub_id", "151496521"),
    ("list", "1940_HTML"),
    ("original_link_id", "55981221"),
    ("BatchID", "1"),
    ("conversion_link_id", "1"),
    ("link_alias", "Order"),
    ("display_order", "1"),
    ("data_set", None),
]
# Two bags of espresso beans at 24.00 a month.
EXPECTED_DATA = [{"amt": "48.00", "unit": "USD", "accumulate": "true"}]


def choose_plan(page: Page, plan: str = "espresso", quantity: int = 2) -> None:
    page.select_option("#id_plan", plan)
    page.fill("#id_quantity", str(quantity))
    page.click("#plan-form button[type=submit]")
    page.wait_for_url(re.compile(r"/checkout/KC-[0-9A-F]{8}/$"))


def place_order(page: Page, name: str = "Ada Lovelace") -> None:
    page.fill("#id_name", name)
    page.click("#details-form button[type=submit]")
    page.wait_for_url(re.compile(r"/thanks/$"))
    page.wait_for_load_state("networkidle")


def demo_panel(page: Page) -> str:
    return page.locator("#demo-panel").inner_text()


def xml_parts(xml: str) -> tuple[list[tuple[str, str | None]], list[dict[str, str]]]:
    root = fromstring(xml, forbid_dtd=True)
    assert root.tag == "system"
    elements = [(child.tag, child.text) for child in root]
    data = [dict(item.attrib) for item in root.iterfind("data_set/data")]
    return elements, data


def test_an_email_click_converts_with_exactly_one_pixel(browse) -> None:
    get_user_model().objects.create_superuser("admin", password=ADMIN_PASSWORD)

    with browse() as visit:
        page = visit.page
        page.goto(EMAIL_LINK)
        assert urlsplit(page.url)[2:4] == ("/offer/", ""), (
            "the redirect drops the query"
        )
        assert "Job (j)\n2027714" in demo_panel(page)
        visit.screenshot("landing")

        choose_plan(page)
        assert urlsplit(page.url).query == ""
        assert page.locator("input[name=_conversion_tracking]").count() == 1

        other_tab = visit.context.new_page()
        other_tab.goto("/session/end/")
        other_tab.click("#end-session-form button")
        other_tab.wait_for_url(re.compile(r"/session/ended/$"))
        other_tab.goto("/")
        assert "holds no tracking set" in demo_panel(other_tab)
        other_tab.close()

        place_order(page)
        visit.screenshot("thank-you")
        assert page.locator("h1").inner_text() == "Thank you, Ada Lovelace!"
        assert "151496521" in demo_panel(page), "the hidden field brought the set back"
        pixels = visit.pixel_requests()
        assert len(pixels) == 1
        pixel_url = pixels[0].url
        response = pixels[0].response()
        assert response is not None
        assert response.status == 200
        assert response.header_value("content-type") == "image/gif"
        assert "no-store" in (response.header_value("cache-control") or "")
        [xml] = visit.pixel_xml()

        page.reload()
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").inner_text() == "Thank you, Ada Lovelace!"
        assert page.locator("img[src*='conversion.aspx']").count() == 0
        assert len(visit.pixel_requests()) == 1, "a reload fires nothing"

        page.goto("/mce-stand-in/")
        visit.screenshot("mce-stand-in")
        page.goto("/admin/login/?next=/admin/conversion_tracking/conversion/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", ADMIN_PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(re.compile(r"/admin/conversion_tracking/conversion/$"))
        assert page.locator("#result_list tbody tr").count() == 1
        page.set_viewport_size({"width": 1600, "height": 900})
        visit.screenshot("admin-conversions")
        assert visit.dialogs == []

    assert re.search(r">\s+<", xml) is None
    assert xml_parts(xml) == (EXPECTED_ELEMENTS, EXPECTED_DATA)
    order = Order.objects.get()
    conversion = Conversion.objects.get()
    received = ReceivedConversion.objects.get()
    assert ClickThrough.objects.count() == 1
    assert conversion.pixel_url == pixel_url
    assert (conversion.reference, conversion.alias, conversion.link_id) == (
        order.reference,
        "Order",
        1,
    )
    assert conversion.data == [{"amt": "48.00", "unit": "USD", "accumulate": True}]
    assert conversion.path == f"/checkout/{order.reference}/thanks/"
    mirrored = {
        "member_id": str(conversion.member_id),
        "job_id": str(conversion.job_id),
        "sub_id": str(conversion.subscriber_id),
        "list_id": conversion.list_id,
        "original_link_id": str(conversion.url_id),
        "batch_id": str(conversion.batch_id),
        "conversion_link_id": str(conversion.link_id),
        "link_alias": conversion.alias,
        "display_order": str(conversion.display_order),
    }
    assert {name: getattr(received, name) for name in mirrored} == mirrored
    assert mirrored["job_id"] == CLICK["j"]
    assert mirrored["sub_id"] == CLICK["sfmc_sub"]
    assert received.xml == xml
    assert received.data == EXPECTED_DATA


def test_a_visitor_without_parameters_converts_without_a_pixel(browse) -> None:
    with browse() as visit:
        visit.page.goto("/offer/")
        assert "holds no tracking set" in demo_panel(visit.page)
        assert visit.page.locator("input[name=_conversion_tracking]").count() == 0
        choose_plan(visit.page)
        place_order(visit.page)
        assert visit.page.locator("h1").inner_text() == "Thank you, Ada Lovelace!"
        assert visit.pixel_requests() == []

    assert Order.objects.get().is_placed
    assert not Conversion.objects.exists()
    assert not ReceivedConversion.objects.exists()
    assert not ClickThrough.objects.exists()


@pytest.mark.parametrize(("choice", "pixels"), [("yes", 1), ("no", 0)])
def test_the_consent_callable_decides_whether_anything_is_sent(
    browse, settings, choice: str, pixels: int
) -> None:
    settings.CONVERSION_TRACKING_CONSENT = (
        "example_project.shop.consent.marketing_cookies_accepted"
    )

    with browse() as visit:
        page = visit.page
        page.goto("/privacy/")
        page.click(f"#consent-form button[value={choice}]")
        page.wait_for_load_state("load")
        expected = {"yes": "accepted", "no": "declined"}[choice]
        assert page.locator("#consent-choice").inner_text() == expected
        page.goto(EMAIL_LINK)
        choose_plan(page)
        place_order(page)
        assert len(visit.pixel_requests()) == pixels

    assert Order.objects.get().is_placed
    assert Conversion.objects.count() == pixels
    assert ReceivedConversion.objects.count() == pixels
    assert ClickThrough.objects.count() == pixels


HOSTILE_CLICKS = {
    "markup in an ID": {**CLICK, "j": "<script>alert(1)</script>"},
    "attribute breakout in the list ID": {
        **CLICK,
        "l": '1940_HTML"><img src=x onerror=alert(2)>',
    },
    "XML in the list ID": {**CLICK, "l": "1940</list><sub_id>1</sub_id><list>"},
    "an encoded & smuggling a parameter": {**CLICK, "j": "2027714&sfmc_sub=1"},
    "Arabic-Indic digits": {
        **CLICK,
        "sfmc_sub": "\u0661\u0665\u0661\u0664\u0669\u0666",
    },
    "quotes": {**CLICK, "u": "55981221'\""},
}
# The same parameter twice with different values: only a raw query can say it.
REPEATED = "j=2027714&sfmc_sub=1&sfmc_sub=2&mid=6421787"


def test_hostile_landing_parameters_change_nothing(browse) -> None:
    landings = {name: urlencode(click) for name, click in HOSTILE_CLICKS.items()}
    landings["a repeated parameter"] = REPEATED

    with browse() as visit:
        page = visit.page
        page.goto(EMAIL_LINK)
        for name, query in landings.items():
            page.goto(f"/offer/?{query}")
            html = page.content()
            panel = demo_panel(page)
            assert "Subscriber (sfmc_sub)\n151496521" in panel, name
            assert "Job (j)\n2027714" in panel, name
            for marker in ("<script>alert", "onerror=alert", "</list><sub_id>"):
                assert marker not in html, name
        choose_plan(page)
        place_order(page)
        assert visit.dialogs == []
        [xml] = visit.pixel_xml()

    assert xml_parts(xml) == (EXPECTED_ELEMENTS, EXPECTED_DATA)
    assert ClickThrough.objects.count() == 1
    assert Conversion.objects.get().subscriber_id == int(CLICK["sfmc_sub"])
    assert ReceivedConversion.objects.get().xml == xml
