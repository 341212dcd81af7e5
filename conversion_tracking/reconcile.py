"""Reconciling the mirror with imported extracts: confirmed, missing, pending.

A conversion is matched to a row MCE recorded with the same MID, job,
subscriber and batch (a batch missing on either side matches any), whose
event time lies within ``CONVERSION_TRACKING_MATCH_TOLERANCE`` of the time the
pixel was rendered. Each row confirms at most one conversion and each
conversion is confirmed by at most one row; where several pairs compete, the
closest in time wins. What is found is each conversion's
:class:`~conversion_tracking.models.Verdict`, and a confirmed one keeps the
row's event time in ``recorded_at``. Every step is a set-based query, so a
million rows cost a few statements, and a second run over the same data writes
nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from conversion_tracking.conf import conf
from conversion_tracking.models import (
    Conversion,
    ExtractedConversion,
    ExtractImport,
    ImportStatus,
    Verdict,
    Verification,
)
from conversion_tracking.reconcile_sql import (
    find_matches,
    roomy_memory,
    write_verdicts,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciliation:
    """The verification of the conversions in one time range."""

    start: datetime | None
    end: datetime | None
    confirmed: int = 0
    missing: int = 0
    pending: int = 0
    mce_only: int = 0

    @property
    def match_rate(self) -> float | None:
        checked = self.confirmed + self.missing
        return self.confirmed / checked if checked else None


def reconcile(
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    tolerance: timedelta | None = None,
) -> Reconciliation:
    """Verify the conversions rendered between ``start`` and ``end``.

    Without a range, everything any import covers is verified again.
    """
    if start is None or end is None:
        span = ExtractImport.objects.aggregate(
            first=Min("covers_from"), last=Max("covers_until")
        )
        start = start or span["first"]
        end = end or span["last"]
    if start is None or end is None:
        return Reconciliation(start, end)
    tolerance = tolerance or conf.MATCH_TOLERANCE
    # A pixel rendered just before the first event MCE recorded (or just after
    # the last) may still have been recorded inside the range.
    first, last = start - tolerance, end + tolerance
    with transaction.atomic(), roomy_memory():
        matched = find_matches(first, last, tolerance)
        removed, added = write_verdicts()
        counts = _Counts()
        _recount_imports(start, end, counts)
        found = counts.get(start, end)
    logger.info(
        "Reconciled %s to %s: %s conversions matched, %s verdicts removed, %s added",
        start.isoformat(),
        end.isoformat(),
        matched,
        removed,
        added,
    )
    return found


def reconcile_import(extract_import: ExtractImport) -> Reconciliation:
    """Verify the conversions in the time range ``extract_import`` covers."""
    if extract_import.covers_from is None or extract_import.covers_until is None:
        extract_import.status = str(ImportStatus.RECONCILED)
        extract_import.reconciled_at = timezone.now()
        extract_import.save(update_fields=["status", "reconciled_at"])
        return Reconciliation(None, None)
    found = reconcile(extract_import.covers_from, extract_import.covers_until)
    extract_import.refresh_from_db()
    return found


def _recount_imports(start: datetime, end: datetime, counts: _Counts) -> None:
    overlapping = ExtractImport.objects.filter(
        covers_from__lte=end, covers_until__gte=start
    )
    now = timezone.now()
    for extract_import in overlapping:
        found = counts.get(extract_import.covers_from, extract_import.covers_until)
        extract_import.confirmed_count = found.confirmed
        extract_import.missing_count = found.missing
        extract_import.mce_only_count = found.mce_only
        extract_import.status = ImportStatus.RECONCILED
        extract_import.reconciled_at = now
        extract_import.save(
            update_fields=[
                "confirmed_count",
                "missing_count",
                "mce_only_count",
                "status",
                "reconciled_at",
            ]
        )


class _Counts:
    """The counts of time ranges, each counted once per reconciliation."""

    def __init__(self) -> None:
        self._found: dict[tuple[datetime, datetime], Reconciliation] = {}

    def get(self, start: datetime | None, end: datetime | None) -> Reconciliation:
        if start is None or end is None:
            return Reconciliation(start, end)
        if (start, end) not in self._found:
            self._found[start, end] = _count(start, end)
        return self._found[start, end]


def _count(start: datetime, end: datetime) -> Reconciliation:
    """The conversions rendered in the range by status, counting as confirmed
    those that rows recorded in the range confirm, and the rows in the range
    that confirm none.

    Each row confirms at most one conversion, whose verdict's ``recorded_at``
    is the row's event date: the rows that confirm none are the rest.
    """
    confirmed = Verdict.objects.filter(
        status=Verification.CONFIRMED, recorded_at__range=(start, end)
    ).count()
    rendered = Conversion.objects.filter(created_at__range=(start, end)).aggregate(
        missing=Count("pk", filter=Q(verdict__status=Verification.MISSING)),
        pending=Count("pk", filter=Q(verdict__isnull=True)),
    )
    rows = ExtractedConversion.objects.filter(event_date__range=(start, end)).count()
    return Reconciliation(
        start, end, confirmed=confirmed, **rendered, mce_only=rows - confirmed
    )
