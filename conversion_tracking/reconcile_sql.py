"""The set-based statements that pair conversions with extract rows.

What reconciling finds is kept in :class:`~conversion_tracking.models.Verdict`
rows, one per checked conversion, apart from the conversions themselves: a
million narrow rows are written several times faster than a million
conversions could be rewritten. A confirmed conversion's verdict names the
row that confirmed it and keeps its event date in ``recorded_at``. Pairs are
worked out afresh on each run, in temporary tables, and only the verdicts that
change are written.

Time arithmetic differs between databases: PostgreSQL compares timestamps
with intervals, SQLite (which stores text) compares Julian day numbers. And
PostgreSQL finds the conversions without a candidate row in the same join,
where SQLite adds them afterwards. The rest is one SQL text for both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper

from conversion_tracking.models import (
    Conversion,
    ExtractedConversion,
    ExtractImport,
    Verdict,
    Verification,
)
from conversion_tracking.sql_settings import postgresql_settings

CANDIDATES = "conversion_tracking_candidates"
FOUND = "conversion_tracking_found"
PAIRS = "conversion_tracking_pairs"
MATCHED = "conversion_tracking_matched"
LINKS = "conversion_tracking_links"
# SQLite's Julian day numbers carry rounding errors of microseconds; this
# keeps a pair exactly at the tolerance inside it.
_EPSILON_SECONDS = 0.001
# A negative cache size counts KiB: 32 MiB, which holds the hot parts of the
# indexes of a million-row import while keeping memory well under 200 MB.
SQLITE_CACHE_KIB = -32 * 1024
# PostgreSQL's work_mem while reconciling: a hash of a million conversions
# needs about 80 MB. With the 4 MB default the join spills into batches and
# hands the status update its rows in random order, which triples its time.
# Just-in-time compilation is switched off too: each of these statements runs
# once, and compiling it cost up to a few hundred milliseconds.
POSTGRESQL_WORK_MEM = "128MB"
# One tenth of PostgreSQL's default cost of passing a row from a worker.
PARALLEL_TUPLE_COST = "0.01"
_SAME_IDS = (
    "e.member_id = c.member_id AND e.job_id = c.job_id "
    "AND e.subscriber_id = c.subscriber_id"
)
# The two best-of rankings of a round: a pair is linked when it is the closest
# of its conversion's pairs and of its row's pairs (ties go to the lower ID).
_MUTUAL_BEST = (
    "SELECT conversion_id, created_at, row_id, event_date FROM ("
    "SELECT conversion_id, created_at, row_id, event_date, "
    "ROW_NUMBER() OVER (PARTITION BY conversion_id ORDER BY distance, row_id) "
    "AS by_conversion, "
    "ROW_NUMBER() OVER (PARTITION BY row_id ORDER BY distance, conversion_id) "
    "AS by_row FROM {pairs}) ranked "
    "WHERE by_conversion = 1 AND by_row = 1"
)


@contextmanager
def roomy_memory() -> Iterator[None]:
    """Give SQLite a page cache that holds a large import's indexes, and
    PostgreSQL room to hash and sort a large import or reconciliation in memory.

    SQLite's default (2 MB) makes every insert into a random place of an index
    spill pages to disk; the cache is memory reserved only as it fills.
    PostgreSQL's setting lasts until the end of the current transaction at
    the latest: enter this inside ``transaction.atomic()``.
    """
    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            postgresql_settings(cursor, work_mem=POSTGRESQL_WORK_MEM, jit="off"),
        ):
            yield
        return
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
        imports=quote(ExtractImport._meta.db_table),
        verdicts=quote(Verdict._meta.db_table),
        candidates=CANDIDATES,
        found=FOUND,
        pairs=PAIRS,
        matched=MATCHED,
        links=LINKS,
        **parts,
    )


def _time(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _pair_condition(tolerance: timedelta) -> tuple[str, list[Any]]:
    """SQL true when row ``e`` may confirm conversion ``c``, and its params."""
    same = (
        f"{_SAME_IDS} "
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
        # date_part, not extract: since PostgreSQL 14 extract gives numeric,
        # which is slower to compute and to sort by than a double.
        return "abs(date_part('epoch', e.event_date - c.created_at))"
    return "abs(julianday(e.event_date) - julianday(c.created_at)) * 86400.0"


def find_matches(start: datetime, end: datetime, tolerance: timedelta) -> int:
    """Find the row that confirms each conversion rendered in the range.

    Fills the temporary table ``FOUND`` (``conversion_id``, ``created_at``,
    ``row_id``, ``event_date``) with every such conversion and the row that
    confirms it with its event date, or NULLs where none does; returns how
    many rows do. Each
    conversion's candidate rows are found in one join. Usually no conversion
    has two candidates and no row two conversions, and every candidate pair
    stands as it is; otherwise :func:`_closest_pairs` settles who gets which
    row.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One reconciliation at a time: a second one waits here until the
            # first commits, then finds its verdicts, instead of adding the
            # same ones and failing on their keys. Reading is not blocked.
            # (SQLite lets one transaction write at a time anyway.)
            cursor.execute(_sql("LOCK TABLE {verdicts} IN SHARE ROW EXCLUSIVE MODE"))
        drop_work_tables(cursor)
        _find_candidates(cursor, start, end, tolerance)
        cursor.execute(
            _sql(
                "SELECT COUNT(*), COUNT(DISTINCT conversion_id), COUNT(row_id), "
                "COUNT(DISTINCT row_id) FROM {candidates}"
            )
        )
        conversions, distinct_conversions, pairs, distinct_rows = cursor.fetchone()
        if conversions == distinct_conversions and pairs == distinct_rows:
            cursor.execute(_sql("ALTER TABLE {candidates} RENAME TO {found}"))
            matched = int(pairs)
        else:
            matched = _closest_pairs(cursor)
        if connection.vendor == "postgresql":
            # PostgreSQL hashes the table; SQLite looks conversions up in it.
            cursor.execute(_sql("ANALYZE {found}"))
        else:
            cursor.execute(
                _sql("CREATE UNIQUE INDEX {found}_conversion ON {found} ")
                + "(conversion_id)"
            )
    return matched


