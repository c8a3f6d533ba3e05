"""Web pages in a real browser: Debian's Chromium driven by Playwright (never a downloaded
browser), with every script dialog recorded (an XSS that runs shows up there) and
screenshots kept as test artifacts under test-artifacts/screenshots."""
from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@contextlib.contextmanager
def browser_page() -> Iterator[tuple[Page, list[str]]]:
    """A page of a fresh headless Chromium, and the messages of the dialogs scripts opened."""
    with sync_playwright() as playwright:
        # As root (here, and in CI) Chromium's sandbox cannot start.
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox"])
        try:
            page = browser.new_page()
            dialogs: list[str] = []

            def record(dialog) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()
            page.on("dialog", record)
            page.set_default_timeout(30_000)
            yield page, dialogs
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^a-z0-9.-]+", "-", name.lower()) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path
