"""Loading an extract into PostgreSQL: each row checked in Python, sent as text.

Every row passes the checks of :mod:`~conversion_tracking.extract`, then goes
straight into a line for ``COPY`` (its CSV format, tab-delimited), without the
objects a parsed row needs: the IDs stay the digits the file has, the event
date is the start of its hour in UTC (converted once per hour by the reader's
date parser) followed by the row's minutes and seconds, and the fingerprint
is the CRC-32 a parsed row gets. While Python builds the next lines, the
server stores these, so the work is shared by two cores. An ID too large for
64 bits is the one check left to the server: :class:`ValueRefused` then asks
the caller to read the file again with the reader's parser, which names it.

The lines go straight into the table. Should its unique key refuse one (the
file repeats a row, overlaps an earlier import, or a concurrent import stored
the same rows), :class:`RowsStored` asks the caller to roll back to its
savepoint and read the file again ``through_table``: the lines then wait in a
temporary table, and one ``INSERT`` adds the rows the table lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from itertools import islice
from operator import itemgetter

import psycopg
from django.db import connection

from conversion_tracking.extract import BATCH_SIZE, ExtractReader, fingerprinter
from conversion_tracking.extract_columns import (
    ID_FIELDS,
    TEXT_FIELDS,
    ExtractRow,
)
from conversion_tracking.loading import LoadResult, Progress, quoted, table
from conversion_tracking.loading_sql import LOAD, add_new_rows

# In COPY's CSV format only a tab, a line break, a return and the double
# quote need quoting; an empty ID is NULL, while an empty text (its column
# listed in FORCE_NOT_NULL) stays empty.
_FIRST_TEXT = ExtractRow._fields.index(TEXT_FIELDS[0])
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class RowsStored(Exception):
    """The table holds a row of the file: read it again ``through_table``."""


class ValueRefused(Exception):
    """PostgreSQL refused a value Python let through (an ID too large for 64
    bits): read the file again with the reader's parser, which names it."""


def copy_extract(
    reader: ExtractReader, progress: Progress | None, *, through_table: bool = False
) -> LoadResult:
    """Store the rows of ``reader``, by ``COPY``; return what was seen.

    Straight into the table, raising :class:`RowsStored` if it holds one of
    them; or ``through_table``, adding only the rows the table lacks. Either
    way, run it in a savepoint: a bad value raises ``ExtractError`` (naming
    its line and column) after some rows went in.
    """
    columns = ", ".join(quoted(field) for field in ExtractRow._fields)
    lines = _Lines(reader)
    with connection.cursor() as cursor:
        target = table()
        if through_table:
            cursor.execute(
                f"CREATE TEMPORARY TABLE {LOAD} ON COMMIT DROP AS "  # noqa: S608
                f"SELECT {columns} FROM {table()} WITH NO DATA"
            )
            target = LOAD
        texts = ", ".join(quoted(field) for field in TEXT_FIELDS)
        sql = (
            f"COPY {target} ({columns}) FROM STDIN "
            f"(FORMAT csv, DELIMITER E'\\t', FORCE_NOT_NULL ({texts}))"
        )
        try:
            with cursor.cursor.copy(sql) as copy:
                for chunk in lines.chunks():
                    copy.write(chunk)
                    if progress is not None:
                        progress(lines.rows)
        # Neither says which row: the key and the value would name a subscriber.
        except psycopg.errors.UniqueViolation:
            raise RowsStored from None
        except psycopg.DataError:
            raise ValueRefused from None
        result = lines.result()
        if through_table:
            if result.first_event and result.last_event:
                result.added = add_new_rows(
                    cursor,
                    f"SELECT {columns}, ctid FROM {LOAD}",  # noqa: S608
                    result.first_event,
                    result.last_event,
                )
            cursor.execute(f"DROP TABLE {LOAD}")
        elif result.rows:
            result.added = result.rows
            # Fresh statistics, or the planner reconciles a million new rows
            # as if the table were still empty.
            cursor.execute(f"ANALYZE {table()}")
    return result


