"""The operators' dashboard in headless Chromium, driven over the DevTools protocol, against a
running `pantau alerts` on the real broker. Screenshots land in test-artifacts/."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket

from alerts_harness import (
    MALANG,
    REPO,
    TOKENS,
    AlertPublisher,
    AlertsProcess,
    free_port,
    write_operators,
)
from pantau.core.events import format_rfc3339

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_binary() -> str:
    """Chromium from the Debian package, installed on first use when missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.fail("Chromium is missing and apt-get is not available to install it")
    apt = ["apt-get"] if _is_root() else ["sudo", "-n", "apt-get"]
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run([*apt, "update"], check=True, env=env, capture_output=True)
    subprocess.run(
        [*apt, "install", "-y", "chromium", "chromium-driver"],
        check=True,
        env=env,
        capture_output=True,
    )
    found = shutil.which("chromium")
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


class Browser:
    """One headless Chromium page, spoken to with the Chrome DevTools Protocol."""

    def __init__(self, binary: str, profile: Path) -> None:
        port = free_port()
        self.proc = subprocess.Popen(
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={port}",
                "--remote-allow-origins=*",
                "--window-size=1366,900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        deadline = time.monotonic() + 30
        while True:
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=1).json()
                page = next(t for t in targets if t["type"] == "page")
                break
            except (httpx.HTTPError, StopIteration, ValueError):
                assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
                time.sleep(0.1)
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout}s: {expression}")
            time.sleep(0.05)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    b = Browser(chromium_binary(), tmp_path / "chromium-profile")
    yield b
    b.close()


@pytest.fixture
def service_env(stack_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**stack_env, "PANTAU_OPERATORS": str(write_operators(tmp_path / "ops.yaml"))}


@pytest.fixture
def service(service_env: dict[str, str], tmp_path: Path) -> Iterator[AlertsProcess]:
    proc = AlertsProcess(service_env, tmp_path / "alerts.log")
    proc.wait_ready()
    yield proc
    proc.stop()


def case_state(case_id: str, now: datetime) -> dict[str, Any]:
    """A case as the tracker publishes it: opened 9 days ago, verified late, awaiting payment."""
    opened = now - timedelta(days=9)
    return {
        "agency": MALANG,
        "service": "pbg",
        "case_id": case_id,
        "status": "open",
        "current_step": "fee_assessed",
        "opened_at": format_rfc3339(opened),
        "closed_at": None,
        "steps": [
            {"step": "submitted", "occurred_at": format_rfc3339(opened), "officers": []},
            {
                "step": "verified",
                "occurred_at": format_rfc3339(opened + timedelta(days=6)),
                "officers": ["198702142010011003"],
            },
            {
                "step": "fee_assessed",
                "occurred_at": format_rfc3339(opened + timedelta(days=7)),
                "officers": ["198702142010011003"],
            },
        ],
        "due_at": format_rfc3339(opened + timedelta(days=40)),
        "breached": False,
        "deadlines": [],
    }


def test_dashboard_shows_a_new_alert_live_and_draws_its_case_timeline(
    browser: Browser, service: AlertsProcess, stack_env: dict[str, str]
) -> None:
    """Sign in, see a newly published alert appear without reload, open its case timeline."""
    publisher = AlertPublisher(stack_env)
    try:
        browser.send("Page.enable")
        browser.send("Page.navigate", url=f"{service.url}/")
        browser.wait_for("document.readyState === 'complete' && !!document.querySelector('#token')")
        browser.evaluate(
            f"document.querySelector('#token').value = {json.dumps(TOKENS['insp'])};"
            "document.querySelector('#login-form').requestSubmit(); true"
        )
        browser.wait_for("document.querySelector('#live').classList.contains('on')")
        assert browser.evaluate("sessionStorage.getItem('pantau.token')") == TOKENS["insp"]
        browser.evaluate("window.__sameDocument = true")

        now = datetime.now(UTC)
        case_id = f"PBG-UI-{int(time.time())}"
        publisher.publish_case(case_state(case_id, now))
        alert = publisher.publish(
            MALANG,
            "duty.same_officer",
            case_id=case_id,
            step="fee_assessed",
            officer_id="198702142010011003",
        )
        row = f"document.querySelector('[data-alert-id=\"{alert.alert_id}\"]')"
        browser.wait_for(f"!!{row}", timeout=5)
        assert browser.evaluate("window.__sameDocument === true"), "the page was reloaded"
        browser.wait_for("+document.querySelector('[data-severity=high] .n').textContent >= 1")
        browser.screenshot(ARTIFACTS / "dashboard-feed.png")

        browser.evaluate(f"{row}.click(); true")
        browser.wait_for("!!document.querySelector('#timeline svg')", timeout=5)
        labels = browser.evaluate(
            "[...document.querySelectorAll('#timeline svg text')].map(n => n.textContent)"
        )
        assert {"submitted", "verified", "fee_assessed"} <= set(labels)
        # verified came 6 days after submission, past its 3 working-day limit: drawn late.
        assert browser.evaluate("document.querySelectorAll('#timeline svg .late').length") >= 1
        shot = browser.screenshot(ARTIFACTS / "dashboard-timeline.png")
        assert shot.stat().st_size > 10_000

        browser.evaluate("document.querySelector('#lang').click(); true")
        assert browser.wait_for("document.documentElement.lang === 'en'")
        assert "Case timeline" in browser.evaluate("document.body.innerText")

        browser.send(
            "Emulation.setDeviceMetricsOverride",
            width=390,
            height=844,
            deviceScaleFactor=2,
            mobile=True,
        )
        browser.evaluate("document.querySelector('#detail-close').click(); true")
        browser.screenshot(ARTIFACTS / "dashboard-phone.png")
        assert browser.evaluate("document.documentElement.scrollWidth <= 400")
    finally:
        publisher.close()


def test_dashboard_reconnects_after_a_service_restart(
    browser: Browser,
    service: AlertsProcess,
    service_env: dict[str, str],
    stack_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """When the service restarts mid-stream the dashboard shows offline, reconnects, and then
    shows an alert raised while it was down, without a reload."""
    publisher = AlertPublisher(stack_env)
    replacement: AlertsProcess | None = None
    try:
        browser.send("Page.navigate", url=f"{service.url}/")
        browser.wait_for("document.readyState === 'complete' && !!document.querySelector('#token')")
        browser.evaluate(
            f"document.querySelector('#token').value = {json.dumps(TOKENS['mlg'])};"
            "document.querySelector('#login-form').requestSubmit(); true"
        )
        browser.wait_for("document.querySelector('#live').classList.contains('on')")
        browser.evaluate("window.__sameDocument = true")
        service.stop()
        browser.wait_for("document.querySelector('#live').classList.contains('off')")
        while_down = publisher.publish(MALANG, "fee.mismatch")
        replacement = AlertsProcess(service_env, tmp_path / "alerts-2.log", port=service.port)
        replacement.wait_ready()
        row = f"!!document.querySelector('[data-alert-id=\"{while_down.alert_id}\"]')"
        browser.wait_for(row, timeout=20)
        assert browser.evaluate("document.querySelector('#live').classList.contains('on')")
        assert browser.evaluate("window.__sameDocument === true"), "the page was reloaded"
    finally:
        publisher.close()
        if replacement is not None:
            replacement.stop()
