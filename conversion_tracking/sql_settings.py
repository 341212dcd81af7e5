"""PostgreSQL settings changed for a few statements of the current transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.backends.utils import CursorWrapper


@contextmanager
def postgresql_settings(cursor: CursorWrapper, **values: str) -> Iterator[None]:
    """PostgreSQL's settings ``values`` (``work_mem="128MB"``, ``jit="off"``)
    for the statements inside, put back after them.

    Each lasts until the end of the current transaction at the latest: use it
    inside ``transaction.atomic()``. On other databases it changes nothing.
    """
    if cursor.db.vendor != "postgresql":
        yield
        return
    previous = {}
    for name, value in values.items():
        cursor.execute("SELECT current_setting(%s)", [name])
        previous[name] = cursor.fetchone()[0]
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
    yield
    # Only on success: on failure the transaction (or savepoint) is rolled
    # back, and that puts the settings back by itself.
    for name, value in previous.items():
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
