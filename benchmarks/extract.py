"""Import plus reconciliation of a large Tracking Extract, against a bare read.

Run from the repository root::

    .venv/bin/python benchmarks/extract.py [--rows 1000000] \\
        [--databases sqlite,postgresql]

The script writes a zipped, UTF-16, tab-delimited extract of ``--rows`` rows
(beside a ``Sent.csv``) and times a bare ``csv.reader`` pass over it: the
floor. Then, for each database, a fresh worker process creates the schema,
loads as many mirror ``Conversion`` rows (not timed), and times the import
(``reconcile=False``), the reconciliation of the imported range, and a second
reconciliation (which should find nothing to change). Peak memory is the
worker's peak resident set size, before and after the timed part.

Of the conversions, 98% have a row in the extract (recorded 1 to 20 seconds
after rendering), 2% have none (missing); 2% of the rows have no conversion
(recorded by MCE only). PostgreSQL uses the database named by the environment
variable ``EXTRACT_BENCH_DATABASE`` (default ``test_extract_bench``) on
127.0.0.1:5432 (``--postgres-url`` to change), dropped and created each run;
SQLite a file in the temporary directory.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SPAN_SECONDS = 30 * 24 * 3600
HEADER = (
    "ClientID\tSendID\tSubscriberKey\tEmailAddress\tSubscriberID\tListID\t"
    "EventDate\tEventType\tBatchID\tTriggeredSendExternalKey\n"
)
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/" + os.environ.get(
    "EXTRACT_BENCH_DATABASE", "test_extract_bench"
)


def rendered_at(number: int, rows: int) -> datetime:
    return START + timedelta(seconds=number * SPAN_SECONDS // rows)


def ids(number: int) -> tuple[int, int, int, int]:
    """MID, job, subscriber and batch of conversion ``number``."""
    return 6421787, 2027714 + number % 40, 100_000_000 + number, 1 + number % 3


def write_extract(path: Path, rows: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.extract_files import event_date_text

    missing_every, mce_only_every = 50, 50
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Sent.csv", "ClientID,SendID,SubscriberID,EventDate\r\n")
        with archive.open("Conversions.csv", "w") as member:
            member.write(codecs.BOM_UTF16_LE)
            text = io.TextIOWrapper(member, encoding="utf-16-le", newline="\r\n")
            text.write(HEADER)
            for number in range(rows):
                if number % mce_only_every == 1:
                    member_id, job_id, subscriber_id, batch_id = ids(rows + number)
                    moment = rendered_at(number, rows)
                elif number % missing_every == 0:
                    continue
                else:
                    member_id, job_id, subscriber_id, batch_id = ids(number)
                    moment = rendered_at(number, rows) + timedelta(
                        seconds=1 + number % 20
                    )
                text.write(
                    f"{member_id}\t{job_id}\tkey-{subscriber_id}\t"
                    f"s{subscriber_id}@example.com\t{subscriber_id}\t1940\t"
                    f"{event_date_text(moment)}\tConversion\t{batch_id}\t\n"
                )
            text.flush()
            text.detach()


def bare_read(path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    with zipfile.ZipFile(path) as archive, archive.open("Conversions.csv") as member:
        text = io.TextIOWrapper(member, encoding="utf-16", newline="")
        count = sum(1 for _ in csv.reader(text, delimiter="\t"))
    return time.perf_counter() - started, count


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(database_url: str, extract: Path, rows: int) -> dict[str, float]:
    """Runs in its own process: set up one database, time the import."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from conversion_tracking.importer import import_extract
    from conversion_tracking.reconcile import reconcile_import

    call_command("migrate", verbosity=0)
    with transaction.atomic():
        load_conversions(connection, rows)
    baseline = peak_rss_mb()
    started = time.perf_counter()
    result = import_extract(extract, reconcile=False)
    imported = time.perf_counter()
    found = reconcile_import(result.extract_import)
    reconciled = time.perf_counter()
    again = reconcile_import(result.extract_import)
    rerun = time.perf_counter() - reconciled
    assert again == found, (again, found)
    return {
        "import": imported - started,
        "reconcile": reconciled - imported,
        "rerun": rerun,
        "confirmed": found.confirmed,
        "missing": found.missing,
        "mce_only": found.mce_only,
        "rss_before": baseline,
        "rss_peak": peak_rss_mb(),
    }


def load_conversions(connection: object, rows: int) -> None:
    from django.db import connection as db

    from conversion_tracking.models import Conversion

    table = Conversion._meta.db_table
    columns = (
        "member_id, job_id, subscriber_id, list_id, url_id, batch_id, clicked_at, "
        "link_id, alias, display_order, data, reference, pixel_url, path, "
        "created_at, conversion_key"
    )

    def generate(adapt: bool) -> object:
        for number in range(rows):
            member_id, job_id, subscriber_id, batch_id = ids(number)
            moment = rendered_at(number, rows)
            when = db.ops.adapt_datetimefield_value(moment) if adapt else moment
            yield (
                member_id, job_id, subscriber_id, "1940_HTML", 55981221, batch_id,
                when, 1, "Signup", 1, "[]", "", "https://click.example/", "/thanks/",
                when, f"{number:064x}",
            )  # fmt: skip

    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for values in generate(adapt=False):
                    copy.write_row(values)
            cursor.execute(f"ANALYZE {table}")
        else:
            marks = ", ".join(["%s"] * 16)
            batch: list[object] = []
            for values in generate(adapt=True):
                batch.append(values)
                if len(batch) == 10_000:
                    cursor.executemany(
                        f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch
                    )
                    batch = []
            if batch:
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch
                )
            cursor.execute("ANALYZE")


def recreate_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        url, extract, rows = options.worker
        print(json.dumps(worker(url, Path(extract), int(rows))))
        return
    with tempfile.TemporaryDirectory() as directory:
        run(Path(directory), options)


def run(directory: Path, options: argparse.Namespace) -> None:
    extract = directory / "tracking_extract.zip"
    started = time.perf_counter()
    write_extract(extract, options.rows)
    print(
        f"Extract: {options.rows:,} rows, {extract.stat().st_size / 1e6:.1f} MB "
        f"zipped, written in {time.perf_counter() - started:.1f} s"
    )
    floor, count = min(bare_read(extract) for _ in range(3))
    print(f"Floor: bare csv.reader pass over the ZIP: {floor:.2f} s ({count:,} lines)")
    goals = {"sqlite": 20, "postgresql": 10}
    for vendor in options.databases.split(","):
        if vendor == "postgresql":
            recreate_postgres(options.postgres_url)
            url = options.postgres_url
        else:
            url = f"sqlite:///{directory / 'bench.sqlite3'}"
        process = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                url,
                str(extract),
                str(options.rows),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        figures = json.loads(process.stdout.strip().splitlines()[-1])
        total = figures["import"] + figures["reconcile"]
        print(
            f"{vendor}: import {figures['import']:.2f} s + reconcile "
            f"{figures['reconcile']:.2f} s = {total:.2f} s, "
            f"{total / floor:.1f} x the floor (goal {goals[vendor]} x); "
            f"second reconcile {figures['rerun']:.2f} s; "
            f"peak RSS {figures['rss_peak']:.0f} MB "
            f"(before the import {figures['rss_before']:.0f} MB); "
            f"{figures['confirmed']:,.0f} confirmed, {figures['missing']:,.0f} "
            f"missing, {figures['mce_only']:,.0f} MCE only"
        )


if __name__ == "__main__":
    main()
