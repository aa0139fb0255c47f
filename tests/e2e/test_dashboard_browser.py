"""The operators' dashboard in headless Chromium (Debian's, driven by Playwright) against a
running `pantau alerts` on the real broker. Screenshots land in test-artifacts/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from alerts_harness import (
    MALANG,
    TOKENS,
    AlertPublisher,
    AlertsProcess,
    write_operators,
)
from browser import ARTIFACTS, chromium
from pantau.core.events import format_rfc3339
from pantau.core.rule_table import RULES
from samples import queue_jump_evidence, tracked_case


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Browser) -> Page:
    """A desktop-sized page in headless Chromium."""
    return browser.new_context(viewport={"width": 1366, "height": 900}).new_page()


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
    return tracked_case(
        case_id,
        opened,
        "fee_assessed",
        [
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
    )


def sign_in(page: Page, url: str, token: str) -> None:
    """Open the dashboard, submit the operator's token and wait for the live feed."""
    page.goto(url)
    page.wait_for_selector("#token", state="attached")
    page.fill("#token", token)
    page.locator("#login-form").evaluate("form => form.requestSubmit()")
    page.wait_for_selector("#live.on", state="attached", timeout=10_000)


def test_dashboard_shows_a_new_alert_live_and_draws_its_case_timeline(
    browser: Browser, page: Page, service: AlertsProcess, stack_env: dict[str, str]
) -> None:
    """Sign in, see a newly published alert appear without reload, open its case timeline."""
    publisher = AlertPublisher(stack_env)
    try:
        sign_in(page, f"{service.url}/", TOKENS["insp"])
        assert page.evaluate("sessionStorage.getItem('pantau.token')") == TOKENS["insp"]
        page.evaluate("window.__sameDocument = true")

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
        row = f'[data-alert-id="{alert.alert_id}"]'
        page.wait_for_selector(row, state="attached", timeout=5_000)
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        page.wait_for_function(
            "+document.querySelector('[data-severity=high] .n').textContent >= 1", timeout=10_000
        )
        page.screenshot(path=ARTIFACTS / "dashboard-feed.png")

        page.click(row)
        page.wait_for_selector("#timeline svg", state="attached", timeout=5_000)
        labels = page.locator("#timeline svg text").all_text_contents()
        assert {"submitted", "verified", "fee_assessed"} <= set(labels)
        # verified came 6 days after submission, past its 3 working-day limit: drawn late.
        assert page.locator("#timeline svg .late").count() >= 1
        shot = ARTIFACTS / "dashboard-timeline.png"
        page.screenshot(path=shot)
        assert shot.stat().st_size > 10_000

        # The open drawer lies over the header, so the switch gets its click event directly.
        page.dispatch_event("#lang", "click")
        page.wait_for_selector("html[lang=en]", state="attached", timeout=10_000)
        assert "Case timeline" in page.inner_text("body")

        # On a phone: its own page, signed in, in English, the timeline opened and closed again.
        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
        ).new_page()
        sign_in(phone, f"{service.url}/", TOKENS["insp"])
        phone.click("#lang")
        phone.wait_for_selector("html[lang=en]", state="attached", timeout=10_000)
        phone.click(row)
        phone.wait_for_selector("#timeline svg", state="attached", timeout=5_000)
        phone.click("#detail-close")
        phone.screenshot(path=ARTIFACTS / "dashboard-phone.png")
        assert phone.evaluate("document.documentElement.scrollWidth <= 400")
    finally:
        publisher.close()


def test_the_indonesian_dashboard_names_every_rule_and_speaks_indonesian(
    page: Page, service: AlertsProcess, stack_env: dict[str, str]
) -> None:
    """In Bahasa Indonesia a cross-case alert shows its rule's title, never its raw id, and its
    message in Indonesian; switched to English, both in English."""
    publisher = AlertPublisher(stack_env)
    try:
        sign_in(page, f"{service.url}/", TOKENS["insp"])
        assert page.evaluate("document.documentElement.lang") == "id"
        alert = publisher.publish(
            MALANG,
            "queue.jump",
            step="verified",
            evidence=queue_jump_evidence(),
        )
        row = f'[data-alert-id="{alert.alert_id}"]'
        page.wait_for_selector(row, state="attached", timeout=5_000)
        assert "Menyerobot antrean" in page.inner_text(row)
        page.wait_for_function(
            "document.querySelectorAll('#rule-counts li').length > 0", timeout=10_000
        )
        shown = page.inner_text("body")
        raw = [rule for rule in RULES if rule in shown]
        assert raw == [], f"raw rule ids on the Indonesian page: {raw}"

        page.click(row)
        page.wait_for_selector("#detail:not(.hidden)", state="attached", timeout=5_000)
        page.wait_for_function(
            "document.querySelector('#detail-message').textContent.includes('mendahului')",
            timeout=5_000,
        )
        message = page.inner_text("#detail-message")
        assert message.startswith("Langkah verified selesai setelah menunggu di submitted")
        assert "2 hari kerja" in message
        assert message != alert.message
        page.screenshot(path=ARTIFACTS / "dashboard-indonesian.png")

        page.dispatch_event("#lang", "click")
        page.wait_for_selector("html[lang=en]", state="attached", timeout=10_000)
        page.wait_for_function(
            "document.querySelector('#detail-message').textContent.startsWith('Step verified')",
            timeout=5_000,
        )
        assert "Queue jump" in page.inner_text(row)
    finally:
        publisher.close()


def test_dashboard_reconnects_after_a_service_restart(
    page: Page,
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
        sign_in(page, f"{service.url}/", TOKENS["mlg"])
        page.evaluate("window.__sameDocument = true")
        service.stop()
        page.wait_for_selector("#live.off", state="attached", timeout=10_000)
        while_down = publisher.publish(MALANG, "fee.mismatch")
        replacement = AlertsProcess(service_env, tmp_path / "alerts-2.log", port=service.port)
        replacement.wait_ready()
        row = f'[data-alert-id="{while_down.alert_id}"]'
        page.wait_for_selector(row, state="attached", timeout=20_000)
        assert page.evaluate("document.querySelector('#live').classList.contains('on')")
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    finally:
        publisher.close()
        if replacement is not None:
            replacement.stop()
