"""`pantau alerts` against the real broker: live listing and stream, restarts, a second instance,
scopes, and webhook delivery with retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from alerts_harness import (
    MALANG,
    SLEMAN,
    AlertPublisher,
    AlertsProcess,
    StreamReader,
    write_operators,
)

Starter = Callable[..., AlertsProcess]


@pytest.fixture(scope="module")
def alerts_env(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The isolated stack's variables plus an operators file."""
    folder = tmp_path_factory.mktemp("alerts")
    return {**stack_env, "PANTAU_OPERATORS": str(write_operators(folder / "operators.yaml"))}


@pytest.fixture(scope="module")
def publisher(alerts_env: dict[str, str]) -> Iterator[AlertPublisher]:
    p = AlertPublisher(alerts_env)
    yield p
    p.close()


@pytest.fixture
def start(alerts_env: dict[str, str], tmp_path: Path) -> Iterator[Starter]:
    """Starts instances (extra env per instance); stops every one at the end."""
    started: list[AlertsProcess] = []

    def run(**extra: str) -> AlertsProcess:
        proc = AlertsProcess({**alerts_env, **extra}, tmp_path / f"alerts-{len(started)}.log")
        started.append(proc)
        proc.wait_ready()
        return proc

    yield run
    for proc in started:
        proc.stop()


def wait_listed(proc: AlertsProcess, alert_id: str, timeout: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        items = proc.get("/v1/alerts", limit="500").json()["items"]
        if any(item["alert_id"] == alert_id for item in items):
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"alert {alert_id} not listed within {timeout}s")


def test_new_alert_is_listed_and_streamed_within_two_seconds(
    start: Starter, publisher: AlertPublisher
) -> None:
    """An alert published to the alerts topic is in the list and on the live stream in < 2 s."""
    proc = start()
    stream = StreamReader(proc.url)
    try:
        published_at = time.monotonic()
        alert = publisher.publish()
        listed_at = wait_listed(proc, alert.alert_id, timeout=5)
        streamed_at, payload = stream.wait_for(alert.alert_id, timeout=5)
    finally:
        stream.close()
    assert listed_at - published_at < 2.0
    assert streamed_at - published_at < 2.0
    assert payload["status"] == "open"
    assert payload["case_id"] == alert.case_id


def test_ack_survives_restart_and_a_second_instance_agrees(
    start: Starter, publisher: AlertPublisher
) -> None:
    """An ack is rebuilt from the action log after a restart and by another instance."""
    first = start()
    alert = publisher.publish()
    wait_listed(first, alert.alert_id, timeout=5)
    ack = first.act(alert.alert_id, "ack", who="mlg")
    assert ack.status_code == 200, ack.text
    first.stop()
    while_down = publisher.publish()  # raised while no instance runs: must not be lost

    restarted = start()
    second = start(PANTAU_ALERTS_DELIVER="false")
    for proc in (restarted, second):
        body = proc.get(f"/v1/alerts/{alert.alert_id}").json()
        assert body["status"] == "acknowledged"
        assert body["acknowledged_by"] == "mlg"
        assert proc.get(f"/v1/alerts/{while_down.alert_id}").json()["status"] == "open"
    # The second instance resolves; the first sees it and refuses to resolve again.
    assert second.act(alert.alert_id, "resolve", note="fixed").status_code == 200
    deadline = time.monotonic() + 5
    while restarted.get(f"/v1/alerts/{alert.alert_id}").json()["status"] != "resolved":
        assert time.monotonic() < deadline, "the resolve did not reach the other instance"
        time.sleep(0.05)
    again = restarted.act(alert.alert_id, "resolve")
    assert again.status_code == 409


def test_cross_agency_reads_and_actions_are_refused(
    start: Starter, publisher: AlertPublisher
) -> None:
    """A Sleman operator neither sees nor acts on a Malang alert; unknown ids are 404."""
    proc = start()
    malang = publisher.publish(MALANG)
    sleman = publisher.publish(SLEMAN)
    wait_listed(proc, sleman.alert_id, timeout=5)
    wait_listed(proc, malang.alert_id, timeout=5)
    seen = {a["alert_id"] for a in proc.get("/v1/alerts", who="slm", limit="500").json()["items"]}
    assert sleman.alert_id in seen
    assert malang.alert_id not in seen
    assert proc.get(f"/v1/alerts/{malang.alert_id}", who="slm").status_code == 403
    assert proc.act(malang.alert_id, "ack", who="slm").status_code == 403
    assert proc.get(f"/v1/alerts/{malang.alert_id}", who="mlg").json()["status"] == "open"
    assert proc.get("/v1/alerts/0123456789abcdef", who="insp").status_code == 404
    assert proc.get("/v1/alerts", who="insp", severity="urgent").status_code == 422


