"""The conversion pixel: MCE's XML and the URL that carries it to MCE.

Nothing here knows about requests or the database. The site's arguments arrive
validated, as a :class:`~conversion_tracking.pixel_arguments.ConversionArguments`;
:func:`build_xml` and :func:`pixel_url` only format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import quote, urlsplit, urlunsplit

from conversion_tracking.pixel_arguments import ConversionArguments
from conversion_tracking.tracking import TrackingSet

# Characters that need neither XML escaping nor percent-encoding.
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")


def _xml_text(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def _url_text(value: str) -> str:
    if _URL_SAFE.fullmatch(value):
        return value
    return quote(_xml_text(value), safe="")


# The fixed parts of the document. Percent-encoding works byte by byte, so the
# encoded document is the concatenation of its parts' encodings: the fixed parts
# are encoded once, here, and only the values are encoded per pixel.
_XML = {
    "head": "<system><system_name>tracking</system_name><action>conversion</action>"
    "<member_id>",
    "job": "</member_id><job_id>",
    "subscriber": "</job_id><sub_id>",
    "subscriber_end": "</sub_id>",
    "list": "<list>",
    "list_end": "</list>",
    "url": "<original_link_id>",
    "url_end": "</original_link_id>",
    "batch": "<BatchID>",
    "batch_end": "</BatchID>",
    "link": "<conversion_link_id>",
    "alias": "</conversion_link_id><link_alias>",
    "display_order": "</link_alias><display_order>",
    "data_set": "</display_order><data_set>",
    "amount": '<data amt="',
    "unit": '" unit="',
    "accumulate": '" accumulate="',
    "data_end": '"/>',
    "end": "</data_set></system>",
}
_ENCODED = {name: quote(text, safe="") for name, text in _XML.items()}


def _write(
    tracking: TrackingSet,
    arguments: ConversionArguments,
    syntax: dict[str, str],
    text: Callable[[str], str],
) -> str:
    # IDs are ints and amounts plain decimals: neither needs escaping or encoding.
    s = syntax
    parts = [
        s["head"],
        str(tracking.member_id),
        s["job"],
        str(tracking.job_id),
        s["subscriber"],
        str(tracking.subscriber_id),
        s["subscriber_end"],
    ]
    if tracking.list_id is not None:
        parts += (s["list"], text(tracking.list_id), s["list_end"])
    if tracking.url_id is not None:
        parts += (s["url"], str(tracking.url_id), s["url_end"])
    if tracking.batch_id is not None:
        parts += (s["batch"], str(tracking.batch_id), s["batch_end"])
    parts += (s["link"], str(arguments.link_id), s["alias"], text(arguments.alias))
    parts += (s["display_order"], str(arguments.display_order), s["data_set"])
    for item in arguments.items:
        parts += (s["amount"], item.amount)
        if item.unit:
            parts += (s["unit"], text(item.unit))
        flag = "true" if item.accumulate else "false"
        parts += (s["accumulate"], flag, s["data_end"])
    parts.append(s["end"])
    return "".join(parts)


def build_xml(tracking: TrackingSet, arguments: ConversionArguments) -> str:
    """MCE's conversion XML for ``tracking``, with no whitespace between tags."""
    return _write(tracking, arguments, _XML, _xml_text)


@lru_cache(maxsize=16)
def _url_affixes(base_url: str) -> tuple[str, str]:
    parts = urlsplit(base_url)
    query = f"{parts.query}&xml=" if parts.query else "xml="
    prefix = urlunsplit(parts._replace(query="", fragment=""))
    suffix = f"#{parts.fragment}" if parts.fragment else ""
    return f"{prefix}?{query}", suffix


def pixel_url(
    tracking: TrackingSet, arguments: ConversionArguments, *, base_url: str
) -> str:
    """``base_url`` with the XML added as its ``xml`` parameter, percent-encoded.

    A query already in ``base_url`` is kept, before ``xml``.
    """
    prefix, suffix = _url_affixes(base_url)
    return f"{prefix}{_write(tracking, arguments, _ENCODED, _url_text)}{suffix}"
