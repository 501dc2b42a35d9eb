"""Headless Chromium for the browser tests: Debian's build driven by Playwright (no browser
download), and where tests leave their screenshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.helpers import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Playwright drives Debian's Chromium (no `playwright install`) with these flags.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 30_000


def artifact(name: str) -> Path:
    """Where a test saves ``name`` (a screenshot) for people to look at afterwards:
    $TRAINFORGE_TEST_ARTIFACTS, else test-artifacts/ in the repository."""
    folder = Path(os.environ.get("TRAINFORGE_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
