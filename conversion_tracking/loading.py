"""Writing extract rows into the database fast, adding only rows it lacks.

``bulk_create`` spends most of its time building model instances: a million
rows take close to a minute. PostgreSQL (with psycopg 3) gets the rows by
``COPY`` into a temporary table and one ``INSERT ... ON CONFLICT DO NOTHING``;
other databases get ``executemany`` of a plain ``INSERT ... ON CONFLICT DO
NOTHING``. Either way a row whose key is already stored is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

from django.db import connection
from django.db.models import BigIntegerField, DateTimeField

from conversion_tracking.extract import ExtractRow
from conversion_tracking.models import ExtractedConversion

COLUMNS = ExtractRow._fields
LOAD_TABLE = "conversion_tracking_extract_load"
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


def load_rows(
    import_id: int,
    batches: Iterable[list[ExtractRow]],
    progress: Progress | None = None,
) -> LoadResult:
    """Store the rows of ``batches`` under the import ``import_id``.

    Must run inside a transaction: the caller's ``atomic`` block makes the
    load all or nothing.
    """
    if _can_copy():
        return _copy_rows(import_id, batches, progress)
    return _insert_rows(import_id, batches, progress)


def _can_copy() -> bool:
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return bool(is_psycopg3)


def _table() -> str:
    return connection.ops.quote_name(ExtractedConversion._meta.db_table)


def _column_list() -> str:
    return ", ".join(connection.ops.quote_name(column) for column in COLUMNS)


def _copy_types() -> list[str]:
    """The PostgreSQL type of each of ``COLUMNS``, for a binary ``COPY``."""
    types = []
    for column in COLUMNS:
        field = ExtractedConversion._meta.get_field(column)
        if isinstance(field, BigIntegerField):
            types.append("int8")
        elif isinstance(field, DateTimeField):
            types.append("timestamptz")
        else:
            types.append("text")
    return types


def _naive_utc_text(moment: datetime) -> str:
    # The reader's times are UTC to the second: this is what Django's own
    # adapter makes of them (with USE_TZ on), at a fraction of its cost.
    return moment.isoformat(" ")[:19]


def _copy_rows(
    import_id: int,
    batches: Iterable[list[ExtractRow]],
    progress: Progress | None,
) -> LoadResult:
    result = LoadResult()
    columns = _column_list()
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {LOAD_TABLE} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {columns} FROM {_table()} WITH NO DATA"
        )
        copy_sql = f"COPY {LOAD_TABLE} ({columns}) FROM STDIN (FORMAT BINARY)"
        with cursor.cursor.copy(copy_sql) as copy:
            # The binary format skips turning every value into text and back:
            # it halves the cost of sending the rows.
            copy.set_types(_copy_types())
            for batch in batches:
                for row in batch:
                    copy.write_row(row)
                result.see(batch)
                if progress is not None:
                    progress(result.rows)
        cursor.execute(
            f"INSERT INTO {_table()} (extract_import_id, {columns}) "  # noqa: S608
            f"SELECT %s, {columns} FROM {LOAD_TABLE} "
            "ON CONFLICT DO NOTHING",
            [import_id],
        )
        result.added = cursor.rowcount
        cursor.execute(f"DROP TABLE {LOAD_TABLE}")
        # Fresh statistics, or the planner reconciles a million new rows as if
        # the table were still empty.
        cursor.execute(f"ANALYZE {_table()}")
    return result


def _insert_rows(
    import_id: int,
    batches: Iterable[list[ExtractRow]],
    progress: Progress | None,
) -> LoadResult:
    result = LoadResult()
    placeholders = ", ".join(["%s"] * (len(COLUMNS) + 1))
    sql = (
        f"INSERT INTO {_table()} (extract_import_id, {_column_list()}) "  # noqa: S608
        f"VALUES ({placeholders}) ON CONFLICT DO NOTHING"
    )
    adapt = _naive_utc_text
    with connection.cursor() as cursor:
        for batch in batches:
            cursor.executemany(
                sql,
                [
                    (import_id, *row[:3], adapt(row.event_date), *row[4:])
                    for row in batch
                ],
            )
            result.added += max(cursor.rowcount, 0)
            result.see(batch)
            if progress is not None:
                progress(result.rows)
    return result
