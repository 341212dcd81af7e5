"""Keeping a tracking set in a Django session, with the attribution window."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.contrib.sessions.backends.base import SessionBase

from conversion_tracking.conf import conf
from conversion_tracking.tracking import InvalidTrackingSet, TrackingSet

logger = logging.getLogger(__name__)

SESSION_KEY = "_conversion_tracking"


def save(session: SessionBase, tracking: TrackingSet) -> None:
    """Store ``tracking`` in ``session``, replacing any earlier set."""
    session[SESSION_KEY] = tracking.to_payload()


def load(session: SessionBase, *, now: datetime | None = None) -> TrackingSet | None:
    """The session's current set, or ``None``.

    A set older than the attribution window, or one that no longer validates, is
    removed from the session and treated as absent.
    """
    payload = session.get(SESSION_KEY)
    if payload is None:
        return None
    try:
        tracking = _read(payload)
    except InvalidTrackingSet as exc:
        logger.debug("Dropped an unreadable tracking set from a session: %s", exc)
        del session[SESSION_KEY]
        return None
    if tracking.is_expired(conf.MAX_AGE, now):
        del session[SESSION_KEY]
        return None
    return tracking


def _read(payload: Any) -> TrackingSet:
    # A set is read on every page that renders a tag; validating the same payload
    # again each time is the costliest part of a tag, and its result never changes.
    if not isinstance(payload, list):
        return TrackingSet.from_payload(payload)
    try:
        return _read_hashable(tuple(payload))
    except TypeError:  # an unhashable item: malformed, and refused uncached
        return TrackingSet.from_payload(payload)


@lru_cache(maxsize=1024)
def _read_hashable(payload: tuple[Any, ...]) -> TrackingSet:
    return TrackingSet.from_payload(list(payload))


def clear(session: SessionBase) -> None:
    session.pop(SESSION_KEY, None)
