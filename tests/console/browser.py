"""Headless Chromium for the console's browser tests (Selenium with the Debian-packaged chromedriver)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# REPLYDESK_CHROMIUM / REPLYDESK_CHROMEDRIVER point the tests at other binaries.
CHROMIUM = os.environ.get("REPLYDESK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("REPLYDESK_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
HOW_TO = ("browser tests skipped: no chromium/chromedriver — install them with "
          "`sudo apt-get install -y chromium chromium-driver` (and `pip install -e '.[dev]'` for selenium), "
          "then run `.venv/bin/python -m pytest tests/console`")
DESKTOP = (1280, 900)
PHONE = (390, 844)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return HOW_TO
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        return HOW_TO
    return None


def chrome() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--lang=en-GB"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def screenshot_dirs() -> tuple[Path, Path]:
    """Where desktop and phone screenshots go: desktop ones into REPLYDESK_SCREENSHOTS (docs/console to refresh
    the committed ones) or a temp dir; phone ones always into a temp dir."""
    base = Path(tempfile.gettempdir()) / "replydesk-console-screenshots"
    desktop = Path(os.environ.get("REPLYDESK_SCREENSHOTS") or base / "desktop")
    phone = base / "phone"
    desktop.mkdir(parents=True, exist_ok=True)
    phone.mkdir(parents=True, exist_ok=True)
    return desktop, phone


UNLABELLED = """
return Array.from(document.querySelectorAll('input, select, textarea, button')).filter(function (el) {
  if (el.type === 'hidden') { return false; }
  var named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (el.tagName === 'BUTTON') { named = named || el.textContent.trim(); }
  return !named;
}).map(function (el) { return el.outerHTML.slice(0, 120); });
"""


def unlabelled(driver: Any) -> list[str]:
    """Form controls on the page that a screen reader could not name."""
    return list(driver.execute_script(UNLABELLED))


def screenshots(driver: Any, name: str) -> None:
    """The current page at desktop and at phone width (full height of the page). Checked on the way: every
    control has a label, and at phone width nothing sticks out sideways (approving from a phone is common)."""
    assert not unlabelled(driver), f"{name}: controls without a label: {unlabelled(driver)}"
    desktop, phone = screenshot_dirs()
    for folder, (width, height) in ((desktop, DESKTOP), (phone, PHONE)):
        driver.set_window_size(width, height)
        if folder == phone:
            wide, seen = driver.execute_script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert wide <= seen, f"{name} is {wide} px wide in a {seen} px phone viewport"
        full = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(height, int(full) + 120), 4000))
        driver.save_screenshot(str(folder / f"{name}.png"))
    driver.set_window_size(*DESKTOP)
