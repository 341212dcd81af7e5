"""Template tags that carry the tracking set along and fire the conversion pixel.

Load them with ``{% load conversion_tracking %}``. Every tag renders nothing when
the visitor has no current tracking set or the consent callable says no. A
misused tag raises ``TemplateSyntaxError`` when ``DEBUG`` is on; otherwise it
logs a warning and renders nothing.
"""

from __future__ import annotations

import logging

from django import template
from django.conf import settings
from django.http import HttpRequest
from django.template.context import Context
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from conversion_tracking.capture import HIDDEN_FIELD_NAME, get_tracking
from conversion_tracking.firing import fire_conversion
from conversion_tracking.links import add_tracking_parameters
from conversion_tracking.pixel_arguments import InvalidConversion
from conversion_tracking.tracking import PARAMETER_BY_FIELD, sign

logger = logging.getLogger(__name__)
register = template.Library()

# Out of the layout, yet rendered: browsers fetch images hidden this way.
PIXEL_STYLE = "position:absolute;width:1px;height:1px;border:0;visibility:hidden"
_HIDDEN_INPUT = '<input type="hidden" name="{}" value="{}">'
_PIXEL_IMG = f'<img src="{{}}" width="1" height="1" alt="" style="{PIXEL_STYLE}">'
_NOTHING = SafeString("")


def _misuse(message: str) -> None:
    if settings.DEBUG:
        raise template.TemplateSyntaxError(message)
    logger.warning("%s", message)


def _request(context: Context, tag: str) -> HttpRequest | None:
    request = context.get("request")
    if isinstance(request, HttpRequest):
        return request
    _misuse(
        f"{{% {tag} %}} needs the request in the template context: add "
        "'django.template.context_processors.request' to the context processors."
    )
    return None


def _text(value: object) -> str:
    # Plain text even from a template literal (a SafeString): a URL is text, and
    # is escaped on output like any other value when autoescaping is on.
    return str.__str__(str(value))


def _tracked_url(url: object, request: HttpRequest) -> str:
    text = _text(url)
    tracking = get_tracking(request)
    if tracking is None:
        return text
    try:
        return add_tracking_parameters(text, tracking)
    except ValueError as exc:
        _misuse(f"Cannot add conversion tracking to a malformed URL: {exc}")
        return text


@register.simple_tag(takes_context=True)
def conversion_hidden_fields(context: Context, *, raw: bool = False) -> SafeString:
    """The current set as hidden input: one signed field, or six plain ones."""
    request = _request(context, "conversion_hidden_fields")
    tracking = None if request is None else get_tracking(request)
    if tracking is None:
        return _NOTHING
    if raw:
        values = tracking.parameters()
        return format_html_join(
            "",
            _HIDDEN_INPUT,
            ((name, values.get(name, "")) for name in PARAMETER_BY_FIELD.values()),
        )
    return format_html(_HIDDEN_INPUT, HIDDEN_FIELD_NAME, sign(tracking))


@register.simple_tag(takes_context=True)
def conversion_url(context: Context, url: str) -> str:
    """``url`` with MCE's parameters added, for a link to another domain."""
    request = _request(context, "conversion_url")
    return _text(url) if request is None else _tracked_url(url, request)


@register.filter
def with_conversion_tracking(url: object, request: object) -> str:
    """``{{ url|with_conversion_tracking:request }}``: the filter form of the tag."""
    if not isinstance(request, HttpRequest):
        _misuse(
            "The with_conversion_tracking filter needs the request as its argument: "
            "{{ url|with_conversion_tracking:request }}."
        )
        return _text(url)
    return _tracked_url(url, request)


@register.simple_tag(takes_context=True)
def conversion_pixel(
    context: Context,
    *,
    alias: str = "",
    link_id: int = 1,
    display_order: int = 1,
    amount: object = None,
    unit: str | None = None,
    accumulate: bool = False,
    data: object = None,
    reference: str | int | None = None,
) -> SafeString:
    """The 1x1 conversion pixel, the first time this conversion happens."""
    request = _request(context, "conversion_pixel")
    if request is None:
        return _NOTHING
    try:
        conversion = fire_conversion(
            request,
            alias=alias,
            link_id=link_id,
            display_order=display_order,
            amount=amount,  # type: ignore[arg-type]
            unit=unit,
            accumulate=accumulate,
            data=data,  # type: ignore[arg-type]
            reference=reference,
        )
    except InvalidConversion as exc:
        _misuse(f"{{% conversion_pixel %}}: {exc}")
        return _NOTHING
    if conversion is None:
        return _NOTHING
    return format_html(_PIXEL_IMG, conversion.pixel_url)
