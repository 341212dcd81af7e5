"""Loading rows into PostgreSQL: lines of COPY text against the rows Python parses.

Each row goes to PostgreSQL as a line that Python builds while checking it.
The table must end up holding exactly what the rows the reader parses hold
(fingerprints included), whichever way the lines went in: straight into the
table, or through a temporary table when the file repeats stored rows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction

from conversion_tracking.extract import ExtractError, ExtractRow, open_extract
from conversion_tracking.extract_values import MAX_ID, DateParser
from conversion_tracking.loading import LoadResult, insert_rows, load_extract
from conversion_tracking.loading_postgres import RowsStored, copy_extract
from conversion_tracking.models import ExtractedConversion
from tests.extract_files import (
    CENTRAL,
    COLUMNS,
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

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="COPY needs DATABASE_URL to point at PostgreSQL",
)
pytestmark = [pytest.mark.postgres, on_postgresql, pytest.mark.django_db]

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)
KEY = ("event_date", "member_id", "job_id", "subscriber_id", "fingerprint")
FIELDS = ExtractRow._fields


def load_copy(path: Path, zone: ZoneInfo = CENTRAL, **options: bool) -> LoadResult:
    """Load by COPY, straight into the table."""
    with open_extract(path, zone, **options) as reader, transaction.atomic():
        return copy_extract(reader, None)


def load_inserts(path: Path, zone: ZoneInfo = CENTRAL, **options: bool) -> LoadResult:
    """Load by executemany, as a site without psycopg 3 does."""
    with open_extract(path, zone, **options) as reader:
        return insert_rows(reader.batches())


def parsed(
    path: Path, zone: ZoneInfo = CENTRAL, **options: bool
) -> list[tuple[Any, ...]]:
    """The distinct rows the reader parses (of rows identical but for their
    email, the first), in the order of the unique key."""
    with open_extract(path, zone, **options) as reader:
        rows = [tuple(item) for batch in reader.batches() for item in batch]
    first: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for values in rows:
        first.setdefault(tuple(values[FIELDS.index(field)] for field in KEY), values)
    return [first[key] for key in sorted(first)]


def stored() -> list[tuple[Any, ...]]:
    return list(ExtractedConversion.objects.order_by(*KEY).values_list(*FIELDS))


def parse_error(path: Path, zone: ZoneInfo = CENTRAL) -> ExtractError:
    with open_extract(path, zone) as reader, pytest.raises(ExtractError) as caught:
        for _batch in reader.batches():
            pass
    return caught.value


def test_a_good_file_goes_straight_in_as_python_parses_it(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", utf8_comma_csv(varied_rows(repeated=False)))

    result = load_copy(path, keep_email=True)

    expected = parsed(path, keep_email=True)
    assert (result.rows, result.added) == (20_000, 20_000)
    assert result.first_event == min(values[3] for values in expected)
    assert result.last_event == max(values[3] for values in expected)
    assert stored() == expected
    by_subscriber = {values[2]: values for values in stored()}
    assert by_subscriber[11][FIELDS.index("link_alias")] == "tab\there"
    assert by_subscriber[18001][FIELDS.index("referring_url")] == (
        "https://example.com/a\\b?c=\\N"
    )


def test_a_file_that_repeats_rows_stores_each_once(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", utf8_comma_csv(varied_rows()))

    result = load_extract(path, CENTRAL, keep_email=True)

    expected = parsed(path, keep_email=True)
    assert (result.rows, result.added) == (20_000, 19_998)
    by_subscriber = {values[2]: values for values in stored()}
    assert by_subscriber[6008][FIELDS.index("email_address")] == "first@example.com"
    assert stored() == [
        values for values in expected if values in by_subscriber.values()
    ]
    assert len(set(stored())) == 19_998


def test_without_copy_the_rows_and_fingerprints_are_the_same(tmp_path: Path) -> None:
    # What a site on psycopg 2 gets: the rows inserted by executemany.
    rows = varied_rows(repeated=False)[:300]
    path = write(tmp_path, "c.csv", utf8_comma_csv(rows))
    load_copy(path, keep_email=True)
    copied = stored()
    ExtractedConversion.objects.all().delete()

    result = load_inserts(path, keep_email=True)

    assert stored() == copied
    assert result.added == len(copied)
    assert load_copy_or_stored(path) == "stored"


def load_copy_or_stored(path: Path) -> str:
    try:
        load_copy(path)
    except RowsStored:
        return "stored"
    return "loaded"


def test_the_first_of_rows_identical_but_for_email_wins(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [
        row(event_date=T0, email="first@example.com"),
        row(event_date=T0, email="second@example.com"),
    ]
    path = write(tmp_path, "c.zip", utf16_tab_zip(rows))

    with caplog.at_level(logging.INFO, logger="conversion_tracking.loading"):
        result = load_extract(path, CENTRAL, keep_email=True)

    assert (result.rows, result.added) == (2, 1)
    assert ExtractedConversion.objects.get().email_address == "first@example.com"
    assert "repeats stored rows" in caplog.text


@pytest.mark.parametrize("first", [load_extract, load_inserts])
@pytest.mark.parametrize("second", [load_extract, load_inserts])
def test_overlapping_loads_add_only_new_rows(
    tmp_path: Path, first: Any, second: Any
) -> None:
    minutes = [
        row(subscriber_id=n, event_date=T0 + timedelta(minutes=n)) for n in range(6)
    ]
    first_path = write(tmp_path, "a.zip", utf16_tab_zip(minutes[:4]))
    second_path = write(tmp_path, "b.csv", utf8_comma_csv(minutes[2:]))

    assert first(first_path, CENTRAL).added == 4
    again = second(second_path, CENTRAL)

    assert (again.rows, again.added) == (4, 2)
    assert ExtractedConversion.objects.count() == 6
    assert second(second_path, CENTRAL).added == 0


def test_a_row_already_stored_stops_the_copy_and_rolls_back(tmp_path: Path) -> None:
    minutes = [
        row(subscriber_id=n, event_date=T0 + timedelta(minutes=n)) for n in range(3)
    ]
    load_copy(write(tmp_path, "a.zip", utf16_tab_zip(minutes[1:2])))

    with pytest.raises(RowsStored):
        load_copy(write(tmp_path, "b.zip", utf16_tab_zip(minutes)))

    assert ExtractedConversion.objects.count() == 1


def test_loads_without_rows_add_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", encode(csv_text([])))

    assert load_copy(path) == LoadResult()
    assert load_extract(path, CENTRAL) == LoadResult()
    assert insert_rows([]) == LoadResult()


def test_progress_counts_the_rows_sent(tmp_path: Path) -> None:
    rows = [
        row(subscriber_id=n, event_date=T0 + timedelta(seconds=n))
        for n in range(12_000)
    ]
    seen: list[int] = []

    load_extract(
        write(tmp_path, "c.zip", utf16_tab_zip(rows)), CENTRAL, progress=seen.append
    )

    assert seen == [5_000, 10_000, 12_000]


def test_statistics_are_fresh_after_a_load(tmp_path: Path) -> None:
    rows = [
        row(subscriber_id=n, event_date=T0 + timedelta(seconds=n)) for n in range(500)
    ]

    load_copy(write(tmp_path, "c.zip", utf16_tab_zip(rows)))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE relname = %s",
            [ExtractedConversion._meta.db_table],
        )
        assert cursor.fetchone()[0] == 500


@pytest.mark.parametrize(
    ("values", "column", "problem"),
    [
        ({"SendID": " 42"}, "SendID", "not an ID"),
        ({"SendID": "+42"}, "SendID", "not an ID"),
        ({"SendID": "-42"}, "SendID", "not an ID"),
        ({"SendID": "4_2"}, "SendID", "not an ID"),
        ({"SendID": "0x2A"}, "SendID", "not an ID"),
        ({"BatchID": "\u0661"}, "BatchID", "not an ID"),
        ({"URLID": str(MAX_ID + 1)}, "URLID", "not an ID"),
        ({"SubscriberID": "9" * 40}, "SubscriberID", "not an ID"),
        ({"ClientID": ""}, "ClientID", "empty, where an ID is required"),
        ({"EventDate": "11/26/2026 3:04 PM"}, "EventDate", "not a date"),
        ({"EventDate": "11/26/2026 3: 4:05 PM"}, "EventDate", "not a date"),
        ({"EventDate": "11/26/2026 03:04:60 PM"}, "EventDate", "not a date"),
        ({"EventDate": "11/26/2026 03:04:05 PM "}, "EventDate", "not a date"),
        ({"EventDate": "26/11/2026 3:04:05 PM"}, "EventDate", "not a date"),
        ({"EventDate": "12/31/9999 11:00:00 PM"}, "EventDate", "not a date"),
        ({"EventDate": "PM"}, "EventDate", "not a date"),
        ({"EventDate": ""}, "EventDate", "not a date"),
        ({"SubscriberKey": "k" * 255 + " "}, "SubscriberKey", "longer than 255"),
        ({"LinkAlias": "nul\x00"}, "LinkAlias", NUL_PROBLEM),
    ],
)
def test_a_bad_value_is_named_and_nothing_is_stored(
    tmp_path: Path, values: dict[str, str], column: str, problem: str
) -> None:
    rows = [row(event_date=T0), row(subscriber_id=2, event_date=T0, **values)]
    path = write(tmp_path, "c.zip", utf16_tab_zip(rows))

    with pytest.raises(ExtractError) as caught:
        load_extract(path, CENTRAL)

    assert str(caught.value).startswith(expected_start(3, column, problem))
    assert str(caught.value) == str(parse_error(path))
    assert ExtractedConversion.objects.count() == 0


def test_ids_with_leading_zeros_are_their_numbers(tmp_path: Path) -> None:
    rows = [row(event_date=T0, SendID="0042", BatchID="007")]
    path = write(tmp_path, "c.zip", utf16_tab_zip(rows))

    assert load_copy(path).added == 1

    assert stored() == parsed(path)
    assert ExtractedConversion.objects.values_list("job_id", "batch_id").get() == (
        42,
        7,
    )


def test_a_short_row_is_named(tmp_path: Path) -> None:
    text = csv_text([row(event_date=T0)]) + "6421787\t2027714\r\n"
    path = write(tmp_path, "c.csv", encode(text))

    with pytest.raises(ExtractError, match=r"^Line 3: The row has"):
        load_extract(path, CENTRAL)

    assert ExtractedConversion.objects.count() == 0


def test_rows_longer_than_the_header_and_unknown_columns(tmp_path: Path) -> None:
    columns = (*COLUMNS, "Extra")
    text = csv_text([row(event_date=T0, Extra="x")], columns=columns)
    text = text.replace("\tx\r\n", "\tx\tmore\tcells\r\n")
    path = write(tmp_path, "c.csv", encode(text))

    assert load_copy(path).added == 1
    assert stored()[0][:4] == (6421787, 2027714, 151496521, T0)


@pytest.mark.skipif(not CSV_READS_NUL, reason="Python 3.10's csv refuses any NUL")
def test_a_nul_in_an_ignored_column_is_no_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "c.zip", utf16_tab_zip([row(event_date=T0, email="a\x00")]))

    assert load_copy(path).added == 1
    assert ExtractedConversion.objects.get().email_address == ""


@pytest.mark.parametrize(
    ("zone", "texts"),
    [
        # Lord Howe Island moves its clocks by 30 minutes at 2:00 AM: that
        # hour is converted minute by minute.
        (
            "Australia/Lord_Howe",
            ["10/4/2026 1:59:59 AM", "10/4/2026 2:10:00 AM", "10/4/2026 2:45:31 AM"],
        ),
        # India's hours start half-way through UTC's.
        ("Asia/Kolkata", ["11/26/2026 3:04:05 PM", "11/26/2026 3:59:59 PM"]),
        # The hour that New York repeats when its clocks go back.
        ("America/New_York", ["11/1/2026 1:30:00 AM", "11/1/2026 2:00:00 AM"]),
    ],
)
def test_dates_are_what_the_date_parser_makes_of_them(
    tmp_path: Path, zone: str, texts: list[str]
) -> None:
    rows = [row(subscriber_id=n, event_date=text) for n, text in enumerate(texts)]
    path = write(tmp_path, "c.zip", utf16_tab_zip(rows))

    result = load_copy(path, ZoneInfo(zone))

    parse = DateParser(ZoneInfo(zone))
    assert result.added == len(texts)
    assert sorted(ExtractedConversion.objects.values_list("event_date", flat=True)) == [
        parse(text) for text in texts
    ]
    assert stored() == parsed(path, ZoneInfo(zone))


def varied_rows(*, repeated: bool = True) -> list[dict[str, str]]:
    """Rows over several hours and days, with optional values missing, and
    extremes. Each of the characters COPY's text format treats specially has
    a chunk of rows (5,000) to itself, so that each check on it counts. Unless
    ``repeated`` is false, two rows repeat others (one but for its email)."""
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
    if repeated:
        rows[6004] = dict(rows[6005])
        rows[6006] = {**rows[6007], "EmailAddress": "first@example.com"}
    return rows


def load_through_table(path: Path) -> LoadResult:
    with open_extract(path, CENTRAL) as reader, transaction.atomic():
        return copy_extract(reader, None, through_table=True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "load_second",
    [
        # Its COPY waits for the first, then finds two of its rows stored,
        # and the file is read again to add the other two.
        lambda path: load_extract(path, CENTRAL),
        # Its INSERT, which looked for stored rows before the first committed
        # them, waits, then skips them as they conflict.
        load_through_table,
    ],
    ids=["straight", "through a table"],
)
def test_a_concurrent_load_of_the_same_rows_is_waited_for(
    tmp_path: Path, load_second: Any
) -> None:
    rows = [
        row(subscriber_id=n, event_date=T0 + timedelta(minutes=n)) for n in range(6)
    ]
    first_path = write(tmp_path, "a.zip", utf16_tab_zip(rows[:4]))
    second_path = write(tmp_path, "b.zip", utf16_tab_zip(rows[2:]))
    seen = second_waits_for_first(
        lambda: load_extract(first_path, CENTRAL), lambda: load_second(second_path)
    )

    assert seen.second_waited
    assert seen.errors == []
    results = seen.results
    assert (results["first"].added, results["second"].added) == (4, 2)
    assert ExtractedConversion.objects.count() == 6


def test_an_id_too_large_after_a_stored_row_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # COPY stores rows a thousand at a time, once parsed: the stored row
    # must be refused before the bad ID is parsed.
    rows = [
        row(subscriber_id=151496521, event_date=T0),
        *(row(subscriber_id=n, event_date=T0) for n in range(2, 1502)),
        row(subscriber_id=1502, event_date=T0, URLID=str(MAX_ID + 1)),
    ]
    load_extract(write(tmp_path, "a.zip", utf16_tab_zip(rows[:1])), CENTRAL)

    with (
        caplog.at_level(logging.INFO, logger="conversion_tracking.loading"),
        pytest.raises(ExtractError) as caught,
    ):
        load_extract(write(tmp_path, "b.zip", utf16_tab_zip(rows)), CENTRAL)

    assert str(caught.value).startswith(expected_start(1503, "URLID", "not an ID"))
    assert ExtractedConversion.objects.count() == 1
    assert "repeats stored rows" in caplog.text
    assert "holds a value PostgreSQL refuses" in caplog.text
    # The log names neither the stored subscriber nor the refused value.
    assert "151496521" not in caplog.text
    assert str(MAX_ID + 1) not in caplog.text
