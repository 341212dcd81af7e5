"""Importing a Tracking Extract: the one importer of the command and the admin.

An import is all or nothing: the file is read and written inside one
transaction, and any problem rolls it back and raises :class:`ExtractError`.
A file whose checksum is already stored adds nothing.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction

from conversion_tracking.conf import conf
from conversion_tracking.extract import ExtractError
from conversion_tracking.loading import LoadResult, Progress, load_extract
from conversion_tracking.models import ExtractImport
from conversion_tracking.reconcile import Reconciliation, reconcile_import
from conversion_tracking.reconcile_sql import roomy_memory

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class ImportResult:
    """The import of one file: its record, and what reconciling it found."""

    extract_import: ExtractImport
    duplicate: bool
    load: LoadResult | None
    reconciliation: Reconciliation | None


def file_checksum(path: str | Path) -> str:
    """The SHA-256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def import_extract(
    path: str | Path,
    *,
    file_name: str | None = None,
    zone: ZoneInfo | None = None,
    covers_from: datetime | None = None,
    covers_until: datetime | None = None,
    imported_by: Any = None,
    reconcile: bool = True,
    progress: Progress | None = None,
) -> ImportResult:
    """Import the extract at ``path`` and, unless told not to, reconcile it.

    ``covers_from`` and ``covers_until`` say which time range the extract
    covers (as its Data Extract Activity was set up); each defaults to the
    first or last event date in the file. Raises :class:`ExtractError` for
    any problem, with nothing stored.
    """
    if not settings.USE_TZ:
        raise ExtractError("Importing extracts needs USE_TZ = True in the settings.")
    zone = zone or conf.EXTRACT_TIME_ZONE
    file_name = file_name or Path(path).name
    checksum = file_checksum(path)
    existing = ExtractImport.objects.filter(checksum=checksum).first()
    if existing is not None:
        logger.info(
            "Extract %s was already imported as #%s: nothing added",
            file_name,
            existing.pk,
        )
        found = reconcile_import(existing) if reconcile else None
        return ImportResult(existing, duplicate=True, load=None, reconciliation=found)
    with transaction.atomic(), roomy_memory():
        try:
            # The same file uploaded twice at once: the second waits here for
            # the first, whose record then holds the checksum.
            with transaction.atomic():
                record = ExtractImport.objects.create(
                    file_name=file_name[:255],
                    checksum=checksum,
                    time_zone=str(zone),
                    imported_by=imported_by,
                )
        except IntegrityError:
            raise ExtractError(
                f"{file_name} was imported by another import at the same time: "
                "nothing added."
            ) from None
        load = load_extract(
            path, zone, keep_email=conf.STORE_EMAIL_ADDRESS, progress=progress
        )
        record.row_count = load.rows
        record.added_count = load.added
        record.covers_from = covers_from or load.first_event
        record.covers_until = covers_until or load.last_event
        if (record.covers_from is None) != (record.covers_until is None) or (
            record.covers_from
            and record.covers_until
            and record.covers_from > record.covers_until
        ):
            raise ExtractError(
                "The covered time range is incomplete or ends before it starts."
            )
        record.save()
        found = reconcile_import(record) if reconcile else None
    logger.info(
        "Imported extract %s as #%s: %s rows, %s new",
        file_name,
        record.pk,
        load.rows,
        load.added,
    )
    return ImportResult(record, duplicate=False, load=load, reconciliation=found)
