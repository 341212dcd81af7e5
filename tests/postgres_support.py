"""Helpers for the tests that run only against PostgreSQL."""

from __future__ import annotations

import time

from django.db import connection


def wait_for_a_blocked_backend() -> bool:
    """Whether another session came to wait for a lock within ten seconds."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.05)
    return False
