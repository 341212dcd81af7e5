"""The admin of imports: the upload page, its permissions, counts and links."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import formats
from django.utils import timezone as django_timezone

from conversion_tracking.admin.extract import ExtractImportAdmin
from conversion_tracking.models import (
    ExtractedConversion,
    ExtractImport,
    Verification,
)
from tests.extract_files import row, utf8_comma_csv, utf16_tab_zip, zipped
from tests.factories import ConversionFactory, verified

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)
UPLOAD = "/admin/conversion_tracking/extractimport/add/"
CHANGELIST = "/admin/conversion_tracking/extractimport/"
ROWS = "/admin/conversion_tracking/extractedconversion/"
WITHOUT_CAPTURE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]


def extract_zip() -> bytes:
    return utf16_tab_zip(
        [
            row(subscriber_id=1, event_date=T0),
            row(subscriber_id=5, event_date=T0 + timedelta(minutes=20)),
        ]
    )


def upload(client: Client, content: bytes, name: str = "tracking.zip", **data: Any):  # type: ignore[no-untyped-def]
    data.setdefault("time_zone", "Etc/GMT+6")
    return client.post(UPLOAD, {"file": SimpleUploadedFile(name, content), **data})


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_extractimport"),
        Permission.objects.get(codename="add_extractimport"),
    )
    return user


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_upload_page(staff_client: Client) -> None:
    response = staff_client.get(UPLOAD)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'enctype="multipart/form-data"' in content
    assert "csrfmiddlewaretoken" in content
    assert 'value="Etc/GMT+6"' in content


def test_permitted_upload_imports_and_reconciles(
    staff_client: Client, staff: Any
) -> None:
    confirmed = ConversionFactory(job_id=2027714, subscriber_id=1, created_at=T0)
    missing = ConversionFactory(
        job_id=2027714, subscriber_id=2, created_at=T0 + timedelta(minutes=10)
    )
    response = upload(staff_client, extract_zip())
    record = ExtractImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:conversion_tracking_extractimport_change", args=[record.pk]
    )
    assert record.imported_by == staff
    assert record.file_name == "tracking.zip"
    assert (record.confirmed_count, record.missing_count, record.mce_only_count) == (
        1,
        1,
        1,
    )
    assert verified(confirmed).verification == Verification.CONFIRMED
    assert verified(missing).verification == Verification.MISSING
    page = staff_client.get(response["Location"]).content.decode()
    assert "Imported 2 rows (2 new) from tracking.zip." in page


def test_uploading_the_same_file_again_adds_nothing(staff_client: Client) -> None:
    content = extract_zip()
    upload(staff_client, content)
    response = upload(staff_client, content, name="again.zip")
    assert response.status_code == 302
    page = staff_client.get(response["Location"]).content.decode()
    assert "This file was already imported" in page
    assert "nothing was added" in page
    assert ExtractImport.objects.count() == 1
    assert ExtractedConversion.objects.count() == 2


def test_bad_file_shows_an_escaped_error_and_stores_nothing(
    staff_client: Client,
) -> None:
    content = zipped(b"x", name="<b>Opens</b>.csv")
    response = upload(staff_client, content)
    assert response.status_code == 400
    page = response.content.decode()
    assert "holds no Conversions.csv" in page
    assert "&lt;b&gt;Opens&lt;/b&gt;.csv" in page
    assert "<b>Opens" not in page
    assert not ExtractImport.objects.exists()


def test_bad_row_names_line_and_column(staff_client: Client) -> None:
    content = utf8_comma_csv([row(event_date=T0), row(event_date="soon")])
    response = upload(staff_client, content, name="Conversions.csv")
    assert response.status_code == 400
    assert "Line 3, column EventDate: not a date" in response.content.decode()
    assert not ExtractedConversion.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"time_zone": "Nowhere/Special"}, "Not a known time zone"),
        ({"covers_from": "not a date"}, "Enter a valid date/time."),
    ],
)
def test_form_errors(staff_client: Client, data: dict[str, str], message: str) -> None:
    response = upload(staff_client, extract_zip(), **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ExtractImport.objects.exists()


def test_covered_range_is_read_in_the_extract_time_zone(staff_client: Client) -> None:
    upload(
        staff_client,
        extract_zip(),
        covers_from="2026-11-26 00:00:00",
        covers_until="2026-11-27 00:00:00",
    )
    record = ExtractImport.objects.get()
    assert record.covers_from == datetime(2026, 11, 26, 6, tzinfo=timezone.utc)
    assert record.covers_until == datetime(2026, 11, 27, 6, tzinfo=timezone.utc)


@override_settings(MIDDLEWARE=WITHOUT_CAPTURE)
def test_upload_streams_to_a_temporary_file(staff_client: Client) -> None:
    response = upload(staff_client, extract_zip())
    assert response.status_code == 302
    assert ExtractedConversion.objects.count() == 2


def test_staff_without_the_add_permission_is_refused(django_user_model: Any) -> None:
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_extractimport"))
    client = Client()
    client.force_login(viewer)
    assert client.get(UPLOAD).status_code == 403
    assert upload(client, extract_zip()).status_code == 403
    assert not ExtractImport.objects.exists()
    assert client.get(CHANGELIST).status_code == 200


def test_anonymous_and_non_staff_users_go_to_the_login(django_user_model: Any) -> None:
    client = Client()
    assert upload(client, extract_zip())["Location"].startswith("/admin/login/")
    user = django_user_model.objects.create_user("visitor")
    client.force_login(user)
    assert client.get(UPLOAD)["Location"].startswith("/admin/login/")
    assert not ExtractImport.objects.exists()


def test_upload_is_csrf_protected(staff: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert upload(client, extract_zip()).status_code == 403
    assert not ExtractImport.objects.exists()
    client.get(UPLOAD)
    token = client.cookies["csrftoken"].value
    response = upload(client, extract_zip(), csrfmiddlewaretoken=token)
    assert response.status_code == 302
    assert ExtractImport.objects.count() == 1


def readonly_value(page: str, label: str) -> str:
    """The text the admin shows beside ``label`` on a page of one object."""
    found = re.search(
        rf"{re.escape(label)}:</label>\s*<div class=\"readonly\">([^<]*)</div>", page
    )
    assert found is not None, label
    return found.group(1)


def test_changelist_counts_rate_and_links() -> None:
    superuser = get_user_model().objects.create_superuser("root", "", "pw")
    client = Client()
    client.force_login(superuser)
    missing = ConversionFactory(
        job_id=2027714, subscriber_id=2, created_at=T0 + timedelta(minutes=10)
    )
    ConversionFactory(
        job_id=2027714,
        subscriber_id=3,
        created_at=T0 + timedelta(days=3),
        verification=Verification.MISSING,
    )
    confirmed = ConversionFactory(job_id=2027714, subscriber_id=1, created_at=T0)
    upload(client, extract_zip())
    page = client.get(CHANGELIST).content.decode()
    assert "50.0%" in page
    assert "verification=missing" in page
    record = ExtractImport.objects.get()
    admin_page = client.get(
        reverse("admin:conversion_tracking_extractimport_change", args=[record.pk])
    )
    assert admin_page.status_code == 200
    model_admin = ExtractImportAdmin(ExtractImport, admin.site)
    missing_url = model_admin.missing_conversions(record).split('"')[1]
    listed = client.get(missing_url.replace("&amp;", "&"))
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [missing]
    mce_only_url = model_admin.mce_only_rows(record).split('"')[1]
    rows = client.get(mce_only_url.replace("&amp;", "&"))
    assert [r.subscriber_id for r in rows.context["cl"].result_list] == [5]
    assert "none: recorded by MCE only" in rows.content.decode()
    confirming = client.get(f"{ROWS}?confirms=yes")
    assert [r.subscriber_id for r in confirming.context["cl"].result_list] == [1]
    link = reverse("admin:conversion_tracking_conversion_change", args=[confirmed.pk])
    assert f'<a href="{link}">#{confirmed.pk}</a>' in confirming.content.decode()
    conversion_page = client.get(link).content.decode()
    assert "Recorded by MCE at" in conversion_page
    recorded = verified(confirmed).recorded_at
    assert recorded is not None
    shown = formats.localize(django_timezone.localtime(recorded))
    assert readonly_value(conversion_page, "Recorded by MCE at") == shown
    missing_page = client.get(
        reverse("admin:conversion_tracking_conversion_change", args=[missing.pk])
    ).content.decode()
    assert readonly_value(missing_page, "Verification") == "missing"
    assert readonly_value(missing_page, "Recorded by MCE at") == "-"
    assert "Etc/GMT+6" in model_admin.covered_range(record)


def test_counts_without_links_and_empty_imports() -> None:
    model_admin = ExtractImportAdmin(ExtractImport, admin.site)
    record = ExtractImport.objects.create(file_name="empty.zip", checksum="0" * 64)
    assert model_admin.missing_conversions(record) == "0"
    assert model_admin.mce_only_rows(record) == "0"
    assert model_admin.match_rate_display(record) == "-"
    assert model_admin.covered_range(record) == "-"


def test_rows_admin_is_read_only() -> None:
    superuser = get_user_model().objects.create_superuser("root", "", "pw")
    client = Client()
    client.force_login(superuser)
    assert (
        client.get("/admin/conversion_tracking/extractedconversion/").status_code == 200
    )
    assert (
        client.get("/admin/conversion_tracking/extractedconversion/add/").status_code
        == 403
    )
    assert client.get(CHANGELIST).status_code == 200
