"""Reading the conversions of a Tracking Extract, row by row, in batches.

Columns are found by header name (unknown ones ignored), values are checked
and converted once here, and every problem is an :class:`ExtractError` naming
the line (the header is line 1) and the column. Nothing here knows about models.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import tzinfo
from operator import itemgetter
from pathlib import Path
from typing import IO
from zlib import crc32

from conversion_tracking.extract_archive import ExtractError, open_text, read_lines
from conversion_tracking.extract_columns import (
    BOUNDED_FIELDS,
    ID_FIELDS,
    OPTIONAL_IDS,
    TEXT_FIELDS,
    ExtractRow,
    map_columns,
)
from conversion_tracking.extract_values import (
    MAX_ID,
    MAX_TEXT_LENGTH,
    DateParser,
    check_identifier,
)

__all__ = ["ExtractError", "ExtractReader", "ExtractRow", "open_extract"]

BATCH_SIZE = 5000


class ExtractReader:
    """The rows of one conversions file, read once, in batches."""

    def __init__(
        self, name: str, text: IO[str], zone: tzinfo, *, keep_email: bool = False
    ) -> None:
        self.name = name
        self._lines_read = [0]
        lines = read_lines(text, self._lines_read)
        header_line = next(lines, None)
        if header_line is None or not header_line.strip():
            raise ExtractError(f"{name} is empty: it has no header line.", line=1)
        delimiter = "\t" if "\t" in header_line else ","
        header = next(csv.reader([header_line], delimiter=delimiter))
        self.headers = [cell.strip() for cell in header]
        columns = map_columns(self.headers, name)
        if not keep_email:
            columns.pop("email_address", None)
        # The position of each field read, by field name.
        self.columns = columns
        self._rows = csv.reader(lines, delimiter=delimiter)
        self.date_parser = DateParser(zone)

    @property
    def lines_read(self) -> int:
        return self._lines_read[0]

    @property
    def width(self) -> int:
        """The number of columns the header names: no row may have fewer."""
        return len(self.headers)

    def cells(self) -> Iterator[list[str]]:
        """The cells of each row as ``csv`` reads them, blank rows skipped."""
        try:
            for cells in self._rows:
                if cells:
                    yield cells
        except csv.Error as exc:
            raise ExtractError(f"Not valid CSV: {exc}.", line=self.lines_read) from exc

    def batches(self, size: int = BATCH_SIZE) -> Iterator[list[ExtractRow]]:
        """Lists of at most ``size`` rows, until the file ends."""
        parse = _row_parser(self.columns, self.width, self.date_parser)
        batch: list[ExtractRow] = []
        for cells in self.cells():
            try:
                batch.append(parse(cells))
            except (ValueError, IndexError, KeyError, OverflowError):
                raise self.diagnose(cells) from None
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def diagnose(self, cells: list[str]) -> ExtractError:
        """The error of the row ``cells`` (the last one read), which failed a
        check: which value is wrong, in which column, or why the row is."""
        width = self.width
        if len(cells) - 1 < width:
            return ExtractError(
                f"The row has {len(cells) - 1} values where the header names {width}.",
                line=self.lines_read,
            )
        columns = self.columns
        for field in ID_FIELDS:
            if field not in columns:
                continue
            try:
                check_identifier(
                    cells[columns[field]], required=field not in OPTIONAL_IDS
                )
            except ValueError as exc:
                return self._cell_error(field, str(exc))
        try:
            self.date_parser(cells[columns["event_date"]])
        except (ValueError, KeyError, OverflowError):
            return self._cell_error(
                "event_date", "not a date and time like 11/26/2026 3:04:05 PM"
            )
        for field in BOUNDED_FIELDS:
            if len(cells[columns.get(field, -1)]) > MAX_TEXT_LENGTH:
                return self._cell_error(
                    field, f"longer than {MAX_TEXT_LENGTH} characters"
                )
        for field in TEXT_FIELDS:
            if "\x00" in cells[columns.get(field, -1)]:
                return self._cell_error(field, "contains a NUL character")
        return ExtractError("unreadable row", line=self.lines_read)

    def _cell_error(self, field: str, problem: str) -> ExtractError:
        column = self.headers[self.columns[field]]
        return ExtractError(problem, line=self.lines_read, column=column)


def fingerprinter(index: dict[str, int]) -> Callable[[list[str]], int]:
    """A function from a row's cells (an empty one appended, for the columns
    the file lacks) to its fingerprint: the CRC-32 of its values but its IDs,
    its event date and its email address. It raises ``ValueError`` for a
    text too long or holding a NUL, without saying which."""
    email_at = index.get("email_address", -1)
    get_bounded = itemgetter(*(index.get(field, -1) for field in BOUNDED_FIELDS))
    identity = ("member_id", "job_id", "subscriber_id", "event_date", "email_address")
    get_others = itemgetter(
        *(index.get(field, -1) for field in ExtractRow._fields if field not in identity)
    )

    def fingerprint(cells: list[str]) -> int:
        others = "\x1f".join(get_others(cells))
        email = cells[email_at]
        # The bounded values are part of others or are the email address:
        # when those are short, no single one is too long.
        long = len(others) > MAX_TEXT_LENGTH or len(email) > MAX_TEXT_LENGTH
        if long and max(map(len, get_bounded(cells))) > MAX_TEXT_LENGTH:
            raise ValueError
        if "\x00" in others or "\x00" in email:
            raise ValueError
        return crc32(others.encode())

    return fingerprint


def _row_parser(
    index: dict[str, int], width: int, parse_date: DateParser
) -> Callable[[list[str]], ExtractRow]:
    # The path every row takes: each check is cheap and names no column; when
    # one fails, ExtractReader.diagnose looks again to say which. Absent
    # columns sit at -1: each row gets an empty cell appended for them.
    get_ids = itemgetter(*(index.get(field, -1) for field in ID_FIELDS))
    date_at = index["event_date"]
    get_texts = itemgetter(*(index.get(field, -1) for field in TEXT_FIELDS))
    fingerprint = fingerprinter(index)
    new_row = tuple.__new__
    # The date parser's fast path, inlined: a call per row costs more than it.
    cached_hour = parse_date.hours.get
    clock = parse_date.clock
    parse_slowly = parse_date.parse_slowly

    def parse(cells: list[str]) -> ExtractRow:
        cells.append("")
        if len(cells) <= width:
            raise IndexError
        member, job, subscriber, batch, url = get_ids(cells)
        digits = member + job + subscriber + batch + url
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError
        member_id = int(member)
        job_id = int(job)
        subscriber_id = int(subscriber)
        batch_id = int(batch) if batch else None
        url_id = int(url) if url else None
        # All are non-negative, so their bits ORed exceed MAX_ID if one does.
        if (
            member_id | job_id | subscriber_id | (batch_id or 0) | (url_id or 0)
            > MAX_ID
        ):
            raise ValueError
        date = cells[date_at]
        hour = date[:-8] + date[-3:]
        base = cached_hour(hour)
        if base is None:
            event_date = parse_slowly(date, hour)
        else:
            event_date = base + clock[date[-8:-3]]
        return new_row(
            ExtractRow,
            (
                member_id,
                job_id,
                subscriber_id,
                event_date,
                fingerprint(cells),
                batch_id,
                url_id,
                *get_texts(cells),
            ),
        )

    return parse


@contextmanager
def open_extract(
    path: str | Path, zone: tzinfo, *, keep_email: bool = False
) -> Iterator[ExtractReader]:
    """Open an extract (ZIP or bare CSV) and yield a reader of its conversions.

    ``EmailAddress`` is read only when ``keep_email`` says so: otherwise every
    row carries ``""`` in its place.
    """
    with open_text(path) as (name, text):
        yield ExtractReader(name, text, zone, keep_email=keep_email)
