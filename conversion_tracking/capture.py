"""Capturing a tracking set from a request, and reading the current one back.

The middleware is a thin shell over these functions; they run synchronously, and
the middleware's async path calls them through ``sync_to_async``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from datetime import timezone as dt_timezone
from urllib.parse import unquote_plus

from django.conf import settings
from django.http import HttpRequest, HttpResponseRedirect
from django.utils import timezone
from django.utils.encoding import escape_uri_path
from django.utils.http import escape_leading_slashes

from conversion_tracking import session as tracking_session
from conversion_tracking.conf import conf
from conversion_tracking.signals import click_captured
from conversion_tracking.tracking import (
    PARAMETERS,
    QUERY_GATE,
    InvalidTrackingSet,
    TrackingSet,
    collect,
    parse,
    unsign,
    without_parameters,
)

logger = logging.getLogger(__name__)

HIDDEN_FIELD_NAME = "_conversion_tracking"
_FORM_CONTENT_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data"}
)


def is_landing(request: HttpRequest) -> bool:
    """Whether the request's own URL names one of MCE's parameters.

    Only the raw query string is looked at, so that requests without MCE's
    parameters cost one dictionary lookup and, at most, one regex search.
    """
    query = request.META.get("QUERY_STRING")
    if not query or request.method != "GET":
        return False
    return QUERY_GATE.search("&" + query) is not None


def may_carry_hidden_field(request: HttpRequest) -> bool:
    return request.method == "POST" and request.content_type in _FORM_CONTENT_TYPES


def has_consent(request: HttpRequest) -> bool:
    consent = conf.consent_callable()
    return consent is None or bool(consent(request))


def capture_from_query(request: HttpRequest) -> HttpResponseRedirect | None:
    """Capture the landing request's set into its session.

    Returns the redirect that strips the parameters from the URL when
    ``CONVERSION_TRACKING_STRIP_PARAMETERS`` asks for one, else ``None``.
    """
    if not has_consent(request):
        return None
    try:
        tracking = _parse_query(request)
    except InvalidTrackingSet as exc:
        logger.debug("Ignored MCE parameters on %s: %s", request.path, exc)
        return None
    tracking_session.save(request.session, tracking)
    if conf.RECORD_CLICKS:
        _record_click(request, tracking)
    click_captured.send(sender=TrackingSet, request=request, tracking=tracking)
    if conf.STRIP_PARAMETERS:
        return HttpResponseRedirect(_url_without_parameters(request))
    return None


def restore_from_hidden_field(request: HttpRequest) -> None:
    """Put the set from a signed hidden field back into a session that has none."""
    token = request.POST.get(HIDDEN_FIELD_NAME)
    if not token or not has_consent(request):
        return
    if tracking_session.load(request.session) is not None:
        return
    try:
        tracking = unsign(token, max_age=conf.MAX_AGE)
    except InvalidTrackingSet as exc:
        logger.debug("Ignored a hidden tracking field on %s: %s", request.path, exc)
        return
    if tracking.is_expired(conf.MAX_AGE) or not _mid_allowed(tracking):
        logger.debug(
            "Ignored a hidden tracking field on %s: out of window", request.path
        )
        return
    tracking_session.save(request.session, tracking)


def get_tracking(request: HttpRequest) -> TrackingSet | None:
    """The visitor's current tracking set, or ``None`` when there is none.

    ``None`` as well when the attribution window has passed, the consent
    callable (``CONVERSION_TRACKING_CONSENT``) says no or the request has no
    session.
    """
    session = getattr(request, "session", None)
    if session is None or not has_consent(request):
        return None
    return tracking_session.load(session)


def _parse_query(request: HttpRequest) -> TrackingSet:
    query = request.META.get("QUERY_STRING", "")
    tracking = parse(
        collect(_query_pairs(query)), captured_at=datetime.now(dt_timezone.utc)
    )
    if not _mid_allowed(tracking):
        raise InvalidTrackingSet("mid: not in CONVERSION_TRACKING_ALLOWED_MIDS")
    return tracking


def _query_pairs(query: str) -> Iterator[tuple[str, str]]:
    """MCE's parameters in the raw query string, values decoded as Django does.

    Building ``request.GET`` would cost more than all the rest of a capture; and
    reading the names as written, not percent-decoded, agrees with the gate.
    """
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name in PARAMETERS:
            yield name, unquote_plus(value)


def _mid_allowed(tracking: TrackingSet) -> bool:
    allowed = conf.ALLOWED_MIDS
    return not allowed or str(tracking.member_id) in allowed


def _record_click(request: HttpRequest, tracking: TrackingSet) -> None:
    from conversion_tracking.models import ClickThrough

    ClickThrough.objects.create(
        **ClickThrough.fields_of(tracking),
        path=stored_path(request),
        captured_at=database_time(tracking.captured_at),
    )


def database_time(moment: datetime) -> datetime:
    """``moment`` as a model field takes it: naive local time when USE_TZ is off."""
    # Sets always carry an aware time; a site with USE_TZ off stores naive ones.
    return moment if settings.USE_TZ else timezone.make_naive(moment)


def stored_path(request: HttpRequest) -> str:
    """The request's path as it travelled, percent-encoded.

    Encoded, a path holds only printable ASCII: a ``%00`` in a crafted URL is
    stored as written instead of a NUL that PostgreSQL refuses.
    """
    return escape_uri_path(request.path)


def _url_without_parameters(request: HttpRequest) -> str:
    kept = without_parameters(request.META.get("QUERY_STRING", ""))
    # A path starting with // would make the redirect leave the site.
    path = escape_leading_slashes(escape_uri_path(request.path))
    return f"{path}?{kept}" if kept else path
