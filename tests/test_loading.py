"""Loading rows: PostgreSQL's fast path against the rows Python parses.

The fast path (cells sent as text, checked and converted in SQL) must store
exactly what the Python path stores, and refuse whatever it cannot vouch for,
so that the Python path reads the file instead.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction

from conversion_tracking.extract import ExtractRow, open_extract
from conversion_tracking.extract_values import MAX_ID, DateParser
from conversion_tracking.loading import LoadResult, load_extract, load_rows
from conversion_tracking.loading_postgres import MAX_HOURS, FastLoadRefused, load_cells
from conversion_tracking.loading_stage import STAGE, Stage
from conversion_tracking.models import ExtractedConversion
from tests.extract_files import (
    CENTRAL,
    COLUMNS,
    CSV_READS_NUL,
    csv_text,
    encode,
    row,
    utf8_comma_csv,
    utf16_tab_zip,
    write,
)

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the fast path needs DATABASE_URL to point at PostgreSQL",
)
pytestmark = [pytest.mark.postgres, on_postgresql, pytest.mark.django_db]

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)
KEY = ("event_date", "member_id", "job_id", "subscriber_id", "fingerprint")
FIELDS = ExtractRow._fields


def load_fast(path: Path, zone: ZoneInfo = CENTRAL, **options: bool) -> LoadResult:
    with open_extract(path, zone, **options) as reader, transaction.atomic():
        return load_cells(reader, None)


def load_python(path: Path, zone: ZoneInfo = CENTRAL, **options: bool) -> LoadResult:
    with open_extract(path, zone, **options) as reader:
        return load_rows(reader.batches())


def refused(path: Path, zone: ZoneInfo = CENTRAL) -> bool:
    try:
        load_fast(path, zone)
    except FastLoadRefused:
        return ExtractedConversion.objects.count() == 0
    return False


def parsed(path: Path, zone: ZoneInfo = CENTRAL, **options: bool) -> list[ExtractRow]:
    with open_extract(path, zone, **options) as reader:
        return [item for batch in reader.batches() for item in batch]


def stored() -> list[tuple[Any, ...]]:
    return list(ExtractedConversion.objects.order_by(*KEY).values_list(*FIELDS))


def without_fingerprint(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*values[:4], *values[5:])


def varied_rows() -> list[dict[str, str]]:
    """Rows over several hours and days, with optional values missing, and
    extremes. Each of the characters COPY's text format treats specially has
    a chunk of rows (5,000) to itself, so that each check on it counts."""
    rows = [
        row(
            subscriber_id=number,
            batch_id="" if number % 7 == 0 else number % 4,
            event_date=T0 + timedelta(minutes=17 * number, seconds=number),
            email=f"s{number}@example.com",
        )
        for number in range(1, 20_001)
    ]
    rows[10]["LinkAlias"] = "tab\there"
    rows[6000]["ReferringURL"] = "first line\nsecond line"
    rows[12000]["ReferringURL"] = "a carriage\rreturn"
    rows[18000]["ReferringURL"] = "https://example.com/a\\b?c=\\N"
    rows[6001]["SubscriberKey"] = "Zoë 🙂 " + "k" * 247
    rows[6002]["ClientID"] = str(MAX_ID)
    rows[6003]["URLID"] = ""
    rows[6004] = dict(rows[6005])
    rows[6006] = {**rows[6007], "EmailAddress": "first@example.com"}
    return rows


def test_a_good_file_takes_the_fast_path(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", utf8_comma_csv(varied_rows()))

    result = load_fast(path)

    expected = parsed(path)
    assert (result.rows, result.added) == (20_000, 19_998)
    assert result.first_event == min(item.event_date for item in expected)
    assert result.last_event == max(item.event_date for item in expected)
    assert {without_fingerprint(values) for values in stored()} == {
        without_fingerprint(item) for item in expected
    }


def test_both_paths_store_the_same_rows_and_fingerprints(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", utf8_comma_csv(varied_rows()))
    load_fast(path, keep_email=True)
    fast = stored()
    ExtractedConversion.objects.all().delete()

    load_python(path, keep_email=True)

    assert stored() == fast
    assert len({values[4] for values in fast}) == len(fast)
    by_subscriber = {values[2]: values for values in fast}
    assert by_subscriber[6008][FIELDS.index("email_address")] == "first@example.com"


def test_without_copy_the_fingerprints_are_postgresqls_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a site on psycopg2 gets: the rows inserted one by one.
    path = write(tmp_path, "c.csv", utf8_comma_csv(varied_rows()[:300]))
    load_fast(path, keep_email=True)
    fast = stored()
    ExtractedConversion.objects.all().delete()
    monkeypatch.setattr("conversion_tracking.loading._can_copy", lambda: False)

    result = load_python(path, keep_email=True)

    assert stored() == fast
    assert result.added == len(fast)
    assert load_python(path).added == 0


def test_the_first_of_rows_identical_but_for_email_wins(tmp_path: Path) -> None:
    rows = [
        row(event_date=T0, email="first@example.com"),
        row(event_date=T0, email="second@example.com"),
    ]
    path = write(tmp_path, "c.zip", utf16_tab_zip(rows))

    result = load_fast(path, keep_email=True)

    assert (result.rows, result.added) == (2, 1)
    assert ExtractedConversion.objects.get().email_address == "first@example.com"


@pytest.mark.parametrize("first", [load_fast, load_python])
@pytest.mark.parametrize("second", [load_fast, load_python])
def test_overlapping_loads_add_only_new_rows(
    tmp_path: Path, first: Any, second: Any
) -> None:
    minutes = [
        row(subscriber_id=n, event_date=T0 + timedelta(minutes=n)) for n in range(6)
    ]
    first_path = write(tmp_path, "a.zip", utf16_tab_zip(minutes[:4]))
    second_path = write(tmp_path, "b.csv", utf8_comma_csv(minutes[2:]))

    assert first(first_path).added == 4
    again = second(second_path)

    assert (again.rows, again.added) == (4, 2)
    assert ExtractedConversion.objects.count() == 6
    assert second(second_path).added == 0


def test_loads_without_rows_add_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", encode(csv_text([])))

    assert load_fast(path) == LoadResult()
    assert load_rows([]) == LoadResult()
    assert load_python(path) == LoadResult()


def test_statistics_are_fresh_after_a_load(tmp_path: Path) -> None:
    rows = [
        row(subscriber_id=n, event_date=T0 + timedelta(seconds=n)) for n in range(500)
    ]

    load_fast(write(tmp_path, "c.zip", utf16_tab_zip(rows)))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE relname = %s",
            [ExtractedConversion._meta.db_table],
        )
        assert cursor.fetchone()[0] == 500


@pytest.mark.parametrize(
    "values",
    [
        {"SendID": "0042"},
        {"SendID": " 42"},
        {"SendID": "+42"},
        {"SendID": "-42"},
        {"SendID": "4_2"},
        {"SendID": "0x2A"},
        {"BatchID": "\u0661"},
        {"URLID": str(MAX_ID + 1)},
        {"ClientID": ""},
        {"EventDate": "11/26/2026 3:04 PM"},
        {"EventDate": "11/26/2026 3: 4:05 PM"},
        {"EventDate": "11/26/2026 03:04:05 PM "},
        {"EventDate": "26/11/2026 3:04:05 PM"},
        {"EventDate": "12/31/9999 11:00:00 PM"},
        {"EventDate": "PM"},
        {"EventDate": ""},
        {"SubscriberKey": "k" * 255 + " "},
        {"LinkAlias": "nul\x00"},
    ],
)
def test_values_the_fast_path_cannot_vouch_for_are_refused(
    tmp_path: Path, values: dict[str, str]
) -> None:
    rows = [row(event_date=T0), row(subscriber_id=2, event_date=T0, **values)]
    path = write(tmp_path, "c.zip", utf16_tab_zip(rows))

    assert refused(path)


def test_leading_zeros_are_refused_by_the_fast_path_but_loaded(tmp_path: Path) -> None:
    rows = [row(event_date=T0, SendID="0042", BatchID="007")]
    path = write(tmp_path, "c.zip", utf16_tab_zip(rows))
    assert refused(path)

    result = load_extract(path, CENTRAL)

    assert result.added == 1
    assert ExtractedConversion.objects.values_list("job_id", "batch_id").get() == (
        42,
        7,
    )


def test_a_short_row_is_refused(tmp_path: Path) -> None:
    text = csv_text([row(event_date=T0)]) + "6421787\t2027714\r\n"
    assert refused(write(tmp_path, "c.csv", encode(text)))


def test_rows_longer_than_the_header_and_unknown_columns(tmp_path: Path) -> None:
    columns = (*COLUMNS, "Extra")
    text = csv_text([row(event_date=T0, Extra="x")], columns=columns)
    text = text.replace("\tx\r\n", "\tx\tmore\tcells\r\n")
    path = write(tmp_path, "c.csv", encode(text))

    assert load_fast(path).added == 1
    assert stored()[0][:4] == (6421787, 2027714, 151496521, T0)


@pytest.mark.skipif(not CSV_READS_NUL, reason="Python 3.10's csv refuses any NUL")
def test_a_nul_in_an_ignored_column_is_no_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "c.zip", utf16_tab_zip([row(event_date=T0, email="a\x00")]))

    assert load_fast(path).added == 1
    assert ExtractedConversion.objects.get().email_address == ""


def test_an_hour_whose_offset_shifts_is_left_to_python(tmp_path: Path) -> None:
    # Lord Howe Island moves its clocks by 30 minutes at 2:00 AM: the fast
    # path converts whole hours, so it refuses that one.
    zone = ZoneInfo("Australia/Lord_Howe")
    texts = ["10/4/2026 1:59:59 AM", "10/4/2026 2:10:00 AM", "10/4/2026 2:45:31 AM"]
    rows = [row(subscriber_id=n, event_date=text) for n, text in enumerate(texts)]
    path = write(tmp_path, "c.zip", utf16_tab_zip(rows))
    assert refused(path, zone)

    result = load_extract(path, zone)

    parse = DateParser(zone)
    assert result.added == 3
    assert sorted(ExtractedConversion.objects.values_list("event_date", flat=True)) == [
        parse(text) for text in texts
    ]


def test_far_too_many_hours_are_left_to_python(tmp_path: Path) -> None:
    rows = [
        row(subscriber_id=n, event_date=T0 + timedelta(hours=n))
        for n in range(MAX_HOURS + 1)
    ]
    path = write(tmp_path, "c.zip", utf16_tab_zip(rows))
    assert refused(path)

    assert load_extract(path, CENTRAL).added == MAX_HOURS + 1


@pytest.mark.parametrize(
    "date",
    [
        "",
        "P",
        "PM",
        "0:00 PM",
        "00:00 PM",
        "1/2/2026 1:00:00 AM",
        "12/31/2026 12:59:59 PM",
        "x/y/zzzz é:5é:5é ☃M",
        "ÀÁÂÃÄÅÆÇÈÉÊË",
        "1:02:03",
    ],
)
def test_the_hour_and_clock_are_sliced_as_python_slices(date: str) -> None:
    stage = Stage(["member_id", "job_id", "subscriber_id", "batch_id", "event_date"])
    with transaction.atomic(), connection.cursor() as cursor:
        stage.create(cursor, DateParser(CENTRAL))
        cursor.execute(
            f"INSERT INTO {STAGE} ({stage.cell('event_date')}) VALUES (%s) "  # noqa: S608
            "RETURNING hour, clock",
            [date],
        )
        assert cursor.fetchone() == (date[:-8] + date[-3:], date[-8:-3])
        transaction.set_rollback(True)


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_load_of_the_same_rows_is_waited_for(tmp_path: Path) -> None:
    rows = [
        row(subscriber_id=n, event_date=T0 + timedelta(minutes=n)) for n in range(6)
    ]
    first_path = write(tmp_path, "a.zip", utf16_tab_zip(rows[:4]))
    second_path = write(tmp_path, "b.zip", utf16_tab_zip(rows[2:]))
    first_loaded, commit_first = threading.Event(), threading.Event()
    results: dict[str, LoadResult] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = load_extract(first_path, CENTRAL)
                first_loaded.set()
                commit_first.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def second() -> None:
        try:
            # The fast path itself, without the Python path to fall back on.
            results["second"] = load_fast(second_path)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_loaded.wait(timeout=30)
    threads[1].start()
    waiting = _wait_for_a_blocked_backend()
    commit_first.set()
    for thread in threads:
        thread.join(timeout=30)

    assert waiting
    assert errors == []
    assert (results["first"].added, results["second"].added) == (4, 2)
    assert ExtractedConversion.objects.count() == 6


def _wait_for_a_blocked_backend() -> bool:
    """Whether another session came to wait for a lock within ten seconds."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.05)
    return False
