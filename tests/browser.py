"""Headless Chromium for the browser tests: Debian's `chromium` package, driven by Playwright.

Playwright never downloads a browser of its own here: it starts the system binary through
`executable_path`. When no Chromium is on PATH it is installed with apt-get on first use (as root,
or through passwordless sudo); where that is impossible the test fails and says what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"  # screenshots
# Playwright itself adds --headless, --no-sandbox, --no-first-run and turns off background
# networking, component updates and sync; these are the rest of what the tests want.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic"]


def chromium_binary() -> str:
    """Chromium from the Debian package, installed on first use when missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.fail("Chromium is missing and apt-get is not available to install it")
    if os.geteuid() == 0:
        apt = ["apt-get"]
    elif shutil.which("sudo") is not None:
        apt = ["sudo", "-n", "apt-get"]
    else:
        pytest.fail("Chromium is missing: install it as root with `apt-get install -y chromium`")
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for step in (["update"], ["install", "-y", "chromium"]):
        done = subprocess.run([*apt, *step], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(
                f"Chromium is missing and `{' '.join([*apt, *step])}` failed "
                f"(install it with `apt-get install -y chromium`):\n{done.stderr[-2000:]}"
            )
    found = shutil.which("chromium")
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, under Playwright; closed (with Playwright) on exit."""
    binary = chromium_binary()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=binary, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
