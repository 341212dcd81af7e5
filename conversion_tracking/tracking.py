"""The tracking set: the IDs of one email click, parsed once from untrusted text.

Past this module no code sees MCE's parameter names (``j``, ``sfmc_sub``...):
only the fields of :class:`TrackingSet`. Nothing here knows about requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from urllib.parse import unquote_plus

from django.core import signing

# MCE's parameter name for each field, in the order MCE appends them.
PARAMETER_BY_FIELD: dict[str, str] = {
    "job_id": "j",
    "subscriber_id": "sfmc_sub",
    "list_id": "l",
    "url_id": "u",
    "member_id": "mid",
    "batch_id": "jb",
}
FIELD_BY_PARAMETER = {param: field for field, param in PARAMETER_BY_FIELD.items()}
PARAMETERS = frozenset(FIELD_BY_PARAMETER)
REQUIRED_PARAMETERS = ("j", "sfmc_sub", "mid")

# The cheap test a request must pass before anything else is looked at: does the
# raw query string name one of the six parameters? It is searched in "&" plus the
# query string: a pattern that starts with a literal is found several times faster
# than one that starts with an alternation such as (?:^|&).
QUERY_GATE = re.compile(r"&(?:jb?|sfmc_sub|[lu]|mid)(?:[=&]|$)")

MAX_ID = 2**63 - 1  # the largest value a signed 64-bit column holds
_ID = re.compile(r"[0-9]{1,19}")
# A list ID is digits, sometimes with a suffix such as ``_HTML``.
_LIST_ID = re.compile(r"[0-9]{1,19}(?:_[A-Za-z]{1,20})?")

SIGNING_SALT = "conversion_tracking.hidden_field"


class InvalidTrackingSet(ValueError):
    """Raised with a reason that names a parameter, never a subscriber's value."""


@dataclass(frozen=True, slots=True)
class TrackingSet:
    """The IDs of one email click and the time it was captured."""

    member_id: int
    job_id: int
    subscriber_id: int
    list_id: str | None
    url_id: int | None
    batch_id: int | None
    captured_at: datetime

    def parameters(self) -> dict[str, str]:
        """MCE's parameters for this set, in MCE's order, absent ones left out."""
        values = {
            param: getattr(self, field) for field, param in PARAMETER_BY_FIELD.items()
        }
        return {
            param: str(value) for param, value in values.items() if value is not None
        }

    def to_payload(self) -> list[Any]:
        """A compact JSON-serialisable form, for sessions and signed fields."""
        return [
            self.member_id,
            self.job_id,
            self.subscriber_id,
            self.list_id,
            self.url_id,
            self.batch_id,
            self.captured_at.isoformat(),
        ]

    @classmethod
    def from_payload(cls, payload: Any) -> TrackingSet:
        """Rebuild a set from :meth:`to_payload`, validating it all over again."""
        if not isinstance(payload, list) or len(payload) != 7:
            raise InvalidTrackingSet("malformed payload")
        member, job, subscriber, list_id, url, batch, captured = payload
        values = {"mid": member, "j": job, "sfmc_sub": subscriber, "l": list_id}
        values |= {"u": url, "jb": batch}
        strings = {
            param: str(value)
            for param, value in values.items()
            if value is not None
            and isinstance(value, int | str)
            and not isinstance(value, bool)
        }
        if len(strings) != sum(value is not None for value in values.values()):
            raise InvalidTrackingSet("malformed payload")
        if not isinstance(captured, str):
            raise InvalidTrackingSet("malformed capture time")
        try:
            captured_at = datetime.fromisoformat(captured)
        except ValueError:
            raise InvalidTrackingSet("malformed capture time") from None
        if captured_at.tzinfo is None:
            raise InvalidTrackingSet("malformed capture time")
        return parse(strings, captured_at=captured_at)

    def is_expired(self, max_age: timedelta, now: datetime | None = None) -> bool:
        now = now or datetime.now(dt_timezone.utc)
        return now - self.captured_at > max_age


def _validate_id(param: str, value: str) -> int:
    if not _ID.fullmatch(value):
        raise InvalidTrackingSet(f"{param}: not 1 to 19 ASCII digits")
    number = int(value)
    if number > MAX_ID:
        raise InvalidTrackingSet(f"{param}: larger than a 64-bit integer")
    return number


def _validate_list_id(value: str) -> str:
    if not _LIST_ID.fullmatch(value):
        raise InvalidTrackingSet("l: not digits with an optional _LETTERS suffix")
    if int(value.partition("_")[0]) > MAX_ID:
        raise InvalidTrackingSet("l: larger than a 64-bit integer")
    return value


def collect(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Pick MCE's parameters out of query pairs, refusing conflicting repeats.

    A parameter repeated with the same value is accepted (some redirectors append
    the parameters a second time); repeated with different values, it is
    ambiguous and the whole set is refused.
    """
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in PARAMETERS:
            continue
        if name in found and found[name] != value:
            raise InvalidTrackingSet(
                f"{name}: given more than once, with different values"
            )
        found[name] = value
    return found


def without_parameters(query: str) -> str:
    """A raw query string without MCE's six parameters.

    Every other pair is kept in its order and exactly as it was encoded.
    """
    return "&".join(
        pair
        for pair in query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]) not in PARAMETERS
    )


def parse(values: Mapping[str, str], *, captured_at: datetime) -> TrackingSet:
    """Validate MCE's parameters and build a set, or raise :class:`InvalidTrackingSet`.

    ``j``, ``sfmc_sub`` and ``mid`` are required; ``l``, ``u`` and ``jb`` are kept
    when present and not empty. One invalid value refuses the whole set.
    """
    for param in REQUIRED_PARAMETERS:
        if not values.get(param):
            raise InvalidTrackingSet(f"{param}: missing or empty")
    list_id = values.get("l") or None
    url_id = values.get("u") or None
    batch_id = values.get("jb") or None
    return TrackingSet(
        member_id=_validate_id("mid", values["mid"]),
        job_id=_validate_id("j", values["j"]),
        subscriber_id=_validate_id("sfmc_sub", values["sfmc_sub"]),
        list_id=None if list_id is None else _validate_list_id(list_id),
        url_id=None if url_id is None else _validate_id("u", url_id),
        batch_id=None if batch_id is None else _validate_id("jb", batch_id),
        captured_at=captured_at,
    )


def sign(tracking: TrackingSet) -> str:
    """A tamper-proof, URL-safe token of the set, for a hidden form field."""
    return signing.dumps(tracking.to_payload(), salt=SIGNING_SALT, compress=True)


def unsign(token: str, *, max_age: timedelta) -> TrackingSet:
    """Read a token from :func:`sign` back, or raise :class:`InvalidTrackingSet`.

    A token older than ``max_age``, tampered with, or malformed is refused.
    """
    if not isinstance(token, str) or len(token) > 1024:
        raise InvalidTrackingSet("hidden field: malformed")
    try:
        payload = signing.loads(token, salt=SIGNING_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise InvalidTrackingSet("hidden field: expired") from None
    except (signing.BadSignature, ValueError):
        raise InvalidTrackingSet("hidden field: bad signature") from None
    return TrackingSet.from_payload(payload)
