"""Headless Chromium (Debian's chromium) driven by Playwright, against the real daemon."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")  # closed before other modules run: its event loop would clash with asyncio.run
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A page plus every console error and uncaught exception it produced."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1400, "height": 860})
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"{m.text} [{m.location.get('url', '')}]"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture
def page(browser):
    p = Page(browser)
    yield p
    p.page.close()
