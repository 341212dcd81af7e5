"""The columns of a Tracking Extract's conversions file, and a row of it.

Columns are found by header name, case and spaces ignored; unknown ones are
ignored, and a missing required one is named.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from conversion_tracking.extract_archive import ExtractError


class ExtractRow(NamedTuple):
    """One conversion recorded by MCE; text fields are ``""`` when absent.

    ``fingerprint`` is the CRC-32 of the row's other values (not its email
    address): with the IDs and the event date it identifies the row, so that
    overlapping extracts store it once.
    """

    member_id: int
    job_id: int
    subscriber_id: int
    event_date: datetime
    fingerprint: int
    batch_id: int | None
    url_id: int | None
    subscriber_key: str
    list_id: str
    event_type: str
    triggered_send_key: str
    email_address: str
    link_alias: str
    url: str
    referring_url: str
    conversion_data: str


# Header names (compared case-insensitively, spaces ignored) for each field.
REQUIRED_COLUMNS: dict[str, str] = {
    "member_id": "ClientID",
    "job_id": "SendID",
    "subscriber_id": "SubscriberID",
    "batch_id": "BatchID",
    "event_date": "EventDate",
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "url_id": ("URLID", "LinkID"),
    "subscriber_key": ("SubscriberKey",),
    "list_id": ("ListID",),
    "event_type": ("EventType",),
    "triggered_send_key": ("TriggeredSendExternalKey", "TriggeredSendCustomerKey"),
    "email_address": ("EmailAddress",),
    "link_alias": ("LinkAlias", "Alias"),
    "url": ("URL", "LinkURL", "LinkContent"),
    "referring_url": ("ReferringURL",),
    "conversion_data": ("ConversionData",),
}
TEXT_FIELDS = ExtractRow._fields[7:]
# Text fields kept in columns of bounded length; the others are unbounded.
BOUNDED_FIELDS = TEXT_FIELDS[:6]
ID_FIELDS = ("member_id", "job_id", "subscriber_id", "batch_id", "url_id")
OPTIONAL_IDS = ("batch_id", "url_id")


def _normalise(header: str) -> str:
    return "".join(header.split()).casefold()


def map_columns(headers: list[str], name: str) -> dict[str, int]:
    """The position of each known field in ``headers``, by header name."""
    positions: dict[str, int] = {}
    for position, header in enumerate(headers):
        positions.setdefault(_normalise(header), position)
    missing = [
        header
        for header in REQUIRED_COLUMNS.values()
        if _normalise(header) not in positions
    ]
    if len(missing) == len(REQUIRED_COLUMNS):
        raise ExtractError(
            f"{name} is not the conversions file of a Tracking Extract: its first "
            f"line names none of the columns {', '.join(missing)}.",
            line=1,
        )
    if missing:
        raise ExtractError(
            f"{name} lacks the required column(s) {', '.join(missing)}.", line=1
        )
    index = {
        field: positions[_normalise(header)]
        for field, header in REQUIRED_COLUMNS.items()
    }
    for field, aliases in OPTIONAL_COLUMNS.items():
        found = [
            positions[_normalise(a)] for a in aliases if _normalise(a) in positions
        ]
        if found:
            index[field] = found[0]
    return index
