from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from conversion_tracking.admin.mirror import csv_cell, indent_xml, pixel_xml
from conversion_tracking.models import ClickThrough, Conversion, Verification
from conversion_tracking.pixel import pixel_url
from conversion_tracking.pixel_arguments import conversion_arguments
from tests.factories import ClickThroughFactory, ConversionFactory
from tests.fire_support import make_tracking

pytestmark = pytest.mark.django_db

BASE = "https://click.exacttarget.com/conversion.aspx"
CONVERSIONS = "admin:conversion_tracking_conversion_changelist"
CLICKS = "admin:conversion_tracking_clickthrough_changelist"


def hostile_conversion(**fields: object) -> Conversion:
    arguments = conversion_arguments(alias="Sale & <b>", amount="49.90", unit="USD")
    url = pixel_url(make_tracking(), arguments, base_url=BASE)
    defaults: dict[str, object] = {
        "alias": "Sale & <b>",
        "pixel_url": url,
        "data": [{"amt": "49.90", "unit": "USD", "accumulate": False}],
    }
    conversion: Conversion = ConversionFactory(**{**defaults, **fields})
    return conversion


def staff_client(*permissions: str) -> Client:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer() -> Client:
    return staff_client("view_conversion", "view_clickthrough")


def test_indent_xml_lays_the_document_out_one_element_per_line() -> None:
    xml = (
        "<system><system_name>tracking</system_name><link_alias>a &amp; b</link_alias>"
        '<list></list><data_set><data amt="1" accumulate="false"/></data_set></system>'
    )

    assert indent_xml(xml) == (
        "<system>\n"
        "  <system_name>tracking</system_name>\n"
        "  <link_alias>a &amp; b</link_alias>\n"
        "  <list></list>\n"
        "  <data_set>\n"
        '    <data amt="1" accumulate="false"/>\n'
        "  </data_set>\n"
        "</system>"
    )


def test_indent_xml_survives_text_that_is_not_the_pixel_document() -> None:
    assert indent_xml("") == ""
    assert indent_xml("plain") == "plain"
    assert indent_xml("</a></b>x<c>") == "</a>\n</b>\nx\n<c>"


def test_pixel_xml_reads_the_xml_parameter() -> None:
    assert pixel_xml(BASE + "?a=1&xml=%3Cx%3E%26amp%3B%3C%2Fx%3E") == "<x>&amp;</x>"
    assert pixel_xml(BASE + "?a=1") == ""


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Signup", "Signup"),
        (-5, -5),
        (None, ""),
        (datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc), "2026-01-02T03:04:00+00:00"),
        ([{"amt": "1"}], '[{"amt": "1"}]'),
    ],
)
def test_csv_cells_never_start_a_formula(value: object, cell: object) -> None:
    assert csv_cell(value) == cell


def test_superuser_sees_the_list_and_the_readable_detail(admin_client: Client) -> None:
    conversion = hostile_conversion(reference="ORDER-1")

    listing = admin_client.get(reverse(CONVERSIONS)).content.decode()
    detail = admin_client.get(
        reverse("admin:conversion_tracking_conversion_change", args=[conversion.pk])
    ).content.decode()

    assert "Sale &amp; &lt;b&gt;" in listing
    assert "49.90 USD" in listing
    assert "ORDER-1" in listing
    assert "<pre>&lt;system&gt;\n  &lt;system_name&gt;tracking" in detail
    assert (
        "&lt;link_alias&gt;Sale &amp;amp; &amp;lt;b&amp;gt;&lt;/link_alias&gt;"
        in detail
    )
    assert conversion.pixel_url.replace("&", "&amp;") in detail
    assert f'href="{conversion.pixel_url}' not in detail
    assert 'name="_save"' not in detail


@pytest.mark.parametrize("model", ["conversion", "clickthrough"])
def test_nobody_adds_or_changes_mirror_rows(admin_client: Client, model: str) -> None:
    row = hostile_conversion() if model == "conversion" else ClickThroughFactory()
    change = reverse(f"admin:conversion_tracking_{model}_change", args=[row.pk])

    assert (
        admin_client.get(reverse(f"admin:conversion_tracking_{model}_add")).status_code
        == 403
    )
    assert (
        admin_client.post(change, {"alias": "changed", "path": "/x/"}).status_code
        == 403
    )
    row.refresh_from_db()
    assert getattr(row, "alias", "Sale & <b>") == "Sale & <b>"


def test_superuser_may_delete_for_erasure_requests(admin_client: Client) -> None:
    conversion = hostile_conversion()
    delete = reverse(
        "admin:conversion_tracking_conversion_delete", args=[conversion.pk]
    )

    response = admin_client.post(delete, {"post": "yes"})

    assert response.status_code == 302
    assert not Conversion.objects.exists()


def test_view_only_staff_can_look_but_not_delete(viewer: Client) -> None:
    conversion = hostile_conversion()
    click = ClickThroughFactory(path="/offer/")

    assert viewer.get(reverse(CONVERSIONS)).status_code == 200
    assert viewer.get(reverse(CLICKS)).status_code == 200
    detail = viewer.get(
        reverse("admin:conversion_tracking_conversion_change", args=[conversion.pk])
    )
    assert detail.status_code == 200
    assert "&lt;data_set&gt;" in detail.content.decode()
    click_detail = viewer.get(
        reverse("admin:conversion_tracking_clickthrough_change", args=[click.pk])
    )
    assert "/offer/" in click_detail.content.decode()
    delete = reverse(
        "admin:conversion_tracking_conversion_delete", args=[conversion.pk]
    )
    assert viewer.post(delete, {"post": "yes"}).status_code == 403
    assert Conversion.objects.count() == 1