def _find_candidates(
    cursor: CursorWrapper, start: datetime, end: datetime, tolerance: timedelta
) -> None:
    """Fill ``CANDIDATES`` with every pair a conversion rendered in the range
    could make (``conversion_id``, ``created_at``, ``row_id``, ``event_date``,
    ``distance`` in seconds), and a row of NULLs beside each conversion that
    has none."""
    condition, params = _pair_condition(tolerance)
    rendered = "c.created_at BETWEEN %s AND %s"
    # Conversions just outside the range may have confirmed rows inside the
    # rows' wider window. Usually there are none, and the check per row that
    # leaves their rows to them is left out.
    border = (
        "SELECT 1 FROM {conversions} o JOIN {verdicts} ov "
        "ON ov.conversion_id = o.id WHERE ("
        "(o.created_at >= %s AND o.created_at < %s) "
        "OR (o.created_at > %s AND o.created_at <= %s)) AND ov.status = %s"
    )
    border_params = [
        _time(start - 2 * tolerance),
        _time(start),
        _time(end),
        _time(end + 2 * tolerance),
        str(Verification.CONFIRMED),
    ]
    cursor.execute(_sql(border), border_params)
    if cursor.fetchone() is not None:
        condition += _sql(f" AND NOT EXISTS ({border} AND ov.row_id = e.id)")
        params += border_params
    # PostgreSQL keeps the conversions without a candidate in the same join,
    # which its workers share; SQLite's join starts from the rows (through
    # the index on their dates), so it adds those conversions afterwards.
    outer = "LEFT " if connection.vendor == "postgresql" else ""
    # The rows go to a table, not to the client, so passing them from the
    # workers costs less than the planner assumes; left to its estimate, it
    # ran this join on one core, in twice the time.
    with postgresql_settings(cursor, parallel_tuple_cost=PARALLEL_TUPLE_COST):
        cursor.execute(
            _sql(
                "CREATE TEMPORARY TABLE {candidates} AS "
                "SELECT c.id AS conversion_id, c.created_at, e.id AS row_id, "
                "e.event_date, "
                "{distance} AS distance FROM {conversions} c {outer}JOIN {rows} e "
                "ON e.event_date BETWEEN %s AND %s AND {condition} WHERE {rendered}",
                distance=_distance(),
                outer=outer,
                condition=condition,
                rendered=rendered,
            ),
            [
                _time(start - tolerance),
                _time(end + tolerance),
                *params,
                _time(start),
                _time(end),
            ],
        )
    if not outer:
        cursor.execute(
            _sql(
                "INSERT INTO {candidates} SELECT c.id, c.created_at, NULL, NULL, NULL "
                "FROM {conversions} c WHERE {rendered} AND c.id NOT IN "
                "(SELECT conversion_id FROM {candidates})",
                rendered=rendered,
            ),
            [_time(start), _time(end)],
        )


