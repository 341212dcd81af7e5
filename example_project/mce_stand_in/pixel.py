"""Reading a conversion pixel's XML the way a careful receiver would.

The XML comes from any browser that requests the pixel URL, so it is parsed with
defusedxml (no entities, no DTD), its size is bounded, and a document that is
not a well-formed conversion is refused whole.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from example_project.mce_stand_in.models import MAX_VALUE_LENGTH

MAX_XML_LENGTH = 8192
FIELD_BY_ELEMENT = {
    "member_id": "member_id",
    "job_id": "job_id",
    "sub_id": "sub_id",
    "list": "list_id",
    "original_link_id": "original_link_id",
    "BatchID": "batch_id",
    "conversion_link_id": "conversion_link_id",
    "link_alias": "link_alias",
    "display_order": "display_order",
}
DATA_ATTRIBUTES = ("amt", "unit", "accumulate")


class RejectedPixel(ValueError):
    """The reason a pixel request was refused; it never quotes the request."""


def read_pixel(xml: str) -> dict[str, Any]:
    """The model fields for one pixel XML document, or :class:`RejectedPixel`."""
    if len(xml) > MAX_XML_LENGTH:
        raise RejectedPixel(f"the XML is longer than {MAX_XML_LENGTH} characters")
    try:
        root = fromstring(xml, forbid_dtd=True)
    except (ParseError, DefusedXmlException):
        raise RejectedPixel(
            "the XML is not well-formed, or uses a DTD or entities"
        ) from None
    if (
        root.tag != "system"
        or root.findtext("system_name") != "tracking"
        or root.findtext("action") != "conversion"
    ):
        raise RejectedPixel("the XML is not a tracking conversion")
    fields: dict[str, Any] = {
        field: _single_text(root, element)
        for element, field in FIELD_BY_ELEMENT.items()
    }
    fields["data"] = [
        {name: _bounded(item.get(name, ""), name) for name in DATA_ATTRIBUTES}
        for item in root.iterfind("data_set/data")
    ]
    fields["xml"] = xml
    return fields


def _single_text(root: Any, element: str) -> str:
    found = root.findall(element)
    if len(found) > 1:
        raise RejectedPixel(f"<{element}> appears more than once")
    return _bounded(found[0].text or "" if found else "", element)


def _bounded(value: str, name: str) -> str:
    if len(value) > MAX_VALUE_LENGTH:
        raise RejectedPixel(f"{name} is longer than {MAX_VALUE_LENGTH} characters")
    return value
