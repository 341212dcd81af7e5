"""Requests per second through the whole Django stack, with and without capture.

Run from the repository root::

    .venv/bin/python benchmarks/middleware.py [--rounds 151] [--requests 150]

Each stack is a real ``WSGIHandler`` (request signals, URL resolution, the
middleware chain, a trivial view) called in-process with a fresh WSGI environ
per request; nothing goes over a network. Sessions use the ``signed_cookies``
engine, so no stack pays for a file, cache or database round trip on its
session; the click mirror (``ClickThrough``) lives in an in-memory SQLite
database. Round after round, the stacks run the same request back to back in
a shuffled order; each figure is the median over the rounds, and each ratio the
median of the ratios taken within a round. Time is the process's CPU
time, so that other work on a busy machine does not count against one stack.
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import django
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
OURS = "conversion_tracking.middleware.ConversionTrackingMiddleware"
UTM_TRACKER = "utm_tracker.middleware.UtmSessionMiddleware"

STACKS = {
    "bare": [SESSIONS],
    "conversion_tracking": [SESSIONS, OURS],
    "utm_tracker": [SESSIONS, UTM_TRACKER],
}
QUERIES = {
    "(a) no query string": "",
    "(b) ?page=2&utm_source=news": "page=2&utm_source=news",
    "(c) landing URL": (
        "j=2027714&sfmc_sub=151496521&l=1940_HTML&u=55981221&mid=6421787&jb=1"
    ),
}
LANDING = QUERIES["(c) landing URL"]


def configure() -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "conversion_tracking",
            "utm_tracker",
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        MIDDLEWARE=[],
        LOGGING_CONFIG=None,
    )
    django.setup()


def plain(request: object) -> object:
    from django.http import HttpResponse

    return HttpResponse("ok")


def write_session(request: object) -> object:
    from django.http import HttpRequest, HttpResponse

    assert isinstance(request, HttpRequest)
    request.session["_benchmark"] = [
        6421787,
        2027714,
        151496521,
        "1940_HTML",
        55981221,
        1,
        "2026-11-26T15:04:05.123456+00:00",
    ]
    return HttpResponse("ok")


def build_urlpatterns() -> list[object]:
    from django.urls import path

    return [path("offer/", plain), path("write-session/", write_session)]


def handler_for(middleware: list[str]) -> Callable[..., object]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    with override_settings(MIDDLEWARE=middleware):
        return WSGIHandler()


def environ(path: str, query: str) -> dict[str, object]:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "www.example.com",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "www.example.com",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def start_response(status: str, headers: Iterable[tuple[str, str]]) -> None:
    return None


class Case(NamedTuple):
    handler: Callable[..., object]
    environ: dict[str, object]
    settings: dict[str, object]


def call(case: Case, respond: Callable[..., None] = start_response) -> Iterable[bytes]:
    env = dict(case.environ)
    env["wsgi.input"] = io.BytesIO()
    response = case.handler(env, respond)
    body = list(response)  # type: ignore[call-overload]
    response.close()  # type: ignore[attr-defined]
    return body


@contextmanager
def case_settings(case: Case) -> Iterator[None]:
    # Set directly rather than through override_settings, whose wrapper would
    # slow every settings read of that one case down.
    for name, value in case.settings.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name in case.settings:
            delattr(settings, name)


def requests_per_second(case: Case, count: int) -> float:
    with case_settings(case):
        gc.collect()
        gc.disable()
        try:
            started = time.process_time()
            for _ in range(count):
                call(case)
            return count / (time.process_time() - started)
        finally:
            gc.enable()


def layer_cost(query: str, count: int = 100_000, repeat: int = 7) -> float:
    """Nanoseconds the middleware adds to a request that it lets through.

    The layer is wrapped as Django wraps every middleware and compared with the
    same wrapper around the bare view, so the figure is free of everything the
    two stacks share; best of ``repeat`` runs.
    """
    from django.core.handlers.exception import convert_exception_to_response
    from django.test import RequestFactory

    from conversion_tracking.middleware import ConversionTrackingMiddleware

    request = RequestFactory().get(f"/offer/?{query}")
    bare = convert_exception_to_response(plain)
    ours = convert_exception_to_response(ConversionTrackingMiddleware(plain))
    best = {"bare": float("inf"), "ours": float("inf")}
    for _ in range(repeat):
        for name, chain in (("bare", bare), ("ours", ours)):
            started = time.process_time()
            for _ in range(count):
                chain(request)
            elapsed = (time.process_time() - started) / count * 1e9
            best[name] = min(best[name], elapsed)
    return best["ours"] - best["bare"]


def check_case(name: str, case: Case) -> None:
    """Fail loudly if a stack does not do what its row claims."""
    from conversion_tracking.models import ClickThrough

    sent: list[tuple[str, str]] = []

    def remember(status: str, headers: Iterable[tuple[str, str]]) -> None:
        sent.extend(headers)

    before = ClickThrough.objects.count()
    with case_settings(case):
        call(case, remember)
    sets_cookie = any(key == "Set-Cookie" for key, _ in sent)
    recorded = ClickThrough.objects.count() > before
    expected = {
        "conversion_tracking | (c) landing URL": (True, True),
        "conversion_tracking, clicks not recorded | (c) landing URL": (True, False),
        "bare + view writing the session | (c) landing URL": (True, False),
    }.get(
        name,
        (
            name.startswith("utm_tracker") and "utm_" in case.environ["QUERY_STRING"],
            False,
        ),
    )
    assert (sets_cookie, recorded) == expected, name


def build_cases() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for stack, middleware in STACKS.items():
        handler = handler_for(middleware)
        for label, query in QUERIES.items():
            cases[f"{stack} | {label}"] = Case(handler, environ("/offer/", query), {})
    cases["bare + view writing the session | (c) landing URL"] = Case(
        handler_for(STACKS["bare"]), environ("/write-session/", LANDING), {}
    )
    cases["conversion_tracking, clicks not recorded | (c) landing URL"] = Case(
        handler_for(STACKS["conversion_tracking"]),
        environ("/offer/", LANDING),
        {"CONVERSION_TRACKING_RECORD_CLICKS": False},
    )
    return cases


SESSION_WRITE = "bare + view writing the session | (c) landing URL"


def reference(name: str) -> str:
    return "bare | " + name.rpartition(" | ")[2]


def measure(cases: dict[str, Case], rounds: int, count: int) -> dict[str, list[float]]:
    """Requests per second of every case, one list entry per round.

    Within a round the cases of one request run back to back, in a shuffled
    order, so that each ratio compares figures taken under the same conditions.
    """
    results: dict[str, list[float]] = {name: [] for name in cases}
    groups: dict[str, list[str]] = {}
    for name in cases:
        groups.setdefault(name.rpartition(" | ")[2], []).append(name)
    for _ in range(rounds):
        for names in groups.values():
            random.shuffle(names)
            for name in names:
                results[name].append(requests_per_second(cases[name], count))
    return results


def paired_ratio(results: dict[str, list[float]], name: str, base: str) -> float:
    pairs = zip(results[name], results[base], strict=True)
    return statistics.median(ours / theirs for ours, theirs in pairs)


def report(results: dict[str, list[float]], rounds: int, count: int) -> None:
    print(
        f"Django {django.get_version()}, Python {sys.version.split()[0]}, "
        f"signed_cookies sessions, {rounds} rounds x {count} requests; "
        "medians of req/s (CPU time) and of the per-round ratio to bare"
    )
    print(f"{'stack | request':64} {'req/s':>8} {'vs bare':>8}")
    for name, values in results.items():
        ratio = paired_ratio(results, name, reference(name))
        print(f"{name:64} {statistics.median(values):8.0f} {ratio:8.1%}")
    for label in ("(a) no query string", "(b) ?page=2&utm_source=news"):
        cost = layer_cost(QUERIES[label])
        per_request = 1e9 / statistics.median(results[f"bare | {label}"])
        print(
            f"ConversionTrackingMiddleware's own cost on {label}: {cost:.0f} ns, "
            f"{cost / per_request:.2%} of a bare request"
        )
    for name in (
        "conversion_tracking | (c) landing URL",
        "conversion_tracking, clicks not recorded | (c) landing URL",
    ):
        print(
            f"{name.partition(' | ')[0]}: a landing runs at "
            f"{paired_ratio(results, name, SESSION_WRITE):.1%} of the rate of a "
            "bare view that writes the session"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=151)
    parser.add_argument("--requests", type=int, default=150)
    arguments = parser.parse_args()

    configure()
    global urlpatterns
    urlpatterns = build_urlpatterns()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)
    cases = build_cases()
    for name, case in cases.items():
        check_case(name, case)
        requests_per_second(case, 200)
    results = measure(cases, arguments.rounds, arguments.requests)
    report(results, arguments.rounds, arguments.requests)


urlpatterns: list[object] = []

if __name__ == "__main__":
    main()
