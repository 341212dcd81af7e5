"""The statements both PostgreSQL loads end with: add the rows the table lacks.

Rows reach PostgreSQL two ways: as checked text (``loading_postgres``) or
parsed in Python and sent by a binary ``COPY`` (:func:`copy_rows`). Either way
they wait in a temporary table, and one ``INSERT`` adds those the table lacks,
in the order of its unique key, so that the index grows at its right edge.
The fingerprint is computed here, from the typed values, so both ways give a
row the same one. (SQLite keeps the CRC-32 computed in Python: each database
only ever compares fingerprints with its own.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import BigIntegerField, DateTimeField

from conversion_tracking.extract import ExtractRow
from conversion_tracking.loading import LoadResult, Progress, quoted, table
from conversion_tracking.models import ExtractedConversion
from conversion_tracking.sql_settings import postgresql_settings

LOAD = "conversion_tracking_extract_load"
# Sorting a million rows takes about 150 MB; with less, the sort spills to
# disk. The setting lasts for the one statement. (Just-in-time compilation
# is switched off for it too: it would run once, and compiling costs more.)
SORT_WORK_MEM = "256MB"
KEY = ("event_date", "member_id", "job_id", "subscriber_id", "fingerprint")
# The values a row's fingerprint covers: all but its key and its email.
FINGERPRINTED = (
    "batch_id",
    "url_id",
    "subscriber_key",
    "list_id",
    "event_type",
    "triggered_send_key",
    "link_alias",
    "url",
    "referring_url",
    "conversion_data",
)


def fingerprint(texts: dict[str, str]) -> str:
    """The SQL of a row's fingerprint, from the text of each of its
    ``FINGERPRINTED`` values (never NULL; IDs as digits, ``''`` for none)."""
    joined = " || E'\\x1f' || ".join(texts[field] for field in FINGERPRINTED)
    return f"hashtextextended({joined}, 0)"


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
    key = ", ".join(quoted(field) for field in KEY)
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
        same = " AND ".join(f"e.{quoted(field)} = d.{quoted(field)}" for field in KEY)
        return (
            f"{insert}SELECT {columns} FROM ({rows}) d "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT FROM {table()} e WHERE "
            f"e.event_date BETWEEN %s AND %s AND {same})"
        )
    return f"{insert}{rows}"


def _fingerprinted() -> list[str]:
    """A row's fields by name (in the order of :class:`ExtractRow`), with
    PostgreSQL's fingerprint in place of the one computed in Python."""
    texts = {
        field: f"coalesce({quoted(field)}::text, '')"
        if field in ("batch_id", "url_id")
        else quoted(field)
        for field in FINGERPRINTED
    }
    return [
        fingerprint(texts) if field == "fingerprint" else quoted(field)
        for field in ExtractRow._fields
    ]


def fingerprinted_insert() -> str:
    """An INSERT of one row's values (in the order of :class:`ExtractRow`)
    that skips a stored row and puts PostgreSQL's fingerprint on it."""
    types = dict(zip(ExtractRow._fields, copy_types(), strict=True))
    values = ", ".join(f"%s::{types[field]}" for field in ExtractRow._fields)
    names = ", ".join(quoted(field) for field in ExtractRow._fields)
    return (
        f"INSERT INTO {table()} ({names}) "  # noqa: S608
        f"SELECT {', '.join(_fingerprinted())} "
        f"FROM (VALUES ({values})) AS v ({names}) ON CONFLICT DO NOTHING"
    )


def copy_types() -> list[str]:
    """The PostgreSQL type of each field of a row, for a binary ``COPY``."""
    types = []
    for field in ExtractRow._fields:
        model_field = ExtractedConversion._meta.get_field(field)
        if isinstance(model_field, BigIntegerField):
            types.append("int8")
        elif isinstance(model_field, DateTimeField):
            types.append("timestamptz")
        else:
            types.append("text")
    return types


def copy_rows(
    batches: Iterable[list[ExtractRow]], progress: Progress | None
) -> LoadResult:
    """Store rows parsed in Python: a binary ``COPY``, then :func:`add_new_rows`."""
    result = LoadResult()
    columns = ", ".join(quoted(field) for field in ExtractRow._fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {LOAD} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {columns} FROM {table()} WITH NO DATA"
        )
        copy_sql = f"COPY {LOAD} ({columns}) FROM STDIN (FORMAT BINARY)"
        with cursor.cursor.copy(copy_sql) as copy:
            # The binary format skips turning every value into text and back:
            # it halves the cost of sending the rows.
            copy.set_types(copy_types())
            for batch in batches:
                for row in batch:
                    copy.write_row(row)
                result.see(batch)
                if progress is not None:
                    progress(result.rows)
        if result.first_event and result.last_event:
            result.added = add_new_rows(
                cursor,
                f"SELECT {', '.join(_fingerprinted())}, ctid FROM {LOAD}",  # noqa: S608
                result.first_event,
                result.last_event,
            )
        cursor.execute(f"DROP TABLE {LOAD}")
    return result
