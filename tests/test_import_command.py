"""The conversion_tracking_import management command."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from conversion_tracking.management.commands import conversion_tracking_import
from conversion_tracking.models import Conversion, ExtractImport, Verification
from tests.extract_files import row, utf16_tab_zip, write
from tests.factories import ConversionFactory, verified

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("conversion_tracking_import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def extract(tmp_path: Path) -> Path:
    rows = [
        row(subscriber_id=1, event_date=T0),
        row(subscriber_id=2, event_date=T0 + timedelta(minutes=5)),
        row(subscriber_id=3, job_id=77, event_date=T0 + timedelta(minutes=9)),
    ]
    return write(tmp_path, "tracking.zip", utf16_tab_zip(rows))


def test_import_and_summary(extract: Path) -> None:
    ConversionFactory(subscriber_id=1, job_id=2027714, created_at=T0)
    ConversionFactory(subscriber_id=9, job_id=2027714, created_at=T0)
    out, _ = run(str(extract))
    assert "Imported tracking.zip as import #" in out
    assert "3 rows, 3 new" in out
    assert "Covers 2026-11-26 09:00:00 to 2026-11-26 09:09:00 (Etc/GMT+6)." in out
    assert (
        "Reconciled: 1 confirmed, 1 missing, 0 pending, 2 recorded by MCE only; "
        "match rate 50.0%." in out
    )
    assert "  MID 6421787, job 2027714: 1" in out
    assert "  MID 6421787, job 77: 1" in out


def test_second_run_adds_nothing_and_says_so(extract: Path) -> None:
    run(str(extract))
    out, _ = run(str(extract))
    assert "was already imported on" in out
    assert "nothing added." in out
    assert ExtractImport.objects.count() == 1


def test_no_reconcile(extract: Path) -> None:
    item = ConversionFactory(subscriber_id=1, job_id=2027714, created_at=T0)
    out, _ = run(str(extract), "--no-reconcile")
    assert "Not reconciled." in out
    assert verified(item).verification == Verification.PENDING


def test_covered_range_in_the_extract_time_zone(extract: Path) -> None:
    out, _ = run(
        str(extract),
        "--covers-from",
        "2026-11-26T00:00:00",
        "--covers-until",
        "2026-11-27T00:00:00-06:00",
    )
    record = ExtractImport.objects.get()
    assert record.covers_from == datetime(2026, 11, 26, 6, tzinfo=timezone.utc)
    assert record.covers_until == datetime(2026, 11, 27, 6, tzinfo=timezone.utc)
    assert "Covers 2026-11-26 00:00:00 to 2026-11-27 00:00:00" in out
    assert "match rate n/a" in out


def test_time_zone_option(extract: Path) -> None:
    run(str(extract), "--time-zone", "UTC")
    record = ExtractImport.objects.get()
    assert record.time_zone == "UTC"
    assert record.covers_from == datetime(2026, 11, 26, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-zone", "Mars/Olympus"], "is not a known time zone"),
        (["--covers-from", "yesterday"], "is not an ISO 8601 date and time"),
        (["--covers-until", "2026-13-01"], "--covers-until: '2026-13-01'"),
    ],
)
def test_bad_options(extract: Path, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run(str(extract), *args)
    assert not ExtractImport.objects.exists()


def test_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    rows = [row(event_date=T0), row(event_date=T0, SubscriberID="abc")]
    path = write(tmp_path, "bad.zip", utf16_tab_zip(rows))
    with pytest.raises(CommandError) as caught:
        run(str(path))
    assert str(caught.value) == (
        f"{path}: Line 3, column SubscriberID: not an ID (digits only, at most 19)"
    )
    assert not ExtractImport.objects.exists()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot be read: No such file"):
        run(str(tmp_path / "nowhere.zip"))


def test_progress_on_stderr_for_long_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversion_tracking_import, "PROGRESS_INTERVAL", 0.0)
    rows = [
        row(subscriber_id=n, event_date=T0 + timedelta(seconds=n)) for n in range(6000)
    ]
    _, err = run(str(write(tmp_path, "long.zip", utf16_tab_zip(rows))))
    assert "\r5,000 rows read, " in err
    assert "\r6,000 rows read, " in err
    assert "rows/s" in err
    assert err.endswith("\n")


def test_short_files_show_no_progress(extract: Path) -> None:
    _, err = run(str(extract))
    assert err == ""
    assert Conversion.objects.count() == 0
