"""Builders of Tracking Extract files as MCE writes them, for the tests."""

from __future__ import annotations

import codecs
import io
import sys
import zipfile
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

# Python 3.10's csv module refuses a line that holds a NUL anywhere in it
# ("line contains NUL"); from 3.11 on it reads the line, so the reader can name
# the column of a NUL it keeps and ignore one in a column it does not read.
CSV_READS_NUL = sys.version_info >= (3, 11)
NUL_PROBLEM = "contains a NUL character"


def expected_start(line: int, column: str, problem: str) -> str:
    """How the error about a bad ``problem`` in ``column`` on ``line`` starts."""
    if problem == NUL_PROBLEM and not CSV_READS_NUL:
        return f"Line {line}: Not valid CSV: line contains NUL"
    return f"Line {line}, column {column}: {problem}"


CENTRAL = ZoneInfo("Etc/GMT+6")

# The documented columns of Conversions.csv, in MCE's order, plus newer ones.
COLUMNS = (
    "ClientID",
    "SendID",
    "SubscriberKey",
    "EmailAddress",
    "SubscriberID",
    "ListID",
    "EventDate",
    "EventType",
    "BatchID",
    "TriggeredSendExternalKey",
    "LinkAlias",
    "URLID",
    "ReferringURL",
)

# The other files a Data Extract Activity writes beside Conversions.csv.
OTHER_FILES = {
    "Sent.csv": "ClientID,SendID,SubscriberKey,SubscriberID,EventDate\r\n",
    "Clicks.csv": "ClientID,SendID,SubscriberID,EventDate,URL\r\n",
    "Opens.csv": "ClientID,SendID,SubscriberID,EventDate\r\n",
}


def event_date_text(moment: datetime, zone: ZoneInfo = CENTRAL) -> str:
    """``moment`` as MCE writes ``EventDate``: ``11/26/2026 3:04:05 PM``."""
    local = moment.astimezone(zone)
    hour = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    return (
        f"{local.month}/{local.day}/{local.year} "
        f"{hour}:{local.minute:02d}:{local.second:02d} {meridiem}"
    )


def row(
    *,
    member_id: int = 6421787,
    job_id: int = 2027714,
    subscriber_id: int = 151496521,
    batch_id: int | str = 1,
    event_date: datetime | str,
    email: str = "ann@example.com",
    **extra: str,
) -> dict[str, str]:
    """One row of Conversions.csv, as text by column name."""
    when = event_date if isinstance(event_date, str) else event_date_text(event_date)
    values = {
        "ClientID": str(member_id),
        "SendID": str(job_id),
        "SubscriberKey": f"key-{subscriber_id}",
        "EmailAddress": email,
        "SubscriberID": str(subscriber_id),
        "ListID": "1940",
        "EventDate": when,
        "EventType": "Conversion",
        "BatchID": str(batch_id),
        "TriggeredSendExternalKey": "",
        "LinkAlias": "Signup",
        "URLID": "55981221",
        "ReferringURL": "https://www.example.com/thanks/",
    }
    values.update(extra)
    return values


def csv_text(
    rows: Iterable[Mapping[str, str]],
    *,
    columns: Iterable[str] = COLUMNS,
    delimiter: str = "\t",
    quoted: bool = False,
) -> str:
    """The text of a conversions file with a header line, CRLF line ends."""
    names = list(columns)

    def cell(value: str) -> str:
        if not quoted:
            return value
        return '"' + value.replace('"', '""') + '"'

    lines = [delimiter.join(cell(name) for name in names)]
    lines.extend(delimiter.join(cell(r.get(name, "")) for name in names) for r in rows)
    return "\r\n".join(lines) + "\r\n"


def encode(text: str, encoding: str = "utf-16-le") -> bytes:
    """``text`` as bytes with the byte order mark MCE writes for ``encoding``."""
    if encoding == "utf-16-le":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    if encoding == "utf-16-be":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    if encoding == "utf-8-sig":
        return text.encode("utf-8-sig")
    return text.encode(encoding)


def zipped(
    conversions: bytes,
    *,
    name: str = "Conversions.csv",
    others: Mapping[str, str] = OTHER_FILES,
) -> bytes:
    """A ZIP as a Data Extract Activity writes it, with ``conversions`` inside.

    Every member carries the same fixed time, so the same arguments always give
    the same bytes (and so the same checksum), however long a test takes.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for other, text in others.items():
            archive.writestr(member(other), encode(text))
        archive.writestr(member(name), conversions)
    return buffer.getvalue()


def member(name: str) -> zipfile.ZipInfo:
    """A ZIP member named ``name``, deflated, dated at a fixed time."""
    info = zipfile.ZipInfo(name, date_time=(2026, 11, 27, 6, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def utf16_tab_zip(rows: Iterable[Mapping[str, str]], **options: str) -> bytes:
    """The commonest shape: a ZIP holding UTF-16 tab-delimited files."""
    return zipped(encode(csv_text(rows, delimiter="\t")), **options)  # type: ignore[arg-type]


def utf8_comma_csv(rows: Iterable[Mapping[str, str]], *, quoted: bool = True) -> bytes:
    """A bare conversions file, UTF-8 without BOM, comma-delimited."""
    return encode(csv_text(rows, delimiter=",", quoted=quoted), "utf-8")


def write(directory: Path, name: str, content: bytes) -> Path:
    path = directory / name
    path.write_bytes(content)
    return path
