"""Loading an extract into PostgreSQL fast: its cells as text, checked in SQL.

Parsing every row in Python costs as much as storing it, so this path sends
only the cells of the columns read, as text, by ``COPY`` into a temporary
table; while Python reads on, the server derives typed IDs, the fingerprint,
and each date's hour and clock. Dates keep the semantics of
:class:`~conversion_tracking.extract_values.DateParser`, which converts the
file's few distinct hours to UTC; the rows join those and the 3,600 clock
readings of an hour.

Whatever this path has not checked raises :class:`FastLoadRefused`: the caller
rolls back to a savepoint and reads the file in Python, which names the line
and column of a bad value, or loads what is left to it (an hour in which the
zone's offset shifts, an ID written with leading zeros).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from operator import itemgetter

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper

from conversion_tracking.extract import BATCH_SIZE, ExtractError, ExtractReader
from conversion_tracking.extract_values import DateParser
from conversion_tracking.loading import LoadResult, Progress
from conversion_tracking.loading_sql import add_new_rows
from conversion_tracking.loading_stage import CLOCK, HOURS, STAGE, Stage

# A Tracking Extract covers 90 days at most: 2,160 hours. Far more distinct
# hours means the EventDate cells are not dates, and Python will say where.
MAX_HOURS = 10_000
# COPY's text format gives these four characters a meaning of their own.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class FastLoadRefused(Exception):
    """The fast path cannot vouch for the file: read it in Python instead."""


def load_cells(reader: ExtractReader, progress: Progress | None) -> LoadResult:
    """Store the rows of ``reader`` that the table lacks, checked in SQL.

    Raises :class:`FastLoadRefused` for anything it has not checked; the
    caller's savepoint must then roll back what it did.
    """
    stage = Stage(list(reader.columns))
    result = LoadResult()
    with connection.cursor() as cursor:
        stage.create(cursor, reader.date_parser)
        try:
            rows = _send_cells(cursor, reader, stage, progress)
        except psycopg.DataError as exc:
            raise FastLoadRefused("a cell is not an ID, or too large a one") from exc
        except ExtractError as exc:
            # Read again in Python, the file shows whichever problem comes
            # first: a bad value may come before this one.
            raise FastLoadRefused("the file cannot be read to its end") from exc
        if rows:
            first, last = _convert_hours(cursor, stage, reader.date_parser)
            added = add_new_rows(cursor, stage.typed_rows(), first, last)
            result = LoadResult(rows, added, first, last)
        cursor.execute(f"DROP TABLE {STAGE}, {HOURS}, {CLOCK}")
    return result


def _send_cells(
    cursor: CursorWrapper,
    reader: ExtractReader,
    stage: Stage,
    progress: Progress | None,
) -> int:
    pick = itemgetter(*(reader.columns[field] for field in stage.fields))
    separators = len(stage.fields) - 1
    # Cells are joined by NUL, which no cell may hold: a chunk with more NULs
    # than separators is refused, and any other splits back into its cells.
    # Only the joined text of a row outlives the row: thousands of rows held
    # as lists would keep the garbage collector busy.
    lines = map("\x00".join, map(pick, _full_rows(reader)))
    rows = 0
    columns = ", ".join(stage.cell(field) for field in stage.fields)
    with cursor.cursor.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as copy:
        while chunk := list(islice(lines, BATCH_SIZE)):
            text = "\n".join(chunk) + "\n"
            if text.count("\x00") != separators * len(chunk):
                raise FastLoadRefused("a cell holds a NUL character")
            if _plain(text, len(chunk)):
                text = text.replace("\x00", "\t")
            else:
                text = "\n".join(map(_escaped, chunk)) + "\n"
            copy.write(text.encode())
            rows += len(chunk)
            if progress is not None:
                progress(rows)
    return rows


def _full_rows(reader: ExtractReader) -> Iterator[list[str]]:
    width = reader.width
    for cells in reader.cells():
        if len(cells) < width:
            raise FastLoadRefused("a row has fewer values than the header")
        yield cells


def _plain(text: str, rows: int) -> bool:
    """Whether no cell in ``text`` holds a character that COPY's text format
    treats specially."""
    return (
        text.count("\n") == rows
        and "\t" not in text
        and "\\" not in text
        and "\r" not in text
    )


def _escaped(line: str) -> str:
    return "\t".join(cell.translate(_COPY_ESCAPES) for cell in line.split("\x00"))


def _convert_hours(
    cursor: CursorWrapper, stage: Stage, parser: DateParser
) -> tuple[datetime, datetime]:
    """Check every row, and convert the distinct hours to UTC in Python.

    Returns the first and last event date of the staged rows.
    """
    cursor.execute(
        'SELECT hour, min(clock COLLATE "C"), max(clock COLLATE "C"), '  # noqa: S608
        f"bool_and({stage.checks()}) FROM {STAGE} GROUP BY hour LIMIT %s",
        [MAX_HOURS + 1],
    )
    found = cursor.fetchall()
    if len(found) > MAX_HOURS:
        raise FastLoadRefused("too many distinct hours")
    if not all(valid for *_, valid in found):
        raise FastLoadRefused("a value that is not an ID, too long, or no time")
    starts = {hour: _hour_start(parser, hour) for hour, *_ in found}
    cursor.execute(
        f"INSERT INTO {HOURS} SELECT * FROM unnest(%s::text[], %s::timestamptz[])",  # noqa: S608
        [list(starts), list(starts.values())],
    )
    clock = parser.clock
    first = min(starts[hour] + clock[earliest] for hour, earliest, _, _ in found)
    last = max(starts[hour] + clock[latest] for hour, _, latest, _ in found)
    return first, last


def _hour_start(parser: DateParser, hour: str) -> datetime:
    """The UTC start of ``hour`` (as the parser keys it), if the parser takes
    it and the zone's offset stays the same all through it."""
    try:
        # Minute 0 of the hour: parsing it caches the hour's start.
        parser(f"{hour[:-3]}00:00{hour[-3:]}")
    except (ValueError, KeyError, OverflowError):
        raise FastLoadRefused("a date the parser does not take") from None
    start = parser.hours.get(hour)
    if start is None:
        raise FastLoadRefused("an hour in which the offset shifts")
    return start
