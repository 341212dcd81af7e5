"""Driving Debian's Chromium through Playwright against the example project.

The example project runs in pytest-django's live server, with this suite's
settings plus the example project's URLs (``pytest.mark.urls``) and its pixel
URL pointed at the live server's MCE stand-in.

Playwright's sync API keeps an asyncio event loop running in the test's thread
for as long as it is started, and Django refuses database queries from a thread
with a running loop. So a test opens the browser with ``with browse() as
visit:`` and queries the database before or after that block, never inside it;
no ``DJANGO_ALLOW_ASYNC_UNSAFE`` is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Dialog, Page, Request, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PIXEL_PATH = "/mce-stand-in/conversion.aspx"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@dataclass
class Visit:
    """One browser context (a visitor) and what it sent over the network."""

    context: BrowserContext
    page: Page
    base_url: str
    requests: list[Request] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def pixel_requests(self) -> list[Request]:
        return [r for r in self.requests if urlsplit(r.url).path == PIXEL_PATH]

    def pixel_xml(self) -> list[str]:
        """The ``xml`` parameter of every pixel request, decoded."""
        return [
            xml
            for request in self.pixel_requests()
            for xml in parse_qs(urlsplit(request.url).query)["xml"]
        ]

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    def _on_request(self, request: Request) -> None:
        self.requests.append(request)

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@contextmanager
def _browse(base_url: str) -> Iterator[Visit]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM}: "
            "run `apt-get install chromium` (as root) and try again."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                base_url=base_url, viewport={"width": 1280, "height": 800}
            )
            context.set_default_timeout(15_000)
            visit = Visit(context=context, page=context.new_page(), base_url=base_url)
            context.on("request", visit._on_request)
            context.on("dialog", visit._on_dialog)
            yield visit
        finally:
            browser.close()


@pytest.fixture
def site(live_server, settings) -> str:
    """The example project's address, its pixel pointed at its own stand-in."""
    settings.CONVERSION_TRACKING_PIXEL_URL = live_server.url + PIXEL_PATH
    return str(live_server.url)


@pytest.fixture
def browse(site: str) -> Callable[[], AbstractContextManager[Visit]]:
    return lambda: _browse(site)
