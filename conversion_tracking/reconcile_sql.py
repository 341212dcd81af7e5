"""The set-based statements that pair conversions with extract rows.

Time arithmetic differs between databases: PostgreSQL compares timestamps
with intervals, SQLite (which stores text) compares Julian day numbers. The
rest is one SQL text for both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper

from conversion_tracking.models import Conversion, ExtractedConversion

PAIRS = "conversion_tracking_pairs"
LINKS = "conversion_tracking_links"
# SQLite's Julian day numbers carry rounding errors of microseconds; this
# keeps a pair exactly at the tolerance inside it.
_EPSILON_SECONDS = 0.001
# A negative cache size counts KiB: 32 MiB, which holds the hot parts of the
# indexes of a million-row import while keeping memory well under 200 MB.
SQLITE_CACHE_KIB = -32 * 1024


@contextmanager
def roomy_cache() -> Iterator[None]:
    """Give SQLite a page cache that holds a large import's indexes.

    Its default (2 MB) makes every insert into a random place of an index
    spill pages to disk; the cache is memory reserved only as it fills.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = {SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def _sql(template: str, **parts: str) -> str:
    """``template`` with the quoted table names (and ``parts``) filled in.

    Only identifiers and SQL fragments of this module are formatted into the
    text; every value travels as a query parameter.
    """
    quote = connection.ops.quote_name
    return template.format(
        rows=quote(ExtractedConversion._meta.db_table),
        conversions=quote(Conversion._meta.db_table),
        pairs=PAIRS,
        links=LINKS,
        **parts,
    )


def _time(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _pair_condition(tolerance: timedelta) -> tuple[str, list[Any]]:
    """SQL true when row ``e`` may confirm conversion ``c``, and its params."""
    same = (
        "e.member_id = c.member_id AND e.job_id = c.job_id "
        "AND e.subscriber_id = c.subscriber_id "
        "AND (e.batch_id = c.batch_id OR e.batch_id IS NULL OR c.batch_id IS NULL)"
    )
    if connection.vendor == "postgresql":
        return (
            f"{same} AND e.event_date BETWEEN c.created_at - %s AND c.created_at + %s",
            [tolerance, tolerance],
        )
    return (
        f"{same} AND {_distance()} <= %s",
        [tolerance.total_seconds() + _EPSILON_SECONDS],
    )


def _distance() -> str:
    """SQL for the seconds between ``e.event_date`` and ``c.created_at``."""
    if connection.vendor == "postgresql":
        return "abs(extract(epoch FROM e.event_date - c.created_at))"
    return "abs(julianday(e.event_date) - julianday(c.created_at)) * 86400.0"


def unlink_stale(start: datetime, end: datetime, tolerance: timedelta) -> int:
    """Drop links of conversions in the range that no longer pair (a narrower
    tolerance, say); returns how many."""
    condition, params = _pair_condition(tolerance)
    sql = _sql(
        "UPDATE {rows} SET conversion_id = NULL WHERE conversion_id IN ("
        "SELECT c.id FROM {conversions} c JOIN {rows} e ON e.conversion_id = c.id "
        "WHERE c.created_at BETWEEN %s AND %s AND NOT ({condition}))",
        condition=condition,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_time(start), _time(end), *params])
        return int(max(cursor.rowcount, 0))


def link_closest_pairs(start: datetime, end: datetime, tolerance: timedelta) -> int:
    """Link unmatched conversions rendered in the range to unmatched rows.

    Candidate pairs go to a temporary table; each round links the pairs that
    are the closest for both their conversion and their row (ties broken by
    ID), then drops the pairs those two took part in, until none is left.
    The globally closest pair always qualifies, so every round links some.
    """
    condition, params = _pair_condition(tolerance)
    linked = 0
    with connection.cursor() as cursor:
        _drop(cursor)
        cursor.execute(
            _sql(
                "CREATE TEMPORARY TABLE {pairs} AS "
                "SELECT c.id AS conversion_id, e.id AS row_id, "
                "{distance} AS distance "
                "FROM {conversions} c JOIN {rows} e ON e.member_id = c.member_id "
                "AND e.job_id = c.job_id AND e.subscriber_id = c.subscriber_id "
                "WHERE c.created_at BETWEEN %s AND %s "
                "AND e.event_date BETWEEN %s AND %s "
                "AND e.conversion_id IS NULL AND NOT EXISTS ("
                "SELECT 1 FROM {rows} x WHERE x.conversion_id = c.id) "
                "AND {condition}",
                distance=_distance(),
                condition=condition,
            ),
            [
                _time(start),
                _time(end),
                _time(start - tolerance),
                _time(end + tolerance),
                *params,
            ],
        )
        if connection.vendor == "postgresql":
            cursor.execute(_sql("ANALYZE {pairs}"))
        while added := _link_round(cursor):
            linked += added
        _drop(cursor)
    return linked


def _link_round(cursor: CursorWrapper) -> int:
    cursor.execute(
        _sql(
            "CREATE TEMPORARY TABLE {links} AS "
            "SELECT conversion_id, row_id FROM ("
            "SELECT conversion_id, row_id, "
            "ROW_NUMBER() OVER (PARTITION BY conversion_id ORDER BY distance, row_id) "
            "AS by_conversion, "
            "ROW_NUMBER() OVER (PARTITION BY row_id ORDER BY distance, conversion_id) "
            "AS by_row FROM {pairs}) ranked "
            "WHERE by_conversion = 1 AND by_row = 1"
        )
    )
    if connection.vendor == "postgresql":
        cursor.execute(
            _sql(
                "UPDATE {rows} SET conversion_id = l.conversion_id FROM {links} l "
                "WHERE {rows}.id = l.row_id"
            )
        )
    else:
        cursor.execute(_sql("CREATE INDEX {links}_row ON {links} (row_id)"))
        cursor.execute(
            _sql(
                "UPDATE {rows} SET conversion_id = ("
                "SELECT l.conversion_id FROM {links} l WHERE l.row_id = {rows}.id) "
                "WHERE id IN (SELECT row_id FROM {links})"
            )
        )
    added = int(max(cursor.rowcount, 0))
    # Two statements, not one with OR: each IN becomes a semi-join, where an
    # OR of two would make PostgreSQL rescan the links for every pair.
    for column in ("conversion_id", "row_id"):
        cursor.execute(
            _sql(
                "DELETE FROM {pairs} WHERE {column} IN (SELECT {column} FROM {links})",
                column=column,
            )
        )
    cursor.execute(f"DROP TABLE {LINKS}")
    return added


def _drop(cursor: CursorWrapper) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {LINKS}")
    cursor.execute(f"DROP TABLE IF EXISTS {PAIRS}")
