from __future__ import annotations

import pytest
from django.db import connection

from conversion_tracking.models import Conversion, ExtractedConversion, Verdict


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL's index definitions: needs DATABASE_URL to point at PostgreSQL",
)
@pytest.mark.django_db
def test_conversions_table_has_only_the_indexes_it_uses() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            [Conversion._meta.db_table],
        )
        indexes = dict(cursor.fetchall())

    assert sorted(indexes) == sorted(
        [
            f"{Conversion._meta.db_table}_pkey",
            "ct_conv_created_idx",
            "ct_conv_job_idx",
            "ct_conv_subscriber_idx",
            "ct_conv_key_unique",
        ]
    )
    assert "UNIQUE" in indexes["ct_conv_key_unique"]


@pytest.mark.django_db
def test_extract_rows_have_one_key_led_by_the_event_date() -> None:
    table = ExtractedConversion._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)

    indexed = {
        name: details["columns"]
        for name, details in constraints.items()
        if details["index"] or details["unique"] or details["primary_key"]
    }
    assert sorted(indexed.values()) == [
        ["event_date", "member_id", "job_id", "subscriber_id", "fingerprint"],
        ["id"],
    ]
    assert not any(details["foreign_key"] for details in constraints.values())


@pytest.mark.django_db
def test_verdicts_have_their_key_and_no_foreign_key() -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(
            cursor, Verdict._meta.db_table
        )

    keys = [
        details["columns"]
        for details in constraints.values()
        if details["index"] or details["unique"] or details["primary_key"]
    ]
    assert sorted(keys) == [["conversion_id"], ["row_id"]]
    assert not any(details["foreign_key"] for details in constraints.values())
