"""Headless Chromium for the browser tests: Debian's package driven by Playwright, and `tem serve` as a process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling home, which a closed network refuses.
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


def ensure_chromium() -> str:
    """Debian's Chromium, installed by scripts/ensure-chromium on a machine that lacks it."""
    if not CHROMIUM.exists():
        subprocess.run([str(ROOT / "scripts" / "ensure-chromium")], check=True)
    return str(CHROMIUM)


def screenshots_wanted() -> bool:
    """`TEM_UPDATE_SCREENSHOTS=1` writes the screenshots into docs/inspector/ (otherwise a temp folder)."""
    return os.environ.get("TEM_UPDATE_SCREENSHOTS") == "1"
