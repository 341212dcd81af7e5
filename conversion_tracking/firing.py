"""Firing a conversion once: validate, look the conversion up, record it, signal.

A conversion is identified by the click's tracking set, the conversion link ID
and the site's reference (an order number, say). The mirror's unique
``conversion_key`` makes that identity hold across processes: of two requests
racing to fire the same conversion, the database lets one row in and the other
request renders nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.db import IntegrityError, router, transaction
from django.http import HttpRequest

from conversion_tracking import pixel
from conversion_tracking.capture import database_time, get_tracking, stored_path
from conversion_tracking.conf import conf
from conversion_tracking.models import Conversion
from conversion_tracking.pixel_arguments import check_text, conversion_arguments
from conversion_tracking.signals import conversion_fired
from conversion_tracking.tracking import TrackingSet

logger = logging.getLogger(__name__)

MAX_REFERENCE_LENGTH = 255  # Conversion.reference


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
    """Record the conversion and return its row, whose ``pixel_url`` MCE must get.

    Returns ``None`` when the visitor has no current tracking set, when consent
    is refused, or when this conversion has fired before. Invalid arguments
    raise :class:`~conversion_tracking.pixel_arguments.InvalidConversion`,
    whether or not there is a set, so that mistakes show up on every page view.
    """
    arguments = conversion_arguments(
        alias=alias,
        link_id=link_id,
        display_order=display_order,
        amount=amount,
        unit=unit,
        accumulate=accumulate,
        data=data,
    )
    reference_text = _reference(reference)
    tracking = get_tracking(request)
    if tracking is None:
        return None
    key = conversion_key(tracking, arguments.link_id, reference_text)
    if _already_fired(key):
        return None
    row = Conversion(
        **Conversion.fields_of(tracking),
        clicked_at=database_time(tracking.captured_at),
        link_id=arguments.link_id,
        alias=arguments.alias,
        display_order=arguments.display_order,
        data=[item.to_json() for item in arguments.items],
        reference=reference_text,
        pixel_url=pixel.pixel_url(tracking, arguments, base_url=conf.PIXEL_URL),
        path=stored_path(request),
        conversion_key=key,
    )
    if not _insert(row):
        return None
    conversion_fired.send(sender=Conversion, request=request, conversion=row)
    return row


def conversion_key(tracking: TrackingSet, link_id: int, reference: str) -> str:
    """The SHA-256 hex digest that identifies one conversion of one click."""
    # Every field but the last is digits, letters or an ISO time, none holding
    # "|": the joined text is unambiguous even when the reference contains one.
    text = "|".join(
        (
            str(tracking.member_id),
            str(tracking.job_id),
            str(tracking.subscriber_id),
            tracking.list_id or "",
            "" if tracking.url_id is None else str(tracking.url_id),
            "" if tracking.batch_id is None else str(tracking.batch_id),
            tracking.captured_at.isoformat(),
            str(link_id),
            reference,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _reference(reference: object) -> str:
    if reference is None:
        return ""
    if isinstance(reference, int) and not isinstance(reference, bool):
        return str(reference)
    return check_text(reference, "reference", MAX_REFERENCE_LENGTH)


def _already_fired(key: str) -> bool:
    return bool(Conversion.objects.filter(conversion_key=key).exists())


def _insert(row: Conversion) -> bool:
    connection = transaction.get_connection(router.db_for_write(Conversion))
    try:
        if connection.in_atomic_block:
            # PostgreSQL aborts a whole transaction on an error: a savepoint
            # keeps the surrounding one (ATOMIC_REQUESTS, say) usable.
            with transaction.atomic(using=connection.alias):
                row.save(force_insert=True, using=connection.alias)
        else:
            row.save(force_insert=True, using=connection.alias)
    except IntegrityError:
        logger.debug("Conversion %s fired concurrently elsewhere", row.conversion_key)
        return False
    return True
