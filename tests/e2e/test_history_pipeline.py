"""The history end to end: HTTP intake -> Kafka -> tracker -> sink -> the auditors' views."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_driver import Client

from pantau.settings import REPO_DIR, ClickHouseTarget
from ports import free_port
from stacks import start_pantau

KM = "kota-malang.dpmptsp"
NIK = "3507123456780001"


def _wait_for(check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as error:  # a process still starting
            last = error
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout} s; last: {last!r}")


@pytest.fixture
def pipeline(stack_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """`pantau intake`, `pantau tracker` and `pantau sink` running on the isolated stack."""
    env = {
        **os.environ,
        **stack_env,
        "PANTAU_INTAKE_PORT": str(free_port()),
        "PANTAU_TRACKER_PORT": str(free_port()),
        "PANTAU_TRACKER_DATA_DIR": str(tmp_path / "tracker"),
        "PANTAU_API_KEYS": str(REPO_DIR / "deploy" / "dev-api-keys.yaml"),
        "PANTAU_PSEUDONYM_KEY": "e2e-pseudonym-key",
        "PANTAU_CHECKPOINT_KEY": "e2e-checkpoint-key",
        "PANTAU_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    processes = []
    for command in ("tracker", "sink", "intake"):
        log = (tmp_path / f"{command}.log").open("wb")
        processes.append((command, log, start_pantau(command, env, log)))
    try:
        yield env
    finally:
        for _, _, process in processes:
            process.send_signal(signal.SIGTERM)
        for command, log, process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
            print(f"--- {command} log tail ---")
            print((tmp_path / f"{command}.log").read_text(errors="replace")[-2000:])


def test_a_case_sent_over_http_reaches_the_views_once_with_its_alert_and_state(
    pipeline: dict[str, str],
) -> None:
    """Events posted to the intake appear once each in v_events (pseudonymised), the tracker's
    separation-of-duty alert in v_alerts and the closed case in v_cases."""
    case_id = f"PBG-E2E-{uuid.uuid4().hex[:8]}"
    steps: list[tuple[str, tuple[str, str] | None, dict[str, Any]]] = [
        ("submitted", None, {"applicant": {"nik": NIK}, "channel": "online"}),
        ("verified", ("V1", "verifier"), {}),
        ("fee_assessed", ("A1", "assessor"), {}),
        ("paid", None, {"payment": {"amount": "150000.00", "receipt": "KW-9"}}),
        ("approved", ("V1", "head"), {}),
        ("issued", None, {}),
    ]
    events = []
    for seq, (step, officer, extra) in enumerate(steps, start=1):
        event: dict[str, Any] = {
            "event_id": f"{KM}:{case_id}:{seq}",
            "agency": KM,
            "service": "pbg",
            "case_id": case_id,
            "step": step,
            "occurred_at": f"2026-11-2{seq}T09:00:00+07:00",
            "seq": seq,
            "mode": "backfill",
            **extra,
        }
        if officer:
            event["officer"] = {"id": officer[0], "role": officer[1]}
        events.append(event)
    base = f"http://127.0.0.1:{pipeline['PANTAU_INTAKE_PORT']}"
    _wait_for(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, timeout=60)
    response = httpx.post(
        f"{base}/v1/events",
        json={"events": events},
        headers={"Authorization": f"Bearer dev-{KM}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    posted = time.monotonic()

    target = ClickHouseTarget.parse(pipeline["PANTAU_CLICKHOUSE"])
    client = Client(host=target.host, port=target.port, database=target.database)
    try:

        def stored(query: str) -> list[tuple[Any, ...]]:
            return list(client.execute(query, {"case": case_id}))

        _wait_for(
            lambda: stored("SELECT count() FROM v_events WHERE case_id = %(case)s")[0][0] == 6,
            timeout=60,
        )
        print(f"intake -> v_events: {time.monotonic() - posted:.2f} s")
        alerts = _wait_for(
            lambda: stored(
                "SELECT rule, step, officer_id FROM v_alerts WHERE case_id = %(case)s "
                "AND rule = 'duty.same_officer'"
            ),
            timeout=90,
        )
        assert alerts == [("duty.same_officer", "approved", "V1")]
        cases = _wait_for(
            lambda: stored(
                "SELECT status, current_step FROM v_cases WHERE case_id = %(case)s "
                "AND status = 'closed'"
            ),
            timeout=90,
        )
        assert cases == [("closed", "issued")]
        assert stored(
            "SELECT count(), uniqExact(event_id), max(position) FROM events "
            "WHERE case_id = %(case)s"
        ) == [(6, 6, 6)]
        refs = stored("SELECT applicant_ref, canonical FROM events WHERE case_id = %(case)s")
        assert any(ref for ref, _ in refs)
        assert all(NIK not in ref and NIK not in canonical for ref, canonical in refs)
    finally:
        client.disconnect()
