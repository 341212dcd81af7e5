"""The temporary tables of PostgreSQL's fast load, and the SQL that reads them.

The staging table holds the cells of the columns read, as text, as ``COPY``
stores them; its generated columns derive, row by row as ``COPY`` runs, what
the checks and the insert need: the typed IDs, the fingerprint, and the hour
and clock of ``EventDate`` (sliced as :class:`DateParser` slices them). Two
small tables turn those into UTC: the file's hours, converted by Python, and
the 3,600 clock readings of an hour.
"""

from __future__ import annotations

from django.db.backends.utils import CursorWrapper

from conversion_tracking.extract_columns import BOUNDED_FIELDS, OPTIONAL_IDS, ExtractRow
from conversion_tracking.extract_values import MAX_TEXT_LENGTH, DateParser
from conversion_tracking.loading import quoted
from conversion_tracking.loading_sql import FINGERPRINTED, fingerprint

STAGE = "conversion_tracking_extract_stage"
HOURS = "conversion_tracking_extract_hours"
CLOCK = "conversion_tracking_extract_clock"
REQUIRED_IDS = ("member_id", "job_id", "subscriber_id")


class Stage:
    """The temporary tables of one load, for the fields read from the file."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields

    def __contains__(self, field: str) -> bool:
        return field in self.fields

    def cell(self, field: str, table: str = "") -> str:
        """The text of ``field`` as the file has it (``''`` when absent)."""
        if field not in self:
            return "''::text"
        return f"{table}{quoted(f'{field}_cell')}"

    def id_value(self, field: str) -> str:
        """The cell of ``field`` cast to an ID; an empty optional one is NULL,
        an empty required one (or any text not a number) fails the cast."""
        if field in REQUIRED_IDS:
            return f"{self.cell(field)}::bigint"
        return f"nullif({self.cell(field)}, '')::bigint"

    def create(self, cursor: CursorWrapper, parser: DateParser) -> None:
        ids = [field for field in (*REQUIRED_IDS, *OPTIONAL_IDS) if field in self]
        texts = {
            field: f"coalesce({self.id_value(field)}::text, '')"
            if field in ids
            else self.cell(field)
            for field in FINGERPRINTED
        }
        date = self.cell("event_date")
        # Computed as COPY stores each row, on the server's core, while Python
        # reads the next rows. The slicing of the date matches Python's
        # value[:-8] + value[-3:] and value[-8:-3] for values of any length.
        derived = {
            "hour": ("text", f"left({date}, -8) || right({date}, 3)"),
            "clock": ("text", f"substr({date}, length({date}) - 7, 5)"),
            "fingerprint": ("bigint", fingerprint(texts)),
            **{field: ("bigint", self.id_value(field)) for field in ids},
        }
        columns = [f"{self.cell(field)} text" for field in self.fields] + [
            f"{quoted(name)} {kind} GENERATED ALWAYS AS ({value}) STORED"
            for name, (kind, value) in derived.items()
        ]
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGE} ({', '.join(columns)}) ON COMMIT DROP"
        )
        cursor.execute(
            f"CREATE TEMPORARY TABLE {HOURS} (hour text PRIMARY KEY, "
            "starts_at timestamptz NOT NULL) ON COMMIT DROP"
        )
        cursor.execute(
            f"CREATE TEMPORARY TABLE {CLOCK} (clock text PRIMARY KEY, "
            "since_hour interval NOT NULL) ON COMMIT DROP"
        )
        cursor.execute(
            f"INSERT INTO {CLOCK} SELECT * FROM unnest(%s::text[], %s::interval[])",  # noqa: S608
            [list(parser.clock), list(parser.clock.values())],
        )

    def checks(self) -> str:
        """True for a row whose values Python takes as they are, and whose
        clock is one of the hour's."""
        # A cast accepts spaces, signs and leading zeros: only a positive ID
        # that reads back the same was written in digits alone.
        checks = [
            f"coalesce({quoted(field)} >= 0 AND {quoted(field)}::text = "
            f"{self.cell(field)}, {self.cell(field)} = '')"
            for field in (*REQUIRED_IDS, *OPTIONAL_IDS)
            if field in self
        ]
        checks += [
            f"length({self.cell(field)}) <= {MAX_TEXT_LENGTH}"
            for field in BOUNDED_FIELDS
            if field in self
        ]
        checks.append(f"clock IN (SELECT clock FROM {CLOCK})")  # noqa: S608
        return " AND ".join(checks)

    def typed_rows(self) -> str:
        """The staged rows with their values converted, as a SELECT."""
        values = {
            "event_date": "h.starts_at + c.since_hour",
            "fingerprint": "s.fingerprint",
            **{
                field: f"s.{quoted(field)}" if field in self else "NULL::bigint"
                for field in (*REQUIRED_IDS, *OPTIONAL_IDS)
            },
        }
        typed = [
            values.get(field) or self.cell(field, table="s.")
            for field in ExtractRow._fields
        ]
        return (
            f"SELECT {', '.join(typed)}, s.ctid FROM {STAGE} s "  # noqa: S608
            f"JOIN {HOURS} h ON h.hour = s.hour JOIN {CLOCK} c ON c.clock = s.clock"
        )
