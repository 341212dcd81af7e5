"""Conversion tracking for Salesforce Marketing Cloud Engagement emails."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from decimal import Decimal

    from django.http import HttpRequest

    from conversion_tracking.models import Conversion
    from conversion_tracking.tracking import TrackingSet

__version__ = "0.1.0.dev0"
__all__ = ["fire_conversion", "get_tracking"]


def get_tracking(request: HttpRequest) -> TrackingSet | None:
    """The visitor's current tracking set, or ``None`` when there is none.

    ``None`` too when the attribution window has passed or the consent callable
    (``CONVERSION_TRACKING_CONSENT``) says no.
    """
    from conversion_tracking.capture import get_tracking as current

    return current(request)


def fire_conversion(
    request: HttpRequest,
    *,
    alias: str = "",
    link_id: int = 1,
    display_order: int = 1,
    amount: Decimal | int | float | str | None = None,
    unit: str | None = None,
    accumulate: bool = False,
    data: Iterable[Mapping[str, object]] | None = None,
    reference: str | int | None = None,
) -> Conversion | None:
    """Record a conversion once and return its row, carrying ``pixel_url``.

    ``None`` when there is no current tracking set, consent is refused, or the
    conversion (click, ``link_id``, ``reference``) has fired before. Invalid
    arguments raise :class:`~conversion_tracking.pixel_arguments.InvalidConversion`.
    """
    from conversion_tracking.firing import fire_conversion as fire

    return fire(
        request,
        alias=alias,
        link_id=link_id,
        display_order=display_order,
        amount=amount,
        unit=unit,
        accumulate=accumulate,
        data=data,
        reference=reference,
    )
