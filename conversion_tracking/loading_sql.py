"""The statement that ends a PostgreSQL load through a temporary table.

When a file holds rows the table has already (it repeats a row, overlaps an
earlier import, or races a concurrent one), its rows wait in a temporary
table, and one ``INSERT`` adds each distinct row the table lacks, in the order
of the unique key, so that the index grows at its right edge.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.backends.utils import CursorWrapper

from conversion_tracking.extract import ExtractRow
from conversion_tracking.loading import quoted, table
from conversion_tracking.models.extract import ROW_KEY
from conversion_tracking.sql_settings import postgresql_settings

LOAD = "conversion_tracking_extract_load"
# Sorting a million rows takes about 150 MB; with less, the sort spills to
# disk. The setting lasts for the one statement. (Just-in-time compilation
# is switched off for it too: it would run once, and compiling costs more.)
SORT_WORK_MEM = "256MB"


def add_new_rows(
    cursor: CursorWrapper, source: str, first: datetime, last: datetime
) -> int:
    """Insert the rows of ``source`` that the table lacks; return how many.

    ``source`` is a SELECT of the values of a row's fields (in the order of
    :class:`ExtractRow`), then of the order in which the rows arrived: of rows
    identical but for their email address, the first wins. ``first`` and
    ``last`` bound their event dates.
    """
    cursor.execute(
        f"SELECT EXISTS (SELECT FROM {table()} "  # noqa: S608
        "WHERE event_date BETWEEN %s AND %s)",
        [first, last],
    )
    (overlapping,) = cursor.fetchone()
    with postgresql_settings(cursor, work_mem=SORT_WORK_MEM, jit="off"):
        try:
            with transaction.atomic():
                cursor.execute(
                    _insert(source, guard="lacking" if overlapping else ""),
                    [first, last] if overlapping else [],
                )
        except IntegrityError:
            # A concurrent import stored some of the same rows after this
            # statement looked: skip them as they turn up instead. (Any other
            # violation would recur, and be raised, again.)
            cursor.execute(_insert(source, guard="on conflict"))
        added: int = cursor.rowcount
    # Fresh statistics, or the planner reconciles a million new rows as if
    # the table were still empty.
    cursor.execute(f"ANALYZE {table()}")
    return added


def _insert(source: str, *, guard: str) -> str:
    """The INSERT of the distinct rows of ``source``, in key order.

    ``guard`` says how rows already stored are skipped: by looking for them
    first (``"lacking"``), as they conflict (``"on conflict"``), or not at
    all (``""``: none are stored between the first and last event dates).
    """
    columns = ", ".join(quoted(field) for field in ExtractRow._fields)
    key = ", ".join(quoted(field) for field in ROW_KEY)
    rows = (
        f"SELECT DISTINCT ON ({key}) {columns} "  # noqa: S608
        f"FROM ({source}) AS r ({columns}, arrival) ORDER BY {key}, arrival"
    )
    insert = f"INSERT INTO {table()} ({columns}) "
    if guard == "on conflict":
        return f"{insert}{rows} ON CONFLICT DO NOTHING"
    if guard == "lacking":
        # Looked for after DISTINCT ON, whose sorted output matches the
        # unique index: each row's values are computed once, and a merge
        # join can walk the index in step.
        same = " AND ".join(
            f"e.{quoted(field)} = d.{quoted(field)}" for field in ROW_KEY
        )
        return (
            f"{insert}SELECT {columns} FROM ({rows}) d "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT FROM {table()} e WHERE "
            f"e.event_date BETWEEN %s AND %s AND {same})"
        )
    return f"{insert}{rows}"