def test_staff_without_view_permission_is_refused() -> None:
    client = staff_client()

    assert client.get(reverse(CONVERSIONS)).status_code == 403
    assert client.get(reverse(CLICKS)).status_code == 403


def test_non_staff_and_anonymous_users_are_sent_to_the_login() -> None:
    user = User.objects.create_user("visitor", password="pw")
    member = Client()
    member.force_login(user)

    for client in (member, Client()):
        response = client.get(reverse(CONVERSIONS))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"verification": "confirmed"}, {"confirmed"}),
        ({"verification": "missing"}, {"missing"}),
        ({"verification": "pending"}, {"pending"}),
        ({"verification": "no such status"}, {"pending", "confirmed", "missing"}),
        ({"alias": "Signup"}, {"pending", "confirmed"}),
        ({"alias": "Order"}, {"missing"}),
        ({"member_id": "999"}, {"missing"}),
        ({"job_id": "111"}, {"pending"}),
        ({"created_at__year": "2026", "created_at__month": "11"}, {"pending"}),
        ({"q": "111"}, {"pending"}),
        ({"q": "222"}, {"confirmed"}),
        ({"q": "order-9"}, {"missing"}),
        ({"q": "no such thing"}, set()),
        ({"q": "9" * 30}, set()),
        ({"q": "  "}, {"pending", "confirmed", "missing"}),
    ],
)
def test_conversion_filters_and_search(
    viewer: Client, query: dict[str, str], expected: set[str]
) -> None:
    november = datetime(2026, 11, 26, 15, 4, tzinfo=timezone.utc)
    ConversionFactory(
        job_id=111, verification=Verification.PENDING, created_at=november
    )
    ConversionFactory(
        subscriber_id=222,
        verification=Verification.CONFIRMED,
        created_at=datetime(2026, 12, 1, tzinfo=timezone.utc),
    )
    ConversionFactory(
        member_id=999,
        alias="Order",
        reference="ORDER-9",
        verification=Verification.MISSING,
        created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
    )

    response = viewer.get(reverse(CONVERSIONS), query)

    assert response.status_code == 200
    shown = {row.verification for row in response.context["cl"].result_list}
    assert shown == expected


def test_clickthrough_search_by_job_and_subscriber(viewer: Client) -> None:
    ClickThroughFactory(job_id=111, subscriber_id=5)
    ClickThroughFactory(job_id=333, subscriber_id=111)
    ClickThroughFactory(job_id=444, subscriber_id=6)

    response = viewer.get(reverse(CLICKS), {"q": "111"})
    text_search = viewer.get(reverse(CLICKS), {"q": "abc"})

    assert {row.job_id for row in response.context["cl"].result_list} == {111, 333}
    assert list(text_search.context["cl"].result_list) == []


def export(client: Client, url: str, rows: list[int]) -> list[list[str]]:
    response = client.post(
        url, {"action": "export_csv", "_selected_action": [str(pk) for pk in rows]}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_view_only_staff_exports_conversions_as_csv(viewer: Client) -> None:
    fired = datetime(2026, 11, 26, 15, 4, 5, tzinfo=timezone.utc)
    chosen = hostile_conversion(
        alias="=cmd|' /C calc'!A0",
        reference="-2+3",
        created_at=fired,
        clicked_at=fired,
        batch_id=None,
    )
    hostile_conversion()

    rows = export(viewer, reverse(CONVERSIONS), [chosen.pk])

    assert rows[0] == [
        "id", "created_at", "member_id", "job_id", "subscriber_id", "list_id",
        "url_id", "batch_id", "clicked_at", "link_id", "alias", "display_order",
        "data", "reference", "path", "verification", "recorded_at", "pixel_url",
    ]  # fmt: skip
    assert rows[1:] == [
        [
            str(chosen.pk),
            "2026-11-26T15:04:05+00:00",
            "6421787",
            str(chosen.job_id),
            str(chosen.subscriber_id),
            "1940_HTML",
            "55981221",
            "",
            "2026-11-26T15:04:05+00:00",
            "1",
            "'=cmd|' /C calc'!A0",
            "1",
            '[{"amt": "49.90", "unit": "USD", "accumulate": false}]',
            "'-2+3",
            "/thanks/",
            "pending",
            "",
            chosen.pixel_url,
        ]
    ]


def test_view_only_staff_exports_clicks_as_csv(viewer: Client) -> None:
    captured = datetime(2026, 11, 26, 15, 4, 5, tzinfo=timezone.utc)
    click = ClickThroughFactory(path="=1+1", captured_at=captured, list_id="")

    rows = export(viewer, reverse(CLICKS), [click.pk])

    assert rows == [
        [
            "id", "captured_at", "member_id", "job_id", "subscriber_id",
            "list_id", "url_id", "batch_id", "path",
        ],
        [
            str(click.pk), "2026-11-26T15:04:05+00:00", "6421787",
            str(click.job_id), str(click.subscriber_id), "", "55981221", "1", "'=1+1",
        ],
    ]  # fmt: skip
    assert ClickThrough.objects.count() == 1
