"""The intake against real Kafka brokers: acknowledged events are on the topic, failures are 503.

The broker-failure test runs its own private broker (own ports, own data dir) and stops it; the
shared broker on 9092 is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from pantau.core.events import Event
from pantau.settings import REPO_DIR
from pantau_intake.adapters.kafka_publisher import KafkaPublisher
from pantau_intake.app import create_app
from pantau_intake.settings import IntakeSettings
from ports import free_port
from private_servers import PrivateBroker
from stacks import wait_intake_healthy

MALANG = "dev-kota-malang.dpmptsp"
SLEMAN = "dev-kab-sleman.dpmptsp"
NIK = "3573010101900001"
PSEUDONYM_KEY = "integration-test-pseudonym-key"
API_KEYS = REPO_DIR / "deploy" / "dev-api-keys.yaml"
PANTAU = Path(sys.executable).parent / "pantau"


def event(case: str, step: str = "submitted", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"kota-malang.dpmptsp:{case}:{step}",
        "agency": "kota-malang.dpmptsp",
        "service": "pbg",
        "case_id": case,
        "step": step,
        "occurred_at": "2026-11-27T09:15:00+07:00",
        "applicant": {"nik": NIK},
        **fields,
    }


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def read_topic(servers: str, topic: str, wanted: set[str]) -> dict[str, Any]:
    """The records of `topic` (up to its current end) whose event_id is in `wanted`:
    event_id -> (key, value)."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    found: dict[str, Any] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + 30
        while any(consumer.position(p) < ends[p] for p in partitions):
            assert time.monotonic() < deadline, "could not read the topic to its end"
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    event_id = json.loads(record.value)["event_id"]
                    if event_id in wanted:
                        found[event_id] = (record.key, record.value)
    finally:
        consumer.close()
    return found


def test_intake_publishes_to_kafka_and_refuses_bad_requests(stack_env: dict[str, str]) -> None:
    """On the real broker: an accepted event is on pantau.events under <agency>|<case_id> with
    no raw NIK; 401, 403, 413, 422 (with field paths) and 429 publish nothing."""
    settings = IntakeSettings(
        kafka=stack_env["PANTAU_KAFKA"],
        topic_prefix=stack_env["PANTAU_TOPIC_PREFIX"],
        api_keys=API_KEYS,
        pseudonym_key=PSEUDONYM_KEY,
        intake_rate=0.01,  # refills too slowly to matter during the test
        intake_burst=5,
    )
    publisher = KafkaPublisher(settings.kafka_servers, settings.topics.events, timeout=10)
    case = f"PBG-{uuid.uuid4().hex[:12]}"
    rejected = {f"{case}-{n}" for n in range(5)}
    with TestClient(create_app(settings, publisher=publisher)) as client:
        assert client.get("/readyz").status_code == 200
        accepted = client.post("/v1/events", json=event(case), headers=auth(MALANG))
        assert accepted.status_code == 202, accepted.text

        def send(body: Any, key: str | None = MALANG) -> httpx.Response:
            headers = auth(key) if key else {"Content-Type": "application/json"}
            response: httpx.Response = client.post(
                "/v1/events", content=json.dumps(body), headers=headers
            )
            return response

        assert send(event(f"{case}-0"), key=None).status_code == 401
        assert send(event(f"{case}-0"), key="wrong").status_code == 401
        assert send(event(f"{case}-1"), key=SLEMAN).status_code == 403
        huge = {"events": [event(f"{case}-2", attributes={"x": "y" * 8000})] * 140}
        assert send(huge).status_code == 413
        invalid = send({"events": [event(f"{case}-3"), event(f"{case}-4", seq=0)]})
        assert invalid.status_code == 422
        assert [(p["index"], p["field"]) for p in invalid.json()["errors"]] == [(1, "seq")]
        limited = send({"events": [event(f"{case}-{n}") for n in range(4)]})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1

    topic = settings.topics.events
    wanted = {f"kota-malang.dpmptsp:{c}:submitted" for c in {case} | rejected}
    found = read_topic(stack_env["PANTAU_KAFKA"], topic, wanted)
    assert set(found) == {f"kota-malang.dpmptsp:{case}:submitted"}
    key, value = found[f"kota-malang.dpmptsp:{case}:submitted"]
    assert key == f"kota-malang.dpmptsp|{case}".encode()
    assert NIK.encode() not in value
    published = Event.from_json_bytes(value)
    assert published.applicant is not None
    assert published.applicant.ref.startswith("k1:")


