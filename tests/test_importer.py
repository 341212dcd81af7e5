"""The importer: all or nothing, duplicates and overlaps add nothing."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings

from conversion_tracking.extract import ExtractError
from conversion_tracking.extract_values import MAX_ID, DateParser
from conversion_tracking.importer import file_checksum, import_extract
from conversion_tracking.loading import COLUMNS
from conversion_tracking.models import ExtractedConversion, ExtractImport, ImportStatus
from tests.extract_files import (
    CENTRAL,
    CSV_READS_NUL,
    NUL_PROBLEM,
    csv_text,
    encode,
    expected_start,
    row,
    utf8_comma_csv,
    utf16_tab_zip,
    write,
)
from tests.postgres_support import second_waits_for_first

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)


def rows_at(*minutes: int) -> list[dict[str, str]]:
    return [
        row(subscriber_id=100 + minute, event_date=T0 + timedelta(minutes=minute))
        for minute in minutes
    ]


def assert_nothing_stored() -> None:
    assert ExtractImport.objects.count() == 0
    assert ExtractedConversion.objects.count() == 0


def test_import_stores_rows_and_the_record(tmp_path: Path) -> None:
    user = get_user_model().objects.create_user("ann")
    path = write(tmp_path, "tracking.zip", utf16_tab_zip(rows_at(0, 5, 10)))
    result = import_extract(path, imported_by=user, reconcile=False)
    record = result.extract_import
    assert not result.duplicate
    assert result.reconciliation is None
    assert (record.row_count, record.added_count) == (3, 3)
    assert record.file_name == "tracking.zip"
    assert record.checksum == file_checksum(path)
    assert record.time_zone == "Etc/GMT+6"
    assert record.imported_by == user
    assert record.status == ImportStatus.IMPORTED
    assert (record.covers_from, record.covers_until) == (T0, T0 + timedelta(minutes=10))
    stored = ExtractedConversion.objects.order_by("event_date")
    assert [r.subscriber_id for r in stored] == [100, 105, 110]
    assert stored[0].event_date == T0
    assert stored[0].subscriber_key == "key-100"
    assert stored[0].email_address == ""


@override_settings(CONVERSION_TRACKING_STORE_EMAIL_ADDRESS=True)
def test_email_address_stored_when_switched_on(tmp_path: Path) -> None:
    import_extract(write(tmp_path, "t.zip", utf16_tab_zip(rows_at(0))))
    assert ExtractedConversion.objects.get().email_address == "ann@example.com"


def test_same_file_twice_adds_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "t.zip", utf16_tab_zip(rows_at(0, 1)))
    first = import_extract(path)
    again = import_extract(write(tmp_path, "renamed.zip", path.read_bytes()))
    assert again.duplicate
    assert again.load is None
    assert again.extract_import == first.extract_import
    assert ExtractImport.objects.count() == 1
    assert ExtractedConversion.objects.count() == 2


def test_overlapping_extracts_do_not_duplicate_rows(tmp_path: Path) -> None:
    import_extract(write(tmp_path, "a.zip", utf16_tab_zip(rows_at(0, 1, 2))))
    second = import_extract(write(tmp_path, "b.csv", utf8_comma_csv(rows_at(1, 2, 3))))
    assert (second.extract_import.row_count, second.extract_import.added_count) == (
        3,
        1,
    )
    assert ExtractedConversion.objects.count() == 4


def test_identical_rows_in_one_file_are_stored_once(tmp_path: Path) -> None:
    result = import_extract(write(tmp_path, "a.zip", utf16_tab_zip(rows_at(0, 0))))
    assert (result.extract_import.row_count, result.extract_import.added_count) == (
        2,
        1,
    )


def test_bad_row_stores_nothing(tmp_path: Path) -> None:
    rows = [*rows_at(0, 1, 2), row(event_date="yesterday")]
    path = write(tmp_path, "t.zip", utf16_tab_zip(rows))
    with pytest.raises(ExtractError) as caught:
        import_extract(path)
    assert (caught.value.line, caught.value.column) == (5, "EventDate")
    assert_nothing_stored()


NOT_AN_ID = "not an ID (digits only, at most 19)"
NOT_A_DATE = "not a date and time like 11/26/2026 3:04:05 PM"


@pytest.mark.parametrize(
    ("values", "column", "problem"),
    [
        ({"SendID": "20277x4"}, "SendID", NOT_AN_ID),
        ({"SendID": "-42"}, "SendID", NOT_AN_ID),
        ({"SendID": " 42"}, "SendID", NOT_AN_ID),
        ({"SendID": "+42"}, "SendID", NOT_AN_ID),
        ({"SendID": "0x2A"}, "SendID", NOT_AN_ID),
        ({"SendID": "4_2"}, "SendID", NOT_AN_ID),
        ({"SubscriberID": "\u0661\u0662"}, "SubscriberID", NOT_AN_ID),
        ({"ClientID": ""}, "ClientID", "empty, where an ID is required"),
        ({"ClientID": str(MAX_ID + 1)}, "ClientID", NOT_AN_ID),
        ({"URLID": "9" * 20}, "URLID", NOT_AN_ID),
        ({"BatchID": "one"}, "BatchID", NOT_AN_ID),
        ({"EventDate": "26/11/2026 3:04:05 PM"}, "EventDate", NOT_A_DATE),
        ({"EventDate": "11/26/2026 3:04:60 PM"}, "EventDate", NOT_A_DATE),
        ({"EventDate": "11/26/2026 3: 4:05 PM"}, "EventDate", NOT_A_DATE),
        ({"EventDate": "12/31/9999 11:00:00 PM"}, "EventDate", NOT_A_DATE),
        ({"EventDate": "PM"}, "EventDate", NOT_A_DATE),
        ({"EventDate": ""}, "EventDate", NOT_A_DATE),
        ({"SubscriberKey": "k" * 255 + " "}, "SubscriberKey", "longer than 255"),
        ({"LinkAlias": "a\x00b"}, "LinkAlias", NUL_PROBLEM),
        ({"ReferringURL": "\x00"}, "ReferringURL", NUL_PROBLEM),
    ],
)
def test_bad_values_are_named_on_every_database(
    tmp_path: Path, values: dict[str, str], column: str, problem: str
) -> None:
    rows = [*rows_at(0, 1), row(event_date=T0, **values), *rows_at(2)]
    with pytest.raises(ExtractError) as caught:
        import_extract(write(tmp_path, "t.zip", utf16_tab_zip(rows)))
    assert str(caught.value).startswith(expected_start(4, column, problem))
    assert_nothing_stored()


def test_short_row_stores_nothing(tmp_path: Path) -> None:
    text = csv_text(rows_at(0)) + "6421787\t2027714\r\n"
    with pytest.raises(ExtractError, match="2 values where the header names"):
        import_extract(write(tmp_path, "t.csv", encode(text)))
    assert_nothing_stored()


def test_unusual_but_valid_values_are_stored_as_read(tmp_path: Path) -> None:
    rows = [
        row(
            event_date=T0,
            member_id=MAX_ID,
            SendID="0042",
            BatchID="",
            URLID="",
            LinkAlias='tab\tquote" comma,',
            ReferringURL="https://example.com/a\\b?c=\\N\r\nline two",
            SubscriberKey="Zoë 🙂 " + "k" * 248,
        )
    ]
    import_extract(write(tmp_path, "t.csv", utf8_comma_csv(rows)))
    stored = ExtractedConversion.objects.get()
    assert (stored.member_id, stored.job_id, stored.batch_id, stored.url_id) == (
        MAX_ID,
        42,
        None,
        None,
    )
    assert stored.link_alias == 'tab\tquote" comma,'
    assert stored.referring_url == "https://example.com/a\\b?c=\\N\r\nline two"
    assert stored.subscriber_key == "Zoë 🙂 " + "k" * 248
    # Django finds the row by its own adapting of the date: the stored form
    # is the one it writes.
    assert ExtractedConversion.objects.filter(event_date=T0).count() == 1
    assert ExtractedConversion.objects.filter(event_date__lt=T0).count() == 0


@pytest.mark.skipif(not CSV_READS_NUL, reason="Python 3.10's csv refuses any NUL")
def test_a_nul_in_a_column_not_kept_is_ignored(tmp_path: Path) -> None:
    rows = [row(event_date=T0, email="ann\x00@example.com")]
    import_extract(write(tmp_path, "t.zip", utf16_tab_zip(rows)))
    assert ExtractedConversion.objects.get().email_address == ""


@override_settings(CONVERSION_TRACKING_STORE_EMAIL_ADDRESS=True)
def test_a_nul_in_a_kept_email_address_is_named(tmp_path: Path) -> None:
    rows = [*rows_at(0), row(event_date=T0, email="ann\x00@example.com")]
    with pytest.raises(ExtractError) as caught:
        import_extract(write(tmp_path, "t.zip", utf16_tab_zip(rows)))
    assert str(caught.value).startswith(expected_start(3, "EmailAddress", NUL_PROBLEM))
    assert_nothing_stored()


def test_an_hour_whose_offset_shifts(tmp_path: Path) -> None:
    zone = ZoneInfo("Australia/Lord_Howe")
    texts = ["10/4/2026 1:59:59 AM", "10/4/2026 2:10:00 AM", "10/4/2026 2:45:31 AM"]
    rows = [row(subscriber_id=n, event_date=text) for n, text in enumerate(texts)]
    import_extract(write(tmp_path, "t.zip", utf16_tab_zip(rows)), zone=zone)
    parse = DateParser(zone)
    assert sorted(ExtractedConversion.objects.values_list("event_date", flat=True)) == [
        parse(text) for text in texts
    ]


def test_bad_row_after_many_batches_stores_nothing(tmp_path: Path) -> None:
    rows = [
        row(subscriber_id=n, event_date=T0 + timedelta(seconds=n)) for n in range(12000)
    ]
    rows.append(row(job_id="x", event_date=T0))  # type: ignore[arg-type]
    with pytest.raises(ExtractError) as caught:
        import_extract(write(tmp_path, "t.zip", utf16_tab_zip(rows)))
    assert caught.value.line == 12002
    assert_nothing_stored()


def test_corrupted_zip_stores_nothing(tmp_path: Path) -> None:
    text = csv_text(rows_at(*range(100)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("Conversions.csv", text.encode())
    content = bytearray(buffer.getvalue())
    content[content.rindex(b"\t199\t") + 2] = ord("8")
    with pytest.raises(ExtractError, match="CRC"):
        import_extract(write(tmp_path, "t.zip", bytes(content)))
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n\x00\x01\x02", "neither a ZIP file nor a CSV"),
        (b"PK\x03\x04 not really a zip", "damaged or truncated"),
    ],
)
def test_unreadable_files_store_nothing(
    tmp_path: Path, content: bytes, message: str
) -> None:
    with pytest.raises(ExtractError, match=message):
        import_extract(write(tmp_path, "t.zip", content))
    assert_nothing_stored()


def test_given_covered_range_is_kept(tmp_path: Path) -> None:
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=1)
    result = import_extract(
        write(tmp_path, "t.zip", utf16_tab_zip(rows_at(0))),
        covers_from=start,
        covers_until=end,
    )
    assert (result.extract_import.covers_from, result.extract_import.covers_until) == (
        start,
        end,
    )


@pytest.mark.parametrize(
    ("covers_from", "covers_until"),
    [(T0 + timedelta(hours=1), None), (T0, T0 - timedelta(seconds=1))],
)
def test_inverted_covered_range_stores_nothing(
    tmp_path: Path, covers_from: datetime, covers_until: datetime | None
) -> None:
    with pytest.raises(ExtractError, match="ends before it starts"):
        import_extract(
            write(tmp_path, "t.zip", utf16_tab_zip(rows_at(0, 10))),
            covers_from=covers_from,
            covers_until=covers_until,
        )
    assert_nothing_stored()


def test_header_only_file(tmp_path: Path) -> None:
    result = import_extract(write(tmp_path, "t.csv", encode(csv_text([]))))
    record = result.extract_import
    assert (record.row_count, record.covers_from, record.covers_until) == (
        0,
        None,
        None,
    )
    assert record.status == ImportStatus.RECONCILED
    with pytest.raises(ExtractError, match="incomplete"):
        import_extract(
            write(tmp_path, "u.csv", encode(csv_text([]), "utf-8")), covers_from=T0
        )


def test_time_zone_of_the_file(tmp_path: Path) -> None:
    rows = [row(event_date="7/1/2026 3:04:05 PM")]
    result = import_extract(
        write(tmp_path, "t.zip", utf16_tab_zip(rows)), zone=ZoneInfo("America/Chicago")
    )
    assert result.extract_import.time_zone == "America/Chicago"
    assert ExtractedConversion.objects.get().event_date == datetime(
        2026, 7, 1, 20, 4, 5, tzinfo=timezone.utc
    )
    assert CENTRAL.key == "Etc/GMT+6"


def test_progress_is_reported_per_batch(tmp_path: Path) -> None:
    rows = [
        row(subscriber_id=n, event_date=T0 + timedelta(seconds=n)) for n in range(11000)
    ]
    seen: list[int] = []
    import_extract(write(tmp_path, "t.zip", utf16_tab_zip(rows)), progress=seen.append)
    assert seen == [5000, 10000, 11000]


@override_settings(USE_TZ=False)
def test_sites_without_time_zone_support_are_told(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match="USE_TZ"):
        import_extract(write(tmp_path, "t.zip", utf16_tab_zip(rows_at(0))))
    assert_nothing_stored()


def test_the_loaded_columns_put_the_event_date_fourth() -> None:
    assert COLUMNS[3] == "event_date"


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="two sessions at once: needs DATABASE_URL to point at PostgreSQL",
)
@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_is_refused_once(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "tracking.zip", utf16_tab_zip(rows_at(0, 1)))
    seen = second_waits_for_first(
        lambda: import_extract(path), lambda: import_extract(path)
    )

    assert seen.second_waited
    errors = seen.errors
    assert [type(error) for error in errors] == [ExtractError]
    assert "was imported by another import at the same time" in str(errors[0])
    assert ExtractImport.objects.count() == 1
    assert ExtractedConversion.objects.count() == 2