def _closest_pairs(cursor: CursorWrapper) -> int:
    """Settle the candidates that compete, closest first, into ``FOUND``.

    Each round links the pairs that are the closest for both their conversion
    and their row, then drops the pairs those two took part in, until none is
    left. The globally closest pair always qualifies, so every round links
    some. Returns how many pairs are linked.
    """
    cursor.execute(
        _sql(
            "CREATE TEMPORARY TABLE {pairs} AS SELECT * FROM {candidates} "
            "WHERE row_id IS NOT NULL"
        )
    )
    cursor.execute(_sql("CREATE TEMPORARY TABLE {matched} AS " + _MUTUAL_BEST))
    matched = _size(cursor, MATCHED)
    cursor.execute(_sql("CREATE TEMPORARY TABLE {links} AS SELECT * FROM {matched}"))
    while True:
        # Two statements, not one with OR: each IN becomes a semi-join, where
        # an OR of two would make PostgreSQL rescan the links for every pair.
        for column in ("conversion_id", "row_id"):
            cursor.execute(
                _sql(
                    "DELETE FROM {pairs} WHERE {column} IN "
                    "(SELECT {column} FROM {links})",
                    column=column,
                )
            )
        cursor.execute(f"DROP TABLE {LINKS}")
        cursor.execute(_sql("CREATE TEMPORARY TABLE {links} AS " + _MUTUAL_BEST))
        added = _size(cursor, LINKS)
        if not added:
            break
        cursor.execute(_sql("INSERT INTO {matched} SELECT * FROM {links}"))
        matched += added
    # The conversions whose candidates all went to closer ones join those
    # without a candidate.
    cursor.execute(
        _sql(
            "CREATE TEMPORARY TABLE {found} AS "
            "SELECT conversion_id, created_at, row_id, event_date FROM {matched} "
            "UNION ALL SELECT conversion_id, created_at, NULL, NULL FROM ("
            "SELECT DISTINCT conversion_id, created_at FROM {candidates} c "
            "WHERE NOT EXISTS (SELECT 1 FROM {matched} m "
            "WHERE m.conversion_id = c.conversion_id)) outdone"
        )
    )
    return matched


def _size(cursor: CursorWrapper, table: str) -> int:
    # Not the rowcount of CREATE TABLE ... AS: SQLite's driver reports -1.
    cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
    return int(cursor.fetchone()[0])


def write_verdicts() -> tuple[int, int]:
    """Bring the verdict of every conversion in ``FOUND`` up to date:
    confirmed (by its row, with the row's event date), missing when an import
    covers its time, none (pending) otherwise.

    Two statements, each writing only what changes: the first deletes the
    verdicts that no longer hold, the second adds those that are lacking.
    Returns how many verdicts each removed and added.
    """
    # The new status of a conversion of FOUND f; NULL for pending. A verdict
    # that names the same row has its event date too.
    status = _sql(
        "CASE WHEN f.event_date IS NOT NULL THEN %s WHEN EXISTS ("
        "SELECT 1 FROM {imports} i WHERE i.covers_from <= f.created_at "
        "AND i.covers_until >= f.created_at) THEN %s END"
    )
    statuses = [str(Verification.CONFIRMED), str(Verification.MISSING)]
    same = "IS NOT DISTINCT FROM" if connection.vendor == "postgresql" else "IS"
    with connection.cursor() as cursor:
        cursor.execute(
            _sql(
                "DELETE FROM {verdicts} WHERE conversion_id IN ("
                "SELECT f.conversion_id FROM {found} f JOIN {verdicts} t "
                "ON t.conversion_id = f.conversion_id WHERE NOT ("
                "t.status = COALESCE({status}, '') AND t.row_id {same} f.row_id))",
                status=status,
                same=same,
            ),
            statuses,
        )
        removed = int(max(cursor.rowcount, 0))
        cursor.execute(
            _sql(
                "INSERT INTO {verdicts} (conversion_id, status, row_id, recorded_at) "
                "SELECT conversion_id, status, row_id, event_date FROM ("
                "SELECT f.conversion_id, {status} AS status, f.row_id, f.event_date "
                "FROM {found} f WHERE NOT EXISTS (SELECT 1 FROM {verdicts} t "
                "WHERE t.conversion_id = f.conversion_id)) lacking "
                "WHERE status IS NOT NULL",
                status=status,
            ),
            statuses,
        )
        added = int(max(cursor.rowcount, 0))
        drop_work_tables(cursor)
    return removed, added


def drop_work_tables(cursor: CursorWrapper) -> None:
    for table in (LINKS, MATCHED, PAIRS, CANDIDATES, FOUND):
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
