"""Helpers shared by the tests of firing, the template tags and the mirror admin."""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.http import HttpRequest
from django.test import RequestFactory
from django.utils import timezone

from conversion_tracking import session as tracking_session
from conversion_tracking.tracking import TrackingSet, parse
from tests.factories import LANDING_PARAMETERS as LANDING


def make_tracking(
    captured_at: datetime | None = None, **changes: str | None
) -> TrackingSet:
    values = {**LANDING, **changes}
    present = {name: value for name, value in values.items() if value is not None}
    moment = captured_at or timezone.now() - timedelta(minutes=5)
    return parse(present, captured_at=moment)


def make_request(
    tracking: TrackingSet | None = None, path: str = "/thanks/"
) -> HttpRequest:
    """A GET request with a real (unsaved) session holding ``tracking``."""
    request = RequestFactory().get(path)
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    if tracking is not None:
        tracking_session.save(request.session, tracking)
    return request
