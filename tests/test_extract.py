"""Reading Tracking Extracts: formats, columns, values, and every bad input."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conversion_tracking.extract import ExtractError, ExtractRow, open_extract
from conversion_tracking.extract_archive import MAX_LINE_LENGTH, detect_encoding
from conversion_tracking.extract_values import DateParser, check_identifier
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
    zipped,
)

MOMENT = datetime(2026, 11, 26, 21, 4, 5, tzinfo=timezone.utc)  # 3:04:05 PM CST


def read_all(path: Path, zone: ZoneInfo = CENTRAL, **options: bool) -> list[ExtractRow]:
    with open_extract(path, zone, **options) as reader:
        return [item for batch in reader.batches() for item in batch]


def read_error(path: Path) -> ExtractError:
    with pytest.raises(ExtractError) as caught:
        read_all(path)
    return caught.value


def test_utf16_tab_zip_beside_other_files(tmp_path: Path) -> None:
    content = utf16_tab_zip(
        [row(event_date=MOMENT), row(subscriber_id=7, batch_id="", event_date=MOMENT)]
    )
    rows = read_all(write(tmp_path, "extract.zip", content))
    assert len(rows) == 2
    first = rows[0]
    assert (first.member_id, first.job_id, first.subscriber_id) == (
        6421787,
        2027714,
        151496521,
    )
    assert first.batch_id == 1
    assert first.event_date == MOMENT
    assert first.event_date.utcoffset() is not None
    assert first.subscriber_key == "key-151496521"
    assert first.list_id == "1940"
    assert first.event_type == "Conversion"
    assert first.link_alias == "Signup"
    assert first.url_id == 55981221
    assert first.referring_url == "https://www.example.com/thanks/"
    assert first.email_address == ""
    assert rows[1].batch_id is None
    assert rows[1].subscriber_id == 7


def test_email_address_is_read_only_when_asked_for(tmp_path: Path) -> None:
    path = write(tmp_path, "c.zip", utf16_tab_zip([row(event_date=MOMENT)]))
    assert read_all(path, keep_email=True)[0].email_address == "ann@example.com"
    assert read_all(path)[0].email_address == ""


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("quoted", [True, False])
@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_encodings_delimiters_and_quoting(
    tmp_path: Path, encoding: str, quoted: bool, delimiter: str
) -> None:
    text = csv_text(
        [row(event_date=MOMENT, LinkAlias='Sign "up", now')],
        delimiter=delimiter,
        quoted=quoted or delimiter == ",",
    )
    rows = read_all(write(tmp_path, "Conversions.csv", encode(text, encoding)))
    assert rows[0].event_date == MOMENT
    assert rows[0].link_alias == 'Sign "up", now'


def test_utf16_without_byte_order_mark(tmp_path: Path) -> None:
    text = csv_text([row(event_date=MOMENT)])
    for encoding in ("utf-16-le", "utf-16-be"):
        path = write(tmp_path, "Conversions.csv", text.encode(encoding))
        assert read_all(path)[0].event_date == MOMENT


def test_unknown_columns_are_ignored_and_headers_matched_loosely(
    tmp_path: Path,
) -> None:
    columns = [" clientid ", "Send ID", "SUBSCRIBERID", "batchid", "EventDate", "Extra"]
    values = {
        " clientid ": "1",
        "Send ID": "2",
        "SUBSCRIBERID": "3",
        "batchid": "4",
        "EventDate": "1/2/2026 12:00:00 AM",
        "Extra": "whatever",
    }
    content = utf8_comma_csv([values], quoted=False).replace(
        b"clientid,", b"clientid ,", 1
    )
    text = csv_text([values], columns=columns, delimiter=",")
    path = write(tmp_path, "Conversions.csv", text.encode())
    (only,) = read_all(path)
    assert (only.member_id, only.job_id, only.subscriber_id, only.batch_id) == (
        1,
        2,
        3,
        4,
    )
    assert only.event_date == datetime(2026, 1, 2, 6, tzinfo=timezone.utc)
    assert only.url_id is None
    assert only.subscriber_key == only.link_alias == ""
    assert content


def test_alias_columns(tmp_path: Path) -> None:
    columns = (*COLUMNS[:9], "TriggeredSendCustomerKey", "Alias", "LinkID", "URL")
    values = row(
        event_date=MOMENT,
        TriggeredSendCustomerKey="welcome",
        Alias="Order",
        LinkID="42",
        URL="https://www.example.com/offer/",
    )
    text = csv_text([values], columns=columns)
    (only,) = read_all(write(tmp_path, "c.zip", zipped(encode(text))))
    assert only.triggered_send_key == "welcome"
    assert only.link_alias == "Order"
    assert only.url_id == 42
    assert only.url == "https://www.example.com/offer/"


def test_conversions_file_found_in_a_folder_whatever_its_case(tmp_path: Path) -> None:
    content = zipped(
        encode(csv_text([row(event_date=MOMENT)])), name="export/CONVERSIONS.CSV"
    )
    with open_extract(write(tmp_path, "x.zip", content), CENTRAL) as reader:
        assert reader.name == "export/CONVERSIONS.CSV"
        assert sum(len(batch) for batch in reader.batches()) == 1


def test_rows_come_in_batches_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    text = csv_text([row(subscriber_id=n, event_date=MOMENT) for n in range(5)])
    text = text.replace("\r\n", "\r\n\r\n", 2)
    path = write(tmp_path, "Conversions.csv", encode(text))
    with open_extract(path, CENTRAL) as reader:
        sizes = [len(batch) for batch in reader.batches(size=2)]
    assert sizes == [2, 2, 1]


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "Conversions.csv", encode(csv_text([])))
    assert read_all(path) == []


def test_fingerprint_ignores_format_and_email_but_not_values(tmp_path: Path) -> None:
    zip_rows = read_all(
        write(tmp_path, "a.zip", utf16_tab_zip([row(event_date=MOMENT)]))
    )
    csv_rows = read_all(
        write(
            tmp_path,
            "b.csv",
            utf8_comma_csv([row(event_date=MOMENT, email="other@example.com")]),
        )
    )
    later = read_all(
        write(
            tmp_path,
            "c.csv",
            utf8_comma_csv([row(event_date=MOMENT.replace(second=6))]),
        )
    )
    other_alias = read_all(
        write(
            tmp_path, "d.csv", utf8_comma_csv([row(event_date=MOMENT, LinkAlias="B")])
        )
    )
    assert zip_rows[0].fingerprint == csv_rows[0].fingerprint
    assert other_alias[0].fingerprint != zip_rows[0].fingerprint
    assert later[0][:4] != zip_rows[0][:4]


def test_quoted_field_over_several_lines_counts_physical_lines(tmp_path: Path) -> None:
    text = csv_text(
        [
            row(event_date=MOMENT, ReferringURL="first\r\nsecond"),
            row(event_date="not a date"),
        ],
        delimiter=",",
        quoted=True,
    )
    error = read_error(write(tmp_path, "Conversions.csv", text.encode()))
    assert (error.line, error.column) == (4, "EventDate")


@pytest.mark.parametrize(
    ("values", "column", "problem"),
    [
        ({"EventDate": "26/11/2026 3:04:05 PM"}, "EventDate", "not a date"),
        ({"EventDate": "11/26/2026 15:04:05"}, "EventDate", "not a date"),
        ({"EventDate": "11/26/2026 13:04:05 PM"}, "EventDate", "not a date"),
        ({"EventDate": "11/26/2026 3:04:60 PM"}, "EventDate", "not a date"),
        ({"EventDate": "11/26/2026 3:04:05 XM"}, "EventDate", "not a date"),
        ({"EventDate": "11/26/1800 3:04:05 PM"}, "EventDate", "not a date"),
        ({"EventDate": "11/26/2026 3:4:05 PM"}, "EventDate", "not a date"),
        ({"EventDate": ""}, "EventDate", "not a date"),
        ({"SendID": "20277x4"}, "SendID", "not an ID"),
        ({"ClientID": ""}, "ClientID", "empty, where an ID is required"),
        ({"SubscriberID": "١٢٣"}, "SubscriberID", "not an ID"),
        ({"SubscriberID": "-5"}, "SubscriberID", "not an ID"),
        ({"BatchID": "one"}, "BatchID", "not an ID"),
        ({"URLID": "9" * 20}, "URLID", "not an ID"),
        ({"ClientID": "9" * 19}, "ClientID", "not an ID"),
        ({"EventDate": "12/31/9999 11:00:00 PM"}, "EventDate", "not a date"),
        ({"SubscriberKey": "k" * 256}, "SubscriberKey", "longer than 255"),
        ({"SubscriberKey": "k" * 255 + " "}, "SubscriberKey", "longer than 255"),
        ({"LinkAlias": "a\x00b"}, "LinkAlias", NUL_PROBLEM),
        ({"ReferringURL": "\x00"}, "ReferringURL", NUL_PROBLEM),
    ],
)
def test_bad_values_name_their_line_and_column(
    tmp_path: Path, values: dict[str, str], column: str, problem: str
) -> None:
    rows = [
        row(event_date=MOMENT),
        row(event_date=MOMENT),
        row(event_date=MOMENT, **values),
    ]
    error = read_error(write(tmp_path, "c.zip", utf16_tab_zip(rows)))
    assert error.line == 4
    assert str(error).startswith(expected_start(4, column, problem))


def test_email_address_not_kept_is_not_checked(tmp_path: Path) -> None:
    rows = [
        row(event_date=MOMENT, email="x" * 300 + ("\x00" if CSV_READS_NUL else "")),
        row(event_date=MOMENT, email="x" * 300, LinkAlias="a" * 256),
    ]
    path = write(tmp_path, "c.zip", utf16_tab_zip(rows))
    error = read_error(path)
    assert (error.line, error.column) == (3, "LinkAlias")
    with pytest.raises(ExtractError) as caught:
        read_all(path, keep_email=True)
    assert (caught.value.line, caught.value.column) == (2, "EmailAddress")
    assert "longer than 255" in caught.value.message


def test_short_row(tmp_path: Path) -> None:
    text = csv_text([row(event_date=MOMENT)]) + "6421787\t2027714\r\n"
    error = read_error(write(tmp_path, "Conversions.csv", encode(text)))
    assert error.line == 3
    assert error.column is None
    assert f"2 values where the header names {len(COLUMNS)}" in str(error)


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    columns = [name for name in COLUMNS if name not in ("SendID", "BatchID")]
    text = csv_text([row(event_date=MOMENT)], columns=columns)
    error = read_error(write(tmp_path, "c.zip", zipped(encode(text))))
    assert error.line == 1
    assert "SendID, BatchID" in str(error)
    assert str(error).startswith("Line 1: Conversions.csv lacks")


def test_a_file_with_no_known_column(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.csv", b"Name,Amount\r\nAnn,3\r\n")
    assert "not the conversions file" in str(read_error(path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"\xef\xbb\xbf", "Line 1: Conversions.csv is empty"),
        (b"\r\n\r\n", "Line 1: Conversions.csv is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "neither a ZIP file nor a CSV"),
        (b"ClientID,SendID\r\n\xff\xfe\xfa", "not valid utf-8 text"),
    ],
)
def test_files_that_are_not_extracts(
    tmp_path: Path, content: bytes, message: str
) -> None:
    assert message in str(read_error(write(tmp_path, "Conversions.csv", content)))


def test_overlong_line(tmp_path: Path) -> None:
    text = csv_text([row(event_date=MOMENT, ReferringURL="x" * MAX_LINE_LENGTH)])
    error = read_error(write(tmp_path, "Conversions.csv", text.encode()))
    assert error.line == 2
    assert "longer than" in str(error)


def test_field_larger_than_the_csv_limit(tmp_path: Path) -> None:
    huge = "\r\n".join(["y" * 60_000] * 3)
    text = csv_text([row(event_date=MOMENT, ReferringURL=huge)], quoted=True)
    error = read_error(write(tmp_path, "Conversions.csv", text.encode()))
    assert "Not valid CSV" in str(error)
    assert error.line == 4


def test_zip_without_conversions(tmp_path: Path) -> None:
    content = zipped(b"", name="Bounces.csv")
    message = str(read_error(write(tmp_path, "x.zip", content)))
    assert "holds no Conversions.csv" in message
    assert "Sent.csv" in message
    assert "Bounces.csv" in message


def test_empty_zip(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    message = str(read_error(write(tmp_path, "x.zip", buffer.getvalue())))
    assert "holds no Conversions.csv (it holds: nothing)" in message


def test_zip_with_two_conversions_files(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a/Conversions.csv", b"x")
        archive.writestr("b/conversions.csv", b"x")
    message = str(read_error(write(tmp_path, "x.zip", buffer.getvalue())))
    assert "more than one conversions file" in message


def test_truncated_zip(tmp_path: Path) -> None:
    content = utf16_tab_zip([row(event_date=MOMENT)] * 50)
    error = read_error(write(tmp_path, "x.zip", content[: len(content) // 2]))
    assert "damaged or truncated" in str(error)


def test_corrupted_member_stops_while_reading(tmp_path: Path) -> None:
    text = csv_text([row(subscriber_id=n, event_date=MOMENT) for n in range(200)])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("Conversions.csv", text.encode())
    content = bytearray(buffer.getvalue())
    position = content.rindex(b"151496521"[:0] + b"\t199\t")
    content[position + 1] = ord("8")
    error = read_error(write(tmp_path, "x.zip", bytes(content)))
    assert "damaged or truncated" in str(error)
    assert "CRC" in str(error)


def test_deflate_stream_cut_short(tmp_path: Path) -> None:
    text = csv_text([row(subscriber_id=n, event_date=MOMENT) for n in range(2000)])
    content = bytearray(zipped(encode(text), others={}))
    info = zipfile.ZipFile(io.BytesIO(bytes(content))).getinfo("Conversions.csv")
    start = info.header_offset + 30 + len(info.filename)
    middle = start + info.compress_size // 2
    content[middle : middle + 64] = bytes(64)
    # Inflating garbage fails somewhere: in zlib, in decoding, or in a row.
    read_error(write(tmp_path, "x.zip", bytes(content)))


def test_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Conversions.csv", b"0" * (40 * 1024 * 1024))
    assert len(buffer.getvalue()) < 200_000
    message = str(read_error(write(tmp_path, "bomb.zip", buffer.getvalue())))
    assert "far more than a CSV file compresses" in message


def test_detect_encoding() -> None:
    assert detect_encoding(b"\xff\xfeC\x00") == "utf-16"
    assert detect_encoding(b"\xfe\xff\x00C") == "utf-16"
    assert detect_encoding(b"\xef\xbb\xbfClientID") == "utf-8-sig"
    assert detect_encoding(b"C\x00l\x00") == "utf-16-le"
    assert detect_encoding(b"\x00C\x00l") == "utf-16-be"
    assert detect_encoding(b"ClientID") == "utf-8"
    assert detect_encoding(b"C") == "utf-8"
    with pytest.raises(ExtractError):
        detect_encoding(b"\x00\x00\x00\x01")


def test_date_parser_clock_and_zones() -> None:
    central = DateParser(CENTRAL)
    assert central("1/2/2026 12:00:00 AM") == datetime(
        2026, 1, 2, 6, tzinfo=timezone.utc
    )
    assert central("1/2/2026 12:30:09 PM") == datetime(
        2026, 1, 2, 18, 30, 9, tzinfo=timezone.utc
    )
    assert central("1/2/2026 11:59:59 PM") == datetime(
        2026, 1, 3, 5, 59, 59, tzinfo=timezone.utc
    )
    chicago = DateParser(ZoneInfo("America/Chicago"))
    assert chicago("7/1/2026 3:04:05 PM") == datetime(
        2026, 7, 1, 20, 4, 5, tzinfo=timezone.utc
    )
    assert chicago("7/1/2026 3:04:06 PM") == datetime(
        2026, 7, 1, 20, 4, 6, tzinfo=timezone.utc
    )
    for bad in ("2/30/2026 1:00:00 AM", "1/2/2026 0:00:00 AM", "1/2/2026 1:00 AM"):
        with pytest.raises((ValueError, KeyError)):
            central(bad)


def test_date_parser_hour_whose_offset_shifts() -> None:
    # Lord Howe Island moves its clocks by 30 minutes, at 2:00 AM local time:
    # within that hour each minute is converted on its own, like any other.
    zone = ZoneInfo("Australia/Lord_Howe")
    parse = DateParser(zone)
    for text, local in (
        ("10/4/2026 2:10:00 AM", datetime(2026, 10, 4, 2, 10)),
        ("10/4/2026 2:45:30 AM", datetime(2026, 10, 4, 2, 45, 30)),
        ("10/4/2026 2:45:31 AM", datetime(2026, 10, 4, 2, 45, 31)),
        ("10/4/2026 3:45:31 AM", datetime(2026, 10, 4, 3, 45, 31)),
        ("10/4/2026 3:05:00 AM", datetime(2026, 10, 4, 3, 5)),
    ):
        expected = local.replace(tzinfo=zone).astimezone(timezone.utc)
        assert parse(text) == expected
    assert parse("10/4/2026 2:45:30 AM") - parse("10/4/2026 2:10:00 AM") == (
        timedelta(minutes=5, seconds=30)
    )
    with pytest.raises(KeyError):
        parse("10/4/2026 2:60:00 AM")
    for bad, reason in (
        ("1/x/2026 1:00:00 AM", "x"),
        ("13/1/2026 1:00:00 AM", "month"),
        ("1/1/1899 1:00:00 AM", "1899"),
    ):
        with pytest.raises(ValueError, match=reason):
            parse(bad)


def test_required_id_may_not_be_empty() -> None:
    with pytest.raises(ValueError, match="required"):
        check_identifier("", required=True)
    check_identifier("", required=False)
