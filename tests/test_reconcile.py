"""Reconciliation: confirmed, missing, pending, recorded by MCE only."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from conversion_tracking.importer import import_extract
from conversion_tracking.models import (
    Conversion,
    ExtractedConversion,
    ExtractImport,
    Verdict,
    Verification,
)
from conversion_tracking.reconcile import Reconciliation, reconcile
from tests.extract_files import row, utf16_tab_zip, write
from tests.factories import ConversionFactory, verified
from tests.postgres_support import second_waits_for_first

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def conversion(subscriber_id: int, minutes: float, **fields: Any) -> Conversion:
    fields.setdefault("job_id", 2027714)
    return ConversionFactory(  # type: ignore[no-any-return]
        subscriber_id=subscriber_id, created_at=at(minutes), **fields
    )


def mce_row(subscriber_id: int, minutes: float, **fields: Any) -> dict[str, str]:
    return row(subscriber_id=subscriber_id, event_date=at(minutes), **fields)


def import_rows(tmp_path: Path, rows: list[dict[str, str]], **options: Any) -> Any:
    name = f"extract-{len(list(tmp_path.iterdir()))}.zip"
    return import_extract(write(tmp_path, name, utf16_tab_zip(rows)), **options)


def status(item: Conversion) -> str:
    return str(verified(item).verification)


def test_every_status(tmp_path: Path) -> None:
    confirmed = conversion(1, 10)
    missing = conversion(2, 20)
    before = conversion(3, -60 * 24)
    after = conversion(4, 60 * 24)
    edge = conversion(5, -0.1)  # rendered a moment before MCE's first event
    result = import_rows(
        tmp_path,
        [
            mce_row(5, 0),
            mce_row(1, 10.2),
            mce_row(99, 15),  # no local conversion
            mce_row(6, 30),
        ],
    )
    assert status(confirmed) == Verification.CONFIRMED
    assert status(missing) == Verification.MISSING
    assert status(before) == Verification.PENDING
    assert status(after) == Verification.PENDING
    assert status(edge) == Verification.CONFIRMED
    found = result.reconciliation
    assert (found.confirmed, found.missing, found.mce_only) == (2, 1, 2)
    assert found.match_rate == pytest.approx(2 / 3)
    record = result.extract_import
    assert (record.confirmed_count, record.missing_count, record.mce_only_count) == (
        2,
        1,
        2,
    )
    assert record.match_rate == pytest.approx(2 / 3)
    assert verified(confirmed).recorded_at == at(10.2)
    assert verified(missing).recorded_at is None
    rows = ExtractedConversion.objects.with_confirmed_conversion()
    assert rows.get(subscriber_id=1).confirmed_conversion_id == confirmed.pk
    assert rows.get(subscriber_id=5).confirmed_conversion_id == edge.pk
    only = ExtractedConversion.objects.mce_only()
    assert sorted(only.values_list("subscriber_id", flat=True)) == [6, 99]
    assert ExtractedConversion.objects.confirming().count() == 2


def test_tolerance_default_and_setting(tmp_path: Path) -> None:
    near = conversion(1, 0)
    far = conversion(2, 0)
    import_rows(tmp_path, [mce_row(1, 29.9), mce_row(2, 31), mce_row(3, -5)])
    assert (status(near), status(far)) == (Verification.CONFIRMED, Verification.MISSING)
    with override_settings(CONVERSION_TRACKING_MATCH_TOLERANCE=timedelta(hours=1)):
        reconcile()
    assert status(far) == Verification.CONFIRMED
    with override_settings(CONVERSION_TRACKING_MATCH_TOLERANCE=timedelta(minutes=5)):
        found = reconcile()
    assert (status(near), status(far)) == (Verification.MISSING, Verification.MISSING)
    assert found.mce_only == 3
    assert not Verdict.objects.filter(recorded_at__isnull=False).exists()
    assert Verdict.objects.filter(status=Verification.MISSING).count() == 2
    assert ExtractedConversion.objects.mce_only().count() == 3


def test_exactly_at_the_tolerance_matches(tmp_path: Path) -> None:
    item = conversion(1, 0)
    import_rows(tmp_path, [mce_row(1, 30), mce_row(2, 0)])
    assert status(item) == Verification.CONFIRMED


def test_ids_must_agree(tmp_path: Path) -> None:
    other_job = conversion(1, 0, job_id=1)
    other_mid = conversion(2, 0, member_id=1)
    other_batch = conversion(3, 0, batch_id=2)
    no_batch = conversion(4, 0, batch_id=None)
    row_without_batch = conversion(5, 0, batch_id=7)
    import_rows(
        tmp_path,
        [
            mce_row(1, 1),
            mce_row(2, 1),
            mce_row(3, 1, BatchID="1"),
            mce_row(4, 1, BatchID="36"),
            mce_row(5, 1, BatchID=""),
        ],
        covers_from=at(-60),
        covers_until=at(60),
    )
    assert status(other_job) == Verification.MISSING
    assert status(other_mid) == Verification.MISSING
    assert status(other_batch) == Verification.MISSING
    assert status(no_batch) == Verification.CONFIRMED
    assert status(row_without_batch) == Verification.CONFIRMED


def test_one_row_confirms_one_conversion_the_closest(tmp_path: Path) -> None:
    first = conversion(1, 0)
    refreshed = conversion(1, 2)
    result = import_rows(
        tmp_path, [mce_row(1, 1.5), mce_row(9, 10)], covers_from=at(-5)
    )
    assert (status(first), status(refreshed)) == (
        Verification.MISSING,
        Verification.CONFIRMED,
    )
    assert result.reconciliation.mce_only == 1


def test_competing_pairs_are_settled_over_several_rounds(tmp_path: Path) -> None:
    # Closest first: B with the row at 1:00 (40 s), then A with the row at 2:50.
    a = conversion(1, 0)
    b = conversion(1, 100 / 60)
    import_rows(tmp_path, [mce_row(1, 1), mce_row(1, 170 / 60)])
    assert (status(a), status(b)) == (Verification.CONFIRMED, Verification.CONFIRMED)
    assert verified(b).recorded_at == at(1)
    assert verified(a).recorded_at == at(170 / 60)


def test_a_row_confirmed_outside_the_range_is_left_to_its_conversion(
    tmp_path: Path,
) -> None:
    early = conversion(1, 0)
    import_rows(tmp_path, [mce_row(1, 29)], covers_from=at(-60), covers_until=at(60))
    assert status(early) == Verification.CONFIRMED
    later = conversion(1, 40)
    # Widened by the 30-minute tolerance, the range leaves the early conversion
    # out but reaches its row, which the later one would otherwise take.
    found = reconcile(at(31), at(60))
    assert status(later) == Verification.MISSING
    assert status(early) == Verification.CONFIRMED
    assert (found.confirmed, found.missing, found.mce_only) == (0, 1, 0)


def test_a_closer_conversion_takes_the_row_over(tmp_path: Path) -> None:
    far = conversion(1, 0)
    import_rows(tmp_path, [mce_row(1, 10)], covers_from=at(-60), covers_until=at(60))
    assert status(far) == Verification.CONFIRMED
    near = conversion(1, 10.1)
    reconcile()
    assert (status(far), status(near)) == (
        Verification.MISSING,
        Verification.CONFIRMED,
    )
    assert verified(far).recorded_at is None


def test_rerun_is_idempotent_and_writes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conversion(1, 0)
    conversion(2, 5)
    result = import_rows(tmp_path, [mce_row(1, 0.5), mce_row(3, 6)])
    fields = ("subscriber_id", "verification", "recorded_at")
    statuses = sorted(Conversion.objects.with_verification().values_list(*fields))
    assert [status for _, status, _ in statuses] == ["confirmed", "missing"]
    with caplog.at_level(logging.INFO, logger="conversion_tracking.reconcile"):
        again = reconcile()
    assert again == result.reconciliation
    assert "1 conversions matched, 0 verdicts removed, 0 added" in caplog.text
    assert (
        sorted(Conversion.objects.with_verification().values_list(*fields)) == statuses
    )


def test_reimporting_the_same_file_reconciles_again(tmp_path: Path) -> None:
    import_rows(tmp_path, [mce_row(1, 0), mce_row(2, 10)])
    late = conversion(2, 10.1)
    path = next(tmp_path.iterdir())
    again = import_extract(path)
    assert again.duplicate
    assert status(late) == Verification.CONFIRMED
    assert again.extract_import.confirmed_count == 1


def test_overlapping_imports_are_recounted(tmp_path: Path) -> None:
    conversion(1, 0)
    conversion(2, 60)
    first = import_rows(tmp_path, [mce_row(1, 0), mce_row(7, 30)]).extract_import
    assert (first.confirmed_count, first.missing_count) == (1, 0)
    second = import_rows(tmp_path, [mce_row(7, 30), mce_row(8, 90)]).extract_import
    first.refresh_from_db()
    assert (first.confirmed_count, first.missing_count) == (1, 0)
    assert (second.confirmed_count, second.missing_count) == (0, 1)
    assert first.mce_only_count == 1
    assert second.mce_only_count == 2


def test_conversions_between_covered_ranges_stay_pending(tmp_path: Path) -> None:
    in_gap = conversion(1, 120)
    import_rows(tmp_path, [mce_row(5, 0), mce_row(6, 60)])
    import_rows(tmp_path, [mce_row(5, 180), mce_row(6, 240)])
    found = reconcile()
    assert status(in_gap) == Verification.PENDING
    assert (found.start, found.end) == (at(0), at(240))
    assert found.pending == 1


def test_explicit_range_makes_conversions_missing(tmp_path: Path) -> None:
    quiet = conversion(1, 60 * 5)
    import_rows(
        tmp_path,
        [mce_row(2, 0)],
        covers_from=at(-60 * 24),
        covers_until=at(60 * 24),
    )
    assert status(quiet) == Verification.MISSING


def test_nothing_to_reconcile() -> None:
    assert reconcile() == Reconciliation(None, None)
    assert Reconciliation(None, None).match_rate is None
    assert not ExtractImport.objects.exists()


def test_reconciling_leaves_the_conversions_as_fired(tmp_path: Path) -> None:
    conversion(1, 0)
    conversion(2, 5)
    before = list(Conversion.objects.order_by("pk").values())
    import_rows(tmp_path, [mce_row(1, 0.5), mce_row(3, 6)])
    assert list(Conversion.objects.order_by("pk").values()) == before
    assert Verdict.objects.count() == 2


def test_a_range_no_import_covers_any_more_turns_verdicts_back_to_pending(
    tmp_path: Path,
) -> None:
    confirmed = conversion(1, 0)
    missing = conversion(2, 30)
    record = import_rows(
        tmp_path, [mce_row(1, 0.5)], covers_from=at(0), covers_until=at(60)
    ).extract_import
    assert (status(confirmed), status(missing)) == ("confirmed", "missing")
    record.delete()
    # Its rows stay, so the first conversion is still confirmed.
    found = reconcile(at(0), at(60))
    assert (status(confirmed), status(missing)) == ("confirmed", "pending")
    assert (found.confirmed, found.missing, found.pending) == (1, 0, 1)
    assert Verdict.objects.count() == 1


def test_deleting_a_conversion_deletes_its_verdict(tmp_path: Path) -> None:
    item = conversion(1, 0)
    kept = conversion(2, 1)
    import_rows(tmp_path, [mce_row(1, 0.5)], covers_from=at(0), covers_until=at(5))
    assert Verdict.objects.count() == 2
    item.delete()
    assert list(Verdict.objects.values_list("conversion_id", flat=True)) == [kept.pk]


def test_of_two_rows_alike_but_for_their_alias_one_confirms(tmp_path: Path) -> None:
    # Same IDs, same second: only the row the verdict names confirms.
    item = conversion(1, 0)
    import_rows(
        tmp_path,
        [mce_row(1, 0.5, LinkAlias="Signup"), mce_row(1, 0.5, LinkAlias="Order")],
    )
    assert status(item) == Verification.CONFIRMED
    confirming = ExtractedConversion.objects.confirming()
    only = ExtractedConversion.objects.mce_only()
    assert confirming.count() == 1
    assert only.count() == 1
    assert confirming.get().pk == Verdict.objects.get().row_id
    assert confirming.with_confirmed_conversion().get().confirmed_conversion_id == (
        item.pk
    )


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="two sessions at once: needs DATABASE_URL to point at PostgreSQL",
)
@pytest.mark.django_db(transaction=True)
def test_a_concurrent_reconciliation_waits_for_the_first(tmp_path: Path) -> None:
    conversion(1, 0)
    conversion(2, 5)
    import_rows(tmp_path, [mce_row(1, 0.5), mce_row(3, 6)], reconcile=False)
    seen = second_waits_for_first(reconcile, reconcile)

    assert seen.second_waited
    assert seen.errors == []
    found = seen.results
    assert found["first"] == found["second"]
    assert (found["second"].confirmed, found["second"].missing) == (1, 1)
    assert Verdict.objects.count() == 2
