"""Browser fixtures for the end-to-end tests (reports/tests/test_browser.py).

Playwright's sync API drives the system's Chromium (Debian's package): no
browser is ever downloaded. Without the playwright package or a chromium
binary the browser tests skip; a CHROMIUM_PATH that points nowhere is an
error, so a CI run that installs Chromium cannot skip them silently.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Milliseconds Playwright waits for an element, a navigation or a download.
BROWSER_TIMEOUT_MS = 15_000
SCREENSHOT_DIR = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            pytest.fail(f"CHROMIUM_PATH={configured!r} is not an executable file", pytrace=False)
        return configured
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("browser tests need Chromium: install it (apt-get install chromium) or set CHROMIUM_PATH")
    return found


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser tests need the playwright package (pip install -r requirements.txt)"
    )
    # Playwright's sync API keeps an asyncio loop running in this thread while
    # it is started, and Django refuses ORM calls from a thread with a running
    # loop. The tests' own ORM calls are plain synchronous code, so allow them,
    # for as long as Playwright runs only.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            sync_api.expect.set_options(timeout=BROWSER_TIMEOUT_MS)
            browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context: no cookies from another test."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR
