"""Browser page helpers: navigate, wait, and collect console errors (no sleeps).

Every browser context :func:`open_app` opens is closed after the test (conftest's
autouse ``_close_browser_contexts`` calls :func:`close_contexts`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from web import ids

DEFAULT_TIMEOUT_MS = 20_000
_OPEN_CONTEXTS: list[BrowserContext] = []


@dataclass
class AppPage:
    """One browser tab on the live app, recording console errors as it goes."""

    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)

    def goto(self, path: str = "/") -> None:
        self.page.goto(self.base_url + path)
        self.wait_for_page()

    def wait_for_page(self) -> None:
        """Wait until Dash has rendered the page content (the main heading)."""
        self.page.wait_for_selector(f"#{ids.MAIN} h1", timeout=DEFAULT_TIMEOUT_MS)
        self.page.wait_for_load_state("networkidle")

    def heading(self) -> str:
        return self.page.inner_text(f"#{ids.MAIN} h1")

    def choose(self, dropdown_id: str, label: str) -> None:
        """Pick an option of a dcc.Dropdown: open it, search for the label, pick the match."""
        self.page.click(f"#{dropdown_id}")
        search = self.page.locator(".dash-dropdown-content input[type=search]")
        search.fill(label)
        option = self.page.locator(".dash-dropdown-content").get_by_role(
            "option", name=label, exact=True)
        option.wait_for(timeout=DEFAULT_TIMEOUT_MS)
        option.click()

    def wait_for_url_containing(self, text: str) -> None:
        self.page.wait_for_url(f"**{text}**", timeout=DEFAULT_TIMEOUT_MS)

    def wait_for_heading(self, text: str) -> None:
        self.page.wait_for_function(
            "([selector, text]) => document.querySelector(selector)?.innerText.includes(text)",
            arg=[f"#{ids.MAIN} h1", text], timeout=DEFAULT_TIMEOUT_MS,
        )

    def wait_for_text(self, selector: str, text: str) -> None:
        """Wait until the element's text contains ``text`` (the page has re-rendered)."""
        self.page.wait_for_function(
            "([selector, text]) => document.querySelector(selector)?.innerText.includes(text)",
            arg=[selector, text], timeout=DEFAULT_TIMEOUT_MS,
        )

    def upload(self, *paths: str | Path) -> None:
        """Choose files on the Load data page, as a person does: its "choose files"
        button opens the browser's file chooser."""
        with self.page.expect_file_chooser(timeout=DEFAULT_TIMEOUT_MS) as chooser:
            self.page.click("#upload-choose")
        chooser.value.set_files([str(path) for path in paths])

    def console_errors(self) -> list[str]:
        return list(self.errors)


def open_app(browser: Browser, base_url: str, width: int = 1280, height: int = 900) -> AppPage:
    context = browser.new_context(viewport={"width": width, "height": height})
    _OPEN_CONTEXTS.append(context)
    page = context.new_page()
    app_page = AppPage(page, base_url)

    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            app_page.errors.append(message.text)

    page.on("console", record)
    page.on("pageerror", lambda exc: app_page.errors.append(str(exc)))
    return app_page


def close_contexts() -> None:
    """Close every context :func:`open_app` opened (its pages and downloads go too)."""
    while _OPEN_CONTEXTS:
        context = _OPEN_CONTEXTS.pop()
        # The browser may have gone first (end of session): nothing left to close.
        with contextlib.suppress(Exception):
            context.close()