# --- a private broker that the test may stop ------------------------------------------------------


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class StoppableBroker(PrivateBroker):
    """A private broker the test stops and starts again; `stop` waits until its port is closed."""

    def start(self) -> None:
        self.run("start")

    def stop(self) -> None:
        self.run("stop")
        deadline = time.monotonic() + 30
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)  # the JVM may still be closing its sockets
        assert not port_open(self.port), "the private broker did not stop"


@pytest.fixture
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoppableBroker]:
    root = tmp_path_factory.mktemp("kafka-private")
    broker = StoppableBroker(root)
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


class IntakeProcess:
    """`pantau intake` as a real process, as `make up` runs it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = int(env["PANTAU_INTAKE_PORT"])
        self.log_path = log
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            [str(PANTAU), "intake"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        wait_intake_healthy(self.http, self.process, log)

    def post(self, body: Any) -> tuple[int, float]:
        started = time.monotonic()
        response = self.http.post("/v1/events", content=json.dumps(body), headers=auth(MALANG))
        return response.status_code, time.monotonic() - started

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
        # Shown by pytest when the test fails: what the intake said about Kafka.
        print("".join(self.log_path.read_text().splitlines(keepends=True)[-60:]))


def test_intake_survives_kafka_outages(private_broker: StoppableBroker, tmp_path: Path) -> None:
    """Kafka down at start and stopped mid-traffic: 503 within a bounded time, /readyz fails,
    nothing unacknowledged is reported accepted, and it recovers without a restart."""
    prefix = f"outage-{uuid.uuid4().hex[:8]}."
    env = {
        **os.environ,
        "PANTAU_KAFKA": private_broker.servers,
        "PANTAU_TOPIC_PREFIX": prefix,
        "PANTAU_INTAKE_PORT": str(free_port()),
        "PANTAU_API_KEYS": str(API_KEYS),
        "PANTAU_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "PANTAU_INTAKE_PUBLISH_TIMEOUT": "2",
        "PANTAU_LOG_LEVEL": "WARNING",
    }
    bound = 2 + 3.0  # the publish timeout plus slack for a busy 2-core machine
    intake = IntakeProcess(env, tmp_path / "intake.log")
    try:
        # Kafka is not there at all when the intake starts.
        assert intake.http.get("/readyz").status_code == 503
        status, took = intake.post(event("PBG-before-start"))
        assert (status, took < bound) == (503, True)

        private_broker.start()
        subprocess.run([str(PANTAU), "bootstrap", "--kafka-only"], env=env, check=True)
        assert wait_for(lambda: intake.post(event("PBG-first"))[0] == 202, seconds=60)
        assert intake.http.get("/readyz").status_code == 200

        # Stop the broker while requests are in flight.
        outcomes: list[tuple[str, int]] = []
        stop_sending = threading.Event()

        def traffic() -> None:
            n = 0
            while not stop_sending.is_set():
                body = event(f"PBG-flight-{n}")
                outcomes.append((body["event_id"], intake.post(body)[0]))
                n += 1

        sender = threading.Thread(target=traffic)
        sender.start()
        time.sleep(1.0)
        private_broker.stop()
        time.sleep(1.0)
        status, took = intake.post(event("PBG-while-down"))
        assert status == 503
        assert took < bound
        assert wait_for(lambda: intake.http.get("/readyz").status_code == 503, seconds=10)
        stop_sending.set()
        sender.join(timeout=30)
        assert intake.process.poll() is None, "the intake must stay up"
        assert {status for _, status in outcomes} <= {202, 503}
        assert 503 in {status for _, status in outcomes}

        private_broker.start()
        assert wait_for(lambda: intake.post(event("PBG-after"))[0] == 202, seconds=60)
        assert intake.http.get("/readyz").status_code == 200
        accepted = {event_id for event_id, status in outcomes if status == 202}
        assert accepted, "some requests should have been accepted before the stop"
        found = read_topic(private_broker.servers, f"{prefix}events", accepted)
        assert set(found) == accepted, "every 202 must be on the topic"
    finally:
        intake.close()


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False