class _Lines:
    """The rows of a reader as chunks of ``COPY`` text, and what they held."""

    def __init__(self, reader: ExtractReader) -> None:
        self.reader = reader
        self.rows = 0
        # The earliest and latest event dates, as UTC text that sorts as the
        # dates do ("~" sorts after any); the line maker keeps them.
        self.span = ["~", ""]

    def chunks(self) -> Iterator[bytes]:
        lines = map(_line_maker(self.reader, self.span), self.reader.cells())
        # Only the line of a row outlives the row: thousands of rows held as
        # lists would keep the garbage collector busy.
        while chunk := list(islice(lines, BATCH_SIZE)):
            self.rows += len(chunk)
            text = "\n".join(chunk) + "\n"
            # Values are joined by NUL, which none may hold, and checked for
            # the whole chunk at once: if none holds a character that CSV
            # quotes, NUL becomes the tab; else every text is quoted.
            if (
                "\t" in text
                or text.count("\n") != len(chunk)
                or '"' in text
                or "\r" in text
            ):
                text = "\n".join(map(_quoted, chunk)) + "\n"
            else:
                text = text.replace("\x00", "\t")
            yield text.encode()

    def result(self) -> LoadResult:
        if not self.rows:
            return LoadResult()
        first, last = (
            datetime.strptime(text, _DATE_FORMAT).replace(tzinfo=timezone.utc)
            for text in self.span
        )
        return LoadResult(self.rows, 0, first, last)


def _line_maker(reader: ExtractReader, span: list[str]) -> Callable[[list[str]], str]:
    """A function from a row's cells to its line (values joined by NUL, in
    the order of :class:`ExtractRow`) that widens ``span`` (the first and last
    event date, as text) to the row's.

    It makes the checks of the reader's row parser (but for the size of an
    ID, left to PostgreSQL); when one fails, it raises the reader's diagnosis
    of the row: an ``ExtractError`` naming its line and column.
    """
    index = reader.columns
    width = reader.width
    parse_date = reader.date_parser
    get_ids = itemgetter(*(index.get(field, -1) for field in ID_FIELDS))
    date_at = index["event_date"]
    get_texts = itemgetter(*(index.get(field, -1) for field in TEXT_FIELDS))
    fingerprint = fingerprinter(index)
    clock = parse_date.clock
    # The UTC text of each hour's start, up to its minutes ("2026-11-26
    # 21:"), for the hours that start on a whole UTC hour.
    hours: dict[str, str] = {}

    def utc_text(date: str, hour: str) -> str:
        moment = parse_date(date)
        start = parse_date.hours.get(hour)
        if start is not None and not start.minute and not start.second:
            hours[hour] = start.strftime("%Y-%m-%d %H:")
        return moment.strftime(_DATE_FORMAT)

    def line(cells: list[str]) -> str:
        try:
            cells.append("")
            if len(cells) <= width:
                raise IndexError
            member, job, subscriber, batch, url = get_ids(cells)
            digits = member + job + subscriber + batch + url
            if not (
                member and job and subscriber and digits.isascii() and digits.isdigit()
            ):
                raise ValueError
            date = cells[date_at]
            hour = date[:-8] + date[-3:]
            minutes = date[-8:-3]
            start = hours.get(hour)
            if start is None or minutes not in clock:
                when = utc_text(date, hour)
            else:
                when = start + minutes
            if when < span[0]:
                span[0] = when
            if when > span[1]:
                span[1] = when
            return (
                f"{member}\0{job}\0{subscriber}\0{when}+00\0{fingerprint(cells)}\0"
                f"{batch}\0{url}\0" + "\0".join(get_texts(cells))
            )
        except (ValueError, IndexError, KeyError, OverflowError):
            raise reader.diagnose(cells) from None

    return line


def _quoted(line: str) -> str:
    """``line`` with its values joined by tabs, and its texts quoted (the
    values before them are digits and dates)."""
    values = line.split("\0")
    texts = ['"' + text.replace('"', '""') + '"' for text in values[_FIRST_TEXT:]]
    return "\t".join(values[:_FIRST_TEXT] + texts)
