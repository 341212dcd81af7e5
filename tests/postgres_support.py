"""Helpers for the tests that run only against PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction


@dataclass
class TwoSessions:
    """What :func:`second_waits_for_first` saw."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)
    second_waited: bool = False


def second_waits_for_first(
    first: Callable[[], Any], second: Callable[[], Any]
) -> TwoSessions:
    """Run ``first`` in a transaction of its own session, and keep that open
    while ``second`` runs in another session, until ``second`` waits for a
    lock (ten seconds at most); then commit ``first`` and let ``second``
    finish. Results go under ``"first"`` and ``"second"``."""
    seen = TwoSessions()
    first_done, commit_first = threading.Event(), threading.Event()

    def in_session(name: str, work: Callable[[], Any], hold: bool) -> None:
        try:
            with transaction.atomic():
                seen.results[name] = work()
                if hold:
                    first_done.set()
                    commit_first.wait(timeout=30)
        except BaseException as exc:
            seen.errors.append(exc)
        finally:
            first_done.set()
            connection.close()

    threads = [
        threading.Thread(target=in_session, args=("first", first, True)),
        threading.Thread(target=in_session, args=("second", second, False)),
    ]
    threads[0].start()
    assert first_done.wait(timeout=30)
    threads[1].start()
    seen.second_waited = wait_for_a_blocked_backend()
    commit_first.set()
    for thread in threads:
        thread.join(timeout=30)
    return seen


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
