"""Print a landing URL as MCE builds it for a conversion link, to simulate a click."""

from __future__ import annotations

import secrets
from argparse import ArgumentParser
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from conversion_tracking.conf import PREFIX, conf
from conversion_tracking.links import add_tracking_parameters
from conversion_tracking.tracking import InvalidTrackingSet, TrackingSet, parse

# The IDs of MCE's own documentation examples: realistic in shape and length.
DEFAULT_JOB_ID = "2027714"
DEFAULT_SUBSCRIBER_ID = "151496521"
DEFAULT_LIST_ID = "1940_HTML"
DEFAULT_URL_ID = "55981221"
DEFAULT_MEMBER_ID = "6421787"
DEFAULT_BATCH_ID = "1"


def _random_id(digits: int) -> str:
    return str(10 ** (digits - 1) + secrets.randbelow(9 * 10 ** (digits - 1)))


class Command(BaseCommand):
    help = (
        "Print a landing URL carrying MCE's tracking parameters (j, sfmc_sub, l, u, "
        "mid, jb), as a click on a conversion link in an email produces it. Open it "
        "in a browser to simulate that click on any site running this app."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "url",
            help="The landing page, such as https://staging.example.com/offer/. "
            "Its own query and fragment are kept; MCE parameters in it are replaced.",
        )
        parser.add_argument("--job", help=f"Job ID (j). Default: {DEFAULT_JOB_ID}.")
        parser.add_argument(
            "--subscriber",
            help=f"Subscriber ID (sfmc_sub). Default: {DEFAULT_SUBSCRIBER_ID}.",
        )
        parser.add_argument(
            "--list",
            dest="list_id",
            default=DEFAULT_LIST_ID,
            help="List ID (l), kept exactly as given; '' leaves it out. "
            f"Default: {DEFAULT_LIST_ID}.",
        )
        parser.add_argument(
            "--url-id",
            default=DEFAULT_URL_ID,
            help=f"URL ID (u); '' leaves it out. Default: {DEFAULT_URL_ID}.",
        )
        parser.add_argument(
            "--mid",
            help=f"Member ID (mid). Default: the lowest of {PREFIX}ALLOWED_MIDS "
            f"when set, else {DEFAULT_MEMBER_ID}.",
        )
        parser.add_argument(
            "--batch",
            default=DEFAULT_BATCH_ID,
            help=f"Job batch ID (jb); '' leaves it out. Default: {DEFAULT_BATCH_ID}.",
        )
        parser.add_argument(
            "--random",
            action="store_true",
            help="Pick a random job ID and subscriber ID (unless given), so that "
            "each run simulates a new click.",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        values = {
            "j": self._given_or(options, "job", 7, DEFAULT_JOB_ID),
            "sfmc_sub": self._given_or(options, "subscriber", 9, DEFAULT_SUBSCRIBER_ID),
            "l": options["list_id"],
            "u": options["url_id"],
            "mid": _default_member_id() if options["mid"] is None else options["mid"],
            "jb": options["batch"],
        }
        try:
            tracking = parse(values, captured_at=timezone.now())
        except InvalidTrackingSet as exc:
            raise CommandError(
                f"The middleware would refuse these IDs: {exc}."
            ) from None
        allowed = conf.ALLOWED_MIDS
        if allowed and str(tracking.member_id) not in allowed:
            raise CommandError(
                f"The middleware would refuse this MID: it is not in "
                f"{PREFIX}ALLOWED_MIDS ({', '.join(sorted(allowed))})."
            )
        return _landing_url(options["url"], tracking)

    @staticmethod
    def _given_or(options: dict[str, Any], name: str, digits: int, default: str) -> str:
        given: str | None = options[name]
        if given is not None:
            return given
        return _random_id(digits) if options["random"] else default


def _default_member_id() -> str:
    allowed = conf.ALLOWED_MIDS
    return min(allowed, key=int) if allowed else DEFAULT_MEMBER_ID


def _landing_url(url: str, tracking: TrackingSet) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise CommandError(
            f"{url!r} is not an absolute http:// or https:// URL, such as "
            "https://staging.example.com/offer/."
        )
    page = urlunsplit(parts._replace(path=parts.path or "/"))
    return add_tracking_parameters(page, tracking)
