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