class QuietHandler(BaseHTTPRequestHandler):
    """A receiver's request handler that answers with an empty body and logs nothing."""

    def answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Receiver:
    """A webhook receiver on a free port of 127.0.0.1, each request served in a thread of its
    own by `handler`, until `close`."""

    def serve(self, handler: type[BaseHTTPRequestHandler], path: str) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FlakyReceiver(Receiver):
    """A webhook receiver on 127.0.0.1 answering 500 twice per alert, then 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str | None]] = []
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key")
                earlier = sum(1 for _, k in receiver.calls if k == key)
                status = 500 if earlier < 2 else 200
                receiver.calls.append((status, key))
                self.answer(status)

        self.serve(Handler, "/hook")


def test_webhook_failing_twice_is_delivered_exactly_once(
    start: Starter, publisher: AlertPublisher, tmp_path: Path
) -> None:
    """Two 500s then a 200 give one `delivered` record, and a restart does not send again."""
    receiver = FlakyReceiver()
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "routes:\n"
        f"  - {{name: malang-ops, match: {{agency: {MALANG}, severity: high, rule: fee.mismatch}},"
        f" webhook: {{url: '{receiver.url}'}}}}\n"
    )
    env = {"PANTAU_ALERT_ROUTES": str(routes), "PANTAU_WEBHOOK_BACKOFF": "0.2"}
    try:
        proc = start(**env)
        alert = publisher.publish(MALANG, "fee.mismatch")
        publisher.publish(SLEMAN, "fee.mismatch")  # another agency: not routed
        deadline = time.monotonic() + 15
        while True:
            deliveries = proc.get(f"/v1/alerts/{alert.alert_id}").json()["deliveries"]
            if deliveries:
                break
            assert time.monotonic() < deadline, f"no delivery recorded: {proc.log_tail()}"
            time.sleep(0.1)
        assert [(d["target"], d["status"], d["attempts"]) for d in deliveries] == [
            ("malang-ops", "delivered", 3)
        ]

        # Other tests on this stack may raise routed alerts too: count this alert's calls.
        def mine() -> list[int]:
            return [status for status, key in receiver.calls if key == alert.alert_id]

        assert mine() == [500, 500, 200]
        proc.stop()
        restarted = start(**env)
        time.sleep(1.0)  # time enough for a wrong redelivery to happen
        assert mine() == [500, 500, 200]
        assert restarted.get(f"/v1/alerts/{alert.alert_id}").json()["deliveries"] == deliveries
    finally:
        receiver.close()


class HangingReceiver(Receiver):
    """A webhook receiver that never answers in time."""

    def __init__(self, delay: float) -> None:
        self.calls = 0
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                receiver.calls += 1
                time.sleep(delay)
                self.answer(200)

        self.serve(Handler, "/slow")


def test_hanging_webhook_times_out_into_a_dead_letter(
    start: Starter, publisher: AlertPublisher, tmp_path: Path
) -> None:
    """A hanging webhook is cut off by the timeout, retried, then dead-lettered with the error."""
    receiver = HangingReceiver(delay=3.0)
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "routes:\n"
        "  - {name: slow, match: {rule: process.reason_missing},"
        f" webhook: {{url: '{receiver.url}'}}}}\n"
    )
    try:
        proc = start(
            PANTAU_ALERT_ROUTES=str(routes),
            PANTAU_WEBHOOK_TIMEOUT="0.3",
            PANTAU_WEBHOOK_ATTEMPTS="2",
            PANTAU_WEBHOOK_BACKOFF="0.1",
        )
        alert = publisher.publish(SLEMAN, "process.reason_missing")
        deadline = time.monotonic() + 10
        while not (deliveries := proc.get(f"/v1/alerts/{alert.alert_id}").json()["deliveries"]):
            assert time.monotonic() < deadline, f"no outcome recorded: {proc.log_tail()}"
            time.sleep(0.1)
        assert [(d["status"], d["attempts"], d["error"]) for d in deliveries] == [
            ("dead_letter", 2, "timed out")
        ]
        assert receiver.calls == 2
        assert proc.get(f"/v1/alerts/{alert.alert_id}").json()["status"] == "open"
    finally:
        receiver.close()
