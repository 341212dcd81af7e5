"""``manage.py conversion_tracking_import PATH``: import and reconcile an extract."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from conversion_tracking.conf import conf
from conversion_tracking.extract import ExtractError
from conversion_tracking.importer import ImportResult, import_extract
from conversion_tracking.models import ExtractedConversion
from conversion_tracking.reconcile import Reconciliation

# Progress is shown once a file has taken this long, then at most this often.
PROGRESS_INTERVAL = 1.0
MCE_ONLY_LISTED = 10


class Progress:
    """Rows so far and rows per second, on one rewritten line of stderr."""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command
        self.started = time.monotonic()
        self.shown = self.started
        self.rows = 0

    def __call__(self, rows: int) -> None:
        self.rows = rows
        now = time.monotonic()
        if now - self.shown < PROGRESS_INTERVAL:
            return
        self.shown = now
        rate = rows / (now - self.started)
        self.command.stderr.write(
            f"\r{rows:,} rows read, {rate:,.0f} rows/s", ending=""
        )

    def finish(self) -> None:
        if self.shown != self.started:
            self.command.stderr.write("")


class Command(BaseCommand):
    help = (
        "Import the conversions of an MCE Tracking Extract (the ZIP a Data "
        "Extract Activity writes, or its Conversions.csv) and reconcile them "
        "with the conversions this site fired."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", help="The extract's ZIP file or Conversions.csv.")
        parser.add_argument(
            "--time-zone",
            help="The time zone of EventDate, an IANA name "
            f"(default: {conf.EXTRACT_TIME_ZONE}, from "
            "CONVERSION_TRACKING_EXTRACT_TIME_ZONE).",
        )
        parser.add_argument(
            "--covers-from",
            help="Start of the time range the extract covers, ISO 8601 (without "
            "an offset: in the extract's time zone). Default: its first EventDate.",
        )
        parser.add_argument(
            "--covers-until",
            help="End of the time range the extract covers, ISO 8601. "
            "Default: its last EventDate.",
        )
        parser.add_argument(
            "--no-reconcile",
            action="store_true",
            help="Only import; reconcile later (importing the file again does).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        zone = self._zone(options["time_zone"])
        progress = Progress(self)
        try:
            result = import_extract(
                options["path"],
                zone=zone,
                covers_from=_moment(options["covers_from"], zone, "--covers-from"),
                covers_until=_moment(options["covers_until"], zone, "--covers-until"),
                reconcile=not options["no_reconcile"],
                progress=progress,
            )
        except ExtractError as exc:
            raise CommandError(f"{options['path']}: {exc}") from None
        except OSError as exc:
            raise CommandError(
                f"{options['path']} cannot be read: {exc.strerror}."
            ) from None
        finally:
            progress.finish()
        self._summarise(result, time.monotonic() - progress.started)

    def _zone(self, name: str | None) -> ZoneInfo:
        if name is None:
            return conf.EXTRACT_TIME_ZONE
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise CommandError(
                f"--time-zone: {name!r} is not a known time zone; use an IANA "
                "name such as 'Etc/GMT+6' or 'America/Chicago'."
            ) from None

    def _summarise(self, result: ImportResult, seconds: float) -> None:
        record = result.extract_import
        if result.duplicate:
            self.stdout.write(
                f"{record.file_name} was already imported on "
                f"{record.imported_at:%Y-%m-%d %H:%M} (import #{record.pk}): "
                "nothing added."
            )
        elif result.load is not None:
            rate = result.load.rows / seconds if seconds else 0
            self.stdout.write(
                f"Imported {record.file_name} as import #{record.pk}: "
                f"{result.load.rows:,} rows, {result.load.added:,} new "
                f"({seconds:.1f} s, {rate:,.0f} rows/s)."
            )
        if record.covers_from and record.covers_until:
            zone = ZoneInfo(record.time_zone)
            self.stdout.write(
                f"Covers {record.covers_from.astimezone(zone):%Y-%m-%d %H:%M:%S} to "
                f"{record.covers_until.astimezone(zone):%Y-%m-%d %H:%M:%S} "
                f"({record.time_zone})."
            )
        if result.reconciliation is None:
            self.stdout.write("Not reconciled.")
            return
        self._summarise_reconciliation(result.reconciliation)

    def _summarise_reconciliation(self, found: Reconciliation) -> None:
        rate = "n/a" if found.match_rate is None else f"{found.match_rate:.1%}"
        self.stdout.write(
            f"Reconciled: {found.confirmed:,} confirmed, {found.missing:,} missing, "
            f"{found.pending:,} pending, {found.mce_only:,} recorded by MCE only; "
            f"match rate {rate}."
        )
        if not found.mce_only or found.start is None or found.end is None:
            return
        self.stdout.write("Recorded by MCE only, by MID and job:")
        groups = (
            ExtractedConversion.objects.mce_only()
            .filter(event_date__range=(found.start, found.end))
            .values_list("member_id", "job_id")
            .annotate(rows=Count("pk"))
            .order_by("-rows", "member_id", "job_id")
        )
        for member_id, job_id, rows in groups[:MCE_ONLY_LISTED]:
            self.stdout.write(f"  MID {member_id}, job {job_id}: {rows:,}")


def _moment(text: str | None, zone: ZoneInfo, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"{option}: {text!r} is not an ISO 8601 date and time, such as "
            "2026-11-01T00:00:00."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
