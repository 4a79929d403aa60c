"""Headless Chromium for the browser tests: the system's, skipped (or failed with
`REQUIRE_SERVICES=1`) when missing; `scripts/browser.sh` installs it."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests import services


def chromium_path() -> str:
    """The system Chromium (Debian's `chromium` package); `CHROMIUM` names another binary."""
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if found is None:
        line = "Chromium is not installed (apt-get install chromium, or set CHROMIUM)"
        if services.require_services():
            pytest.fail(f"REQUIRE_SERVICES=1 but {line}", pytrace=False)
        pytest.skip(line)
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        # No sandbox: CI runs as root, where Chromium's sandbox cannot start.
        launched = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()
