"""Writing an extract's rows into the database fast, adding only rows it lacks.

``bulk_create`` spends most of its time building model instances: a million
rows take close to a minute. PostgreSQL (with psycopg 3) gets each row as a
line of ``COPY`` text that Python builds as it checks the row
(:mod:`~conversion_tracking.loading_postgres`): straight into the table, or,
when the file holds rows already stored, through a temporary table. Other
databases get ``executemany`` of an ``INSERT ... ON CONFLICT DO NOTHING``.
Either way a row whose key is already stored is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from operator import itemgetter
from pathlib import Path

from django.db import connection, transaction

from conversion_tracking.extract import ExtractRow, open_extract
from conversion_tracking.models import ExtractedConversion

logger = logging.getLogger(__name__)

COLUMNS = ExtractRow._fields
_EVENT_DATE = COLUMNS.index("event_date")
_event_date = itemgetter(_EVENT_DATE)


@dataclass
class LoadResult:
    """What a load saw: rows read, rows added, and the span of their dates."""

    rows: int = 0
    added: int = 0
    first_event: datetime | None = None
    last_event: datetime | None = None

    def see(self, batch: list[ExtractRow]) -> None:
        self.rows += len(batch)
        dates = list(map(_event_date, batch))
        first, last = min(dates), max(dates)
        if self.first_event is None or first < self.first_event:
            self.first_event = first
        if self.last_event is None or last > self.last_event:
            self.last_event = last


Progress = Callable[[int], None]


def load_extract(
    path: str | Path,
    zone: tzinfo,
    *,
    keep_email: bool = False,
    progress: Progress | None = None,
) -> LoadResult:
    """Store the rows of the extract at ``path`` that the table lacks.

    All or nothing: a problem raises :class:`ExtractError` (naming the line
    and column of a bad value) and stores nothing; inside the caller's
    ``atomic`` block the load is a savepoint.
    """
    with transaction.atomic():
        if _can_copy():
            from conversion_tracking.loading_postgres import (
                RowsStored,
                ValueRefused,
                copy_extract,
            )

            # Straight into the table, else through a temporary table; what
            # PostgreSQL refuses, the parser reads again and names.
            for through_table in (False, True):
                try:
                    with (
                        open_extract(path, zone, keep_email=keep_email) as reader,
                        transaction.atomic(),
                    ):
                        return copy_extract(
                            reader, progress, through_table=through_table
                        )
                except RowsStored:
                    logger.info(
                        "Extract %s repeats stored rows: reading it again to add "
                        "those the table lacks",
                        path,
                    )
                except ValueRefused:
                    logger.info(
                        "Extract %s holds a value PostgreSQL refuses: reading it "
                        "again to name it",
                        path,
                    )
                    break
        with open_extract(path, zone, keep_email=keep_email) as reader:
            return insert_rows(reader.batches(), progress)


def _can_copy() -> bool:
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return bool(is_psycopg3)


def quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def table() -> str:
    """The quoted name of the extract rows' table."""
    return quoted(ExtractedConversion._meta.db_table)


def insert_rows(
    batches: Iterable[list[ExtractRow]],
    progress: Progress | None = None,
) -> LoadResult:
    """Store the rows of ``batches`` that the table lacks, by ``executemany``.

    Must run inside a transaction: the caller's ``atomic`` block makes the
    load all or nothing.
    """
    result = LoadResult()
    date_sql = "%s"
    adapt_date: Callable[[datetime], object] = _naive_utc_text
    if connection.vendor == "sqlite":
        # SQLite writes the text Django stores from the seconds since the
        # epoch: four times cheaper than formatting it in Python.
        date_sql, adapt_date = "datetime(%s, 'unixepoch')", datetime.timestamp
    values = ", ".join(
        date_sql if column == "event_date" else "%s" for column in COLUMNS
    )
    sql = (
        f"INSERT INTO {table()} ({', '.join(map(quoted, COLUMNS))}) "  # noqa: S608
        f"VALUES ({values}) ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        for batch in batches:
            cursor.executemany(
                sql, [(*row[:3], adapt_date(row[3]), *row[4:]) for row in batch]
            )
            result.added += max(cursor.rowcount, 0)
            result.see(batch)
            if progress is not None:
                progress(result.rows)
    return result


def _naive_utc_text(moment: datetime) -> str:
    # The reader's times are UTC to the second: this is what Django's own
    # adapter makes of them (with USE_TZ on), at a fraction of its cost.
    return moment.isoformat(" ")[:19]
