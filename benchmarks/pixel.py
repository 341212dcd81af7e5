"""Renders per second of a thank-you page with the pixel tag, against a static <img>.

Run from the repository root::

    .venv/bin/python benchmarks/pixel.py [--rounds 31] [--renders 2000]

Both templates are the same small thank-you page, compiled once; they differ
only in the pixel: one holds a static ``<img>`` with a fixed pixel URL, the
other ``{% conversion_pixel ... %}`` with an alias, an amount from the context,
a unit, ``accumulate`` and a reference. Each render gets a request whose
session (the ``signed_cookies`` engine, already in memory) holds a tracking set.

What the pixel figure measures: everything the tag does on a first firing
except the database: resolving the tag's arguments, validating them, reading
and re-validating the set from the session, the consent check, the conversion
key (SHA-256), building the ``Conversion`` row and its pixel URL, sending
``conversion_fired`` and formatting the ``<img>``. The database is left out by
replacing the two functions of ``conversion_tracking.firing`` that touch it
(the lookup answers "not fired yet", the insert succeeds without a write); the
issue sets the goal with the database write excluded.

For information, a third figure renders the pixel template with the database
in (in-memory SQLite, a new reference each render so that every render fires:
one lookup and one INSERT).

The templates are interleaved round by round in a shuffled order; each figure
is the median over the rounds, in CPU time of this process.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.contrib.sessions.backends.signed_cookies import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.template import Context, Template  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.utils import timezone  # noqa: E402

from conversion_tracking import firing  # noqa: E402
from conversion_tracking import session as tracking_session  # noqa: E402
from conversion_tracking.models import Conversion  # noqa: E402
from conversion_tracking.tracking import parse  # noqa: E402

PAGE = (
    '{{% load conversion_tracking %}}<!doctype html><html lang="en"><head>'
    '<meta charset="utf-8"><title>Thank you</title></head><body><main>'
    "<h1>Thank you, {{{{ customer }}}}!</h1>"
    "<p>Order {{{{ order.reference }}}} for {{{{ order.total }}}} USD is on its "
    "way.</p>{pixel}</main></body></html>"
)
STATIC_IMG = (
    '<img src="https://click.exacttarget.com/conversion.aspx?xml=%3Csystem%3E'
    "%3Csystem_name%3Etracking%3C%2Fsystem_name%3E%3Caction%3Econversion"
    '%3C%2Faction%3E%3C%2Fsystem%3E" width="1" height="1" alt="" '
    'style="position:absolute;width:1px;height:1px;border:0;visibility:hidden">'
)
PIXEL_TAG = (
    '{% conversion_pixel alias="Order" link_id=1 display_order=1 '
    'amount=order.total unit="USD" accumulate=True reference=order.reference %}'
)
LANDING = {
    "j": "2027714",
    "sfmc_sub": "151496521",
    "l": "1940_HTML",
    "u": "55981221",
    "mid": "6421787",
    "jb": "1",
}


def make_context() -> Context:
    request = RequestFactory().get("/thanks/")
    request.session = SessionStore()
    tracking = parse(LANDING, captured_at=timezone.now())
    tracking_session.save(request.session, tracking)
    order = {"reference": "ORDER-1001", "total": Decimal("49.90")}
    return Context({"request": request, "customer": "Ada", "order": order})


REAL_DATABASE = (firing._already_fired, firing._insert)
NO_DATABASE = (lambda key: False, lambda row: True)


def use_database(on: bool) -> None:
    firing._already_fired, firing._insert = REAL_DATABASE if on else NO_DATABASE


def timed(render: Callable[[], Any], renders: int) -> float:
    start = time.process_time()
    for _ in range(renders):
        render()
    return renders / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--renders", type=int, default=2000)
    options = parser.parse_args()

    call_command("migrate", verbosity=0)
    static = Template(PAGE.format(pixel=STATIC_IMG))
    tagged = Template(PAGE.format(pixel=PIXEL_TAG))
    context = make_context()
    db_context = make_context()
    counter = iter(range(10**9))

    def with_database() -> str:
        db_context["order"]["reference"] = f"ORDER-{next(counter)}"
        return tagged.render(db_context)

    use_database(False)
    assert tagged.render(context).count('<img src="https://click.') == 1
    assert static.render(context).count('<img src="https://click.') == 1
    use_database(True)

    figures: dict[str, list[float]] = {"static": [], "pixel": [], "pixel+db": []}
    for _ in range(options.rounds):
        order = list(figures)
        random.shuffle(order)
        for name in order:
            if name == "static":
                figures[name].append(
                    timed(lambda: static.render(context), options.renders)
                )
            elif name == "pixel":
                use_database(False)
                figures[name].append(
                    timed(lambda: tagged.render(context), options.renders)
                )
                use_database(True)
            else:
                figures[name].append(timed(with_database, options.renders // 10))

    medians = {name: statistics.median(values) for name, values in figures.items()}
    labels = {
        "static": "static <img>",
        "pixel": "{% conversion_pixel %}, no database",
        "pixel+db": "{% conversion_pixel %}, SQLite lookup+INSERT",
    }
    print(f"{'template':<44} {'renders/s':>10}")
    for name, label in labels.items():
        print(f"{label:<44} {medians[name]:>10,.0f}")
    ratio = medians["static"] / medians["pixel"]
    print(f"\ncost ratio, pixel tag (no database) / static: {ratio:.2f}x (goal <= 5x)")
    print(f"rows written by the database figure: {Conversion.objects.count():,}")


if __name__ == "__main__":
    main()
