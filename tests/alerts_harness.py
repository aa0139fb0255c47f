"""Runs `pantau alerts` as a subprocess against the real broker, and talks to it like a client."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaProducer

from pantau.core.alerts import Alert, make_alert
from pantau.core.events import event_key
from ports import free_port
from stacks import PantauProcess

REPO = Path(__file__).resolve().parents[1]
PANTAU = REPO / ".venv" / "bin" / "pantau"
MALANG = "kota-malang.dpmptsp"
SLEMAN = "kab-sleman.dpmptsp"
TOKENS = {"insp": "it-inspectorate", "mlg": "it-malang", "slm": "it-sleman"}


def bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def write_operators(path: Path) -> Path:
    """An operators file: an inspectorate and one operator each for Malang and Sleman."""

    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    insp = digest(TOKENS["insp"])
    path.write_text(
        "operators:\n"
        f"  - {{id: insp, name: Inspektorat, role: inspectorate, sha256: '{insp}'}}\n"
        f"  - {{id: mlg, name: Malang, agencies: [{MALANG}], sha256: '{digest(TOKENS['mlg'])}'}}\n"
        f"  - {{id: slm, name: Sleman, agencies: [{SLEMAN}], sha256: '{digest(TOKENS['slm'])}'}}\n"
    )
    return path


class AlertsProcess(PantauProcess):
    """One `pantau alerts` instance on a free port, with its log kept for failure messages."""

    def __init__(self, env: Mapping[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, **env, "PANTAU_ALERTS_PORT": str(self.port)}
        super().__init__([str(PANTAU), "alerts"], full, log_path)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"pantau alerts exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"pantau alerts not ready in {timeout}s: {self.log_tail()}")

    def get(self, path: str, who: str = "insp", **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers=bearer(who), params=params, timeout=10)

    def act(
        self, alert_id: str, action: str, who: str = "insp", note: str | None = None
    ) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/alerts/{alert_id}/actions",
            headers=bearer(who),
            json={"action": action, "note": note},
            timeout=20,
        )


class StreamReader:
    """Reads the live stream on a thread; each `event: alert` arrives in `events` with its time."""

    def __init__(self, url: str, who: str = "insp") -> None:
        self.events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, who), daemon=True)
        self._thread.start()
        assert self.connected.wait(10), "the live stream did not connect"

    def _run(self, url: str, who: str) -> None:
        with httpx.stream(
            "GET", f"{url}/v1/alerts/stream", headers=bearer(who), timeout=httpx.Timeout(30)
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith(":"):
                    self.connected.set()
                elif line.startswith("data: "):
                    self.events.put((time.monotonic(), json.loads(line[6:])))
                if self._stop.is_set():
                    return

    def wait_for(self, alert_id: str, timeout: float) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, payload = self.events.get(timeout=left)
            except queue.Empty:
                break
            if payload.get("alert_id") == alert_id:
                return at, payload
        raise AssertionError(f"alert {alert_id} not on the stream within {timeout}s")

    def close(self) -> None:
        self._stop.set()


class AlertPublisher:
    """Publishes alerts like the tracker does: keyed `<agency>|<case_id>`, acks=all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.topic = f"{env['PANTAU_TOPIC_PREFIX']}alerts"
        self.cases_topic = f"{env['PANTAU_TOPIC_PREFIX']}cases"
        self.producer = KafkaProducer(bootstrap_servers=env["PANTAU_KAFKA"], acks="all")

    def publish(self, agency: str = MALANG, rule: str = "duty.same_officer", **extra: Any) -> Alert:
        case_id = extra.pop("case_id", f"PBG-IT-{uuid.uuid4().hex[:8]}")
        alert = make_alert(
            rule,
            agency=agency,
            service="pbg",
            case_id=case_id,
            trigger=uuid.uuid4().hex,
            detected_at=datetime.now(UTC),
            message="integration test alert",
            **extra,
        )
        self.producer.send(
            self.topic, key=event_key(agency, case_id), value=alert.to_json_bytes()
        ).get(timeout=10)
        return alert

    def publish_case(self, state: dict[str, Any]) -> None:
        key = event_key(state["agency"], state["case_id"])
        self.producer.send(self.cases_topic, key=key, value=json.dumps(state).encode()).get(10)

    def close(self) -> None:
        self.producer.close()
