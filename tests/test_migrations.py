from __future__ import annotations

import pytest
from django.db import connection

from conversion_tracking.models import Conversion


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a PostgreSQL storage parameter: needs DATABASE_URL to point at PostgreSQL",
)
@pytest.mark.django_db
def test_conversions_table_leaves_room_for_status_updates() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE relname = %s",
            [Conversion._meta.db_table],
        )
        (options,) = cursor.fetchone()

    assert options == ["fillfactor=50"]


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
    assert not any("verification" in definition for definition in indexes.values())
