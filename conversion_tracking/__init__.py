"""Conversion tracking for Salesforce Marketing Cloud Engagement emails."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

    from conversion_tracking.tracking import TrackingSet

__version__ = "0.1.0.dev0"
__all__ = ["get_tracking"]


def get_tracking(request: HttpRequest) -> TrackingSet | None:
    """The visitor's current tracking set, or ``None`` when there is none.

    ``None`` too when the attribution window has passed or the consent callable
    (``CONVERSION_TRACKING_CONSENT``) says no.
    """
    from conversion_tracking.capture import get_tracking as current

    return current(request)
