"""The applicants' status page over a running stack: simulated cases go through the tracker to
`pantau.cases`, the status service shows one in headless Chromium in Bahasa Indonesia and in
English, and a levy report filed there reaches the operators' dashboard and ClickHouse.
Playwright drives Debian's Chromium (tests/browser.py; installed on first use when missing).

Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from playwright.sync_api import Page

from alerts_harness import MALANG, REPO, TOKENS, AlertsProcess, write_operators
from browser import ARTIFACTS, chromium
from pantau.core.alerts import alert_id
from pantau.core.pseudonym import has_standalone_nik_run
from pantau.settings import ClickHouseTarget
from pantau_status.domain.reports import report_day
from ports import free_port
from stacks import PantauProcess, start_pantau, stop_processes

STATUS_KEY = "status-e2e-key-0123456789"
MALANG_KEY = "dev-kota-malang.dpmptsp"  # deploy/dev-api-keys.yaml
CASES = 24


class StatusProcess(PantauProcess):
    """One `pantau status` on a free port, its log kept for failure messages."""

    def __init__(self, env: dict[str, str], log_path: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {
            **os.environ,
            **env,
            "PANTAU_STATUS_PORT": str(self.port),
            "PANTAU_STATUS_KEY": STATUS_KEY,
            "PANTAU_API_KEYS": str(REPO / "deploy" / "dev-api-keys.yaml"),
            **settings,
        }
        super().__init__([sys.executable, "-m", "pantau.cli", "status"], full, log_path)

    def readyz(self) -> dict[str, Any] | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"pantau status exited: {self.log_tail()}")
        try:
            reply = httpx.get(f"{self.url}/readyz", timeout=2)
        except httpx.HTTPError:
            return None
        return reply.json() if reply.status_code == 200 else None


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def stack(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Tracker, sink, alerts and status on a fresh stack, fed a short simulated history."""
    folder = tmp_path_factory.mktemp("status-stack")
    env = {
        **stack_env,
        "PANTAU_TRACKER_PORT": str(free_port()),
        "PANTAU_TRACKER_DATA_DIR": str(folder / "tracker"),
        "PANTAU_CHECKPOINT_DIR": str(folder / "checkpoints"),
        "PANTAU_LOG_LEVEL": "WARNING",
        "PANTAU_OPERATORS": str(write_operators(folder / "ops.yaml")),
    }
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[IO[str]] = []
    alerts = status = None
    try:
        for name in ("tracker", "sink"):
            logs.append((folder / f"{name}.log").open("w"))
            processes.append(start_pantau(name, env, logs[-1]))
        truth = folder / "truth.jsonl"
        sent = subprocess.run(
            [sys.executable, "-m", "pantau.cli", "simulate", "--cases", str(CASES), "--seed",
             "16", "--anomaly-rate", "0.5", "--truth", str(truth), "--via", "kafka"],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        cases = [json.loads(line) for line in truth.read_text().splitlines()]
        assert len(cases) == CASES
        alerts = AlertsProcess(env, folder / "alerts.log")
        status = StatusProcess(env, folder / "status.log", PANTAU_STATUS_TRIES_BURST="1000")
        alerts.wait_ready(60)
        until(
            lambda: (status.readyz() or {}).get("cases") == CASES,
            180,
            "the tracker's case states to reach the status service",
        )
        yield {"env": env, "cases": cases, "alerts": alerts, "status": status, "dir": folder}
    finally:
        for service in (alerts, status):
            if service is not None:
                service.stop()
        stop_processes(processes, logs)


def code_for(status: StatusProcess, case_id: str, key: str = MALANG_KEY) -> str:
    reply = httpx.get(
        f"{status.url}/v1/check-codes/{case_id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    code: str = reply.json()["code"]
    return code


def dev_key(agency: str) -> str:
    return f"dev-{agency}"  # the documented dev keys of deploy/dev-api-keys.yaml


@pytest.fixture
def page() -> Iterator[Page]:
    """A phone-sized headless Chromium page (Debian's chromium, driven by Playwright)."""
    with chromium() as browser:
        context = browser.new_context(
            viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True
        )
        yield context.new_page()


def test_applicant_sees_the_case_switches_language_and_reports_a_levy(
    stack: dict[str, Any], page: Page
) -> None:
    status: StatusProcess = stack["status"]
    alerts: AlertsProcess = stack["alerts"]
    case = next(c for c in stack["cases"] if c["agency"] == MALANG and c["service"] == "pbg")
    code = code_for(status, case["case_id"])

    page.goto(f"{status.url}/")
    assert page.locator("html").get_attribute("lang") == "id"
    page.fill("#receipt", case["case_id"])
    page.fill("#code", code.lower())  # typed as it comes, in lower case
    page.click("#lookup button[type=submit]")
    page.wait_for_selector("#steps")
    text = page.inner_text("body")
    assert "Persetujuan Bangunan Gedung" in text
    assert "Permohonan diterima" in text  # the first step, done
    assert page.locator("#steps tr").count() >= 2
    due = page.inner_text("#case-due")
    assert due.startswith("Batas waktu penyelesaian: ")
    assert " WIB" in due  # a deadline in the agency's local time, not a dash
    assert "28 hari kerja" in text
    assert "Rp100.000 sampai Rp50.000.000" in page.inner_text("#fee")
    page.screenshot(path=ARTIFACTS / "status-case-id.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.click("#lang-switch")
    page.wait_for_selector("html[lang=en] #steps")
    text = page.inner_text("body")
    assert "Steps done" in text
    assert "Application received" in text
    assert "Deadline for the whole application" in text
    assert "28 working days" in text
    page.screenshot(path=ARTIFACTS / "status-case-en.png", full_page=True)

    page.select_option("#kind", "overcharge")
    page.fill("#text", "Diminta Rp 500.000 tambahan, hubungi 0812-3456-7890 NIK 3507123456789012")
    page.click("#report button[type=submit]")
    page.wait_for_selector("#message.done")
    assert "Thank you" in page.inner_text("#message")

    day = report_day(datetime.now(UTC), "Asia/Jakarta")
    expected = alert_id("citizen.report", MALANG, case["case_id"], f"overcharge:{day}")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{alerts.url}/")
    page.fill("#token", TOKENS["insp"])
    page.locator("#login-form").evaluate("form => form.requestSubmit()")
    page.wait_for_selector(f'[data-alert-id="{expected}"]', timeout=30_000)
    page.screenshot(path=ARTIFACTS / "status-report-on-dashboard.png")
    stored = alerts.get(f"/v1/alerts/{expected}").json()
    assert stored["rule"] == "citizen.report"
    assert stored["category"] == "improper_request"
    assert "0812-3456-7890" not in stored["message"]
    assert "3507123456789012" not in json.dumps(stored)

    # The existing alert path stores it in ClickHouse.
    from clickhouse_driver import Client

    target = ClickHouseTarget.parse(stack["env"]["PANTAU_CLICKHOUSE"])

    def stored_rows() -> list[Any]:
        client = Client(host=target.host, port=target.port, database=target.database)
        try:
            return list(
                client.execute(
                    "SELECT rule, category, evidence FROM alerts WHERE alert_id = %(id)s",
                    {"id": expected},
                )
            )
        finally:
            client.disconnect()

    rows = until(stored_rows, 60, "the report in ClickHouse")
    assert rows[0][:2] == ("citizen.report", "improper_request")
    assert "[TELEPON]" in rows[0][2]
    assert "[NIK]" in rows[0][2]


def test_every_answer_over_the_simulated_cases_is_free_of_personal_data(
    stack: dict[str, Any],
) -> None:
    """Look up every simulated case (JSON and both pages): the tracker's states carry officer
    ids and the events applicant refs and reasons, yet no answer holds any of them."""
    status: StatusProcess = stack["status"]
    officers, refs, reasons = set(), set(), set()
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        f"{stack['env']['PANTAU_TOPIC_PREFIX']}events",
        bootstrap_servers=stack["env"]["PANTAU_KAFKA"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        group_id=None,
    )
    try:
        for record in consumer:
            event = json.loads(record.value)
            if event.get("officer"):
                officers.add(event["officer"]["id"])
            if event.get("applicant"):
                refs.add(event["applicant"]["ref"].lower())
            if event.get("reason"):
                reasons.add(event["reason"].lower())
    finally:
        consumer.close()
    assert officers
    assert refs
    assert reasons
    answers: list[str] = []
    for case in stack["cases"]:
        code = code_for(status, case["case_id"], dev_key(case["agency"]))
        reply = httpx.post(
            f"{status.url}/v1/status",
            json={"case_id": case["case_id"], "code": code},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        answers.append(reply.text)
        for lang in ("id", "en"):
            page = httpx.post(
                f"{status.url}/status",
                data={"receipt": case["case_id"], "code": code, "lang": lang},
                timeout=10,
            )
            assert page.status_code == 200
            answers.append(page.text)
    for text in answers:
        low = text.lower()
        assert not has_standalone_nik_run(text)
        assert not any(officer in text for officer in officers)
        assert not any(ref in low for ref in refs)
        assert not any(reason in low for reason in reasons)


def test_wrong_codes_look_unknown_and_a_hundred_tries_are_refused(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    """A status service with the default budget: a wrong code answers exactly like an unknown
    receipt, and 100 wrong tries from one address end in 429."""
    guarded = StatusProcess(stack["env"], tmp_path / "status-guarded.log")
    try:
        until(guarded.readyz, 60, "the second status service")
        case = stack["cases"][0]
        wrong = httpx.post(
            f"{guarded.url}/v1/status",
            json={"case_id": case["case_id"], "code": "AAAA-AAAA"},
            timeout=10,
        )
        unknown = httpx.post(
            f"{guarded.url}/v1/status",
            json={"case_id": "NO-SUCH-CASE", "code": "AAAA-AAAA"},
            timeout=10,
        )
        assert wrong.status_code == unknown.status_code == 404
        assert wrong.content == unknown.content
        codes = [
            httpx.post(
                f"{guarded.url}/v1/status",
                json={"case_id": case["case_id"], "code": f"AAAA-{n:04d}"},
                timeout=10,
            ).status_code
            for n in range(100)
        ]
        assert set(codes) == {404, 429}
        assert codes.count(429) >= 75  # the default burst is 20 tries, refilled 6 a minute
        assert codes[-1] == 429
    finally:
        guarded.stop()
