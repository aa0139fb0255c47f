"""The whole pipeline (intake, tracker, sink) as real processes, a ledger of what was sent and
the checks every fault test ends with.

Every event sent is recorded as acknowledged (202), failed (any other answer) or unknown (no
answer in time). After the fault the pipeline is drained and the history of record is checked:
no acknowledged event missing from v_events, no event stored twice in v_events, no alert_id with
two contents on the alerts topic or in v_alerts, and each case's published state equal to a fresh
fold of the events the broker holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from clickhouse_driver import Client
from kafka import KafkaConsumer, TopicPartition

from integration.history.sink_process import SinkProcess
from pantau.bootstrap import bootstrap
from pantau.settings import REPO_DIR, ClickHouseTarget, CommonSettings, TopicNames
from pantau_tracker.domain.standards import TrackerPolicy
from stacks import isolated_stack
from tracker_harness import (
    Record,
    TrackerProcess,
    apply_timers,
    expected_views,
    fold_topic,
    free_port,
    sample_catalog,
    scenario_stream,
)

API_KEYS = REPO_DIR / "deploy" / "dev-api-keys.yaml"
MALANG_KEY = "dev-kota-malang.dpmptsp"
PSEUDONYM_KEY = "fault-suite-pseudonym-key"
CHECKPOINT_KEY = "fault-suite-checkpoint-key"
PANTAU = Path(sys.executable).parent / "pantau"


@dataclass
class Ledger:
    """What the senders were told about each event_id."""

    acknowledged: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, event_ids: list[str], status: int | None) -> None:
        with self.lock:
            self.statuses[status if status is not None else 0] += 1
            target = (
                self.unknown
                if status is None
                else self.acknowledged
                if status == 202
                else self.failed
            )
            target.update(event_ids)


class Intake:
    """`pantau intake` as a real process, and a client that posts batches to it."""

    def __init__(self, env: dict[str, str], log: Path, publish_timeout: float = 5) -> None:
        self.port = free_port()
        self.log_path = log
        self.refusals: list[str] = []
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [str(PANTAU), "intake"],
            env={
                **os.environ,
                **env,
                "PANTAU_INTAKE_PORT": str(self.port),
                "PANTAU_API_KEYS": str(API_KEYS),
                "PANTAU_PSEUDONYM_KEY": PSEUDONYM_KEY,
                "PANTAU_INTAKE_RATE": "100000",
                "PANTAU_INTAKE_BURST": "100000",
                "PANTAU_INTAKE_PUBLISH_TIMEOUT": str(publish_timeout),
                "PANTAU_LOG_LEVEL": "WARNING",
            },
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        # Longer than the publish timeout: a request with no answer by then is "unknown".
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", timeout=publish_timeout + 10
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, log.read_text()
            try:
                if self.http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"intake did not start: {log.read_text()}")

    def post(self, events: list[dict[str, Any]]) -> int | None:
        """The status of one batch, or None when no answer came."""
        try:
            response = self.http.post(
                "/v1/events",
                content=json.dumps({"events": events}),
                headers={
                    "Authorization": f"Bearer {MALANG_KEY}",
                    "Content-Type": "application/json",
                },
            )
        except httpx.TransportError:
            return None
        if response.status_code != 202:
            self.refusals.append(f"{response.status_code} {response.text[:300]}")
        return response.status_code

    def close(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log.close()


def intake_stream(cases: int, start: datetime, tag: str) -> list[dict[str, Any]]:
    """The tracker's scenario traffic as agencies may post it: the intake refuses a rejection
    without a reason (422), so those cases carry one and raise no reason alert."""
    return [
        {**event, "reason": "berkas tidak lengkap"}
        if event["step"] == "rejected" and "reason" not in event
        else event
        for event in scenario_stream(cases, start, tag)
    ]


def send_stream(
    intake: Intake,
    events: list[dict[str, Any]],
    ledger: Ledger,
    batch: int = 25,
    pause: float = 0.05,
    done: threading.Event | None = None,
) -> threading.Thread:
    """Post `events` in batches from a thread, pacing them so a fault lands mid-stream."""

    def run() -> None:
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            ledger.record([e["event_id"] for e in chunk], intake.post(chunk))
            time.sleep(pause)
        if done is not None:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@dataclass
class Pipeline:
    """The processes of one isolated stack."""

    env: dict[str, str]
    topics: TopicNames
    database: ClickHouseTarget
    tracker: TrackerProcess
    sink: SinkProcess
    intake: Intake


class PrivateClickHouse:
    """A ClickHouse server of our own (deploy/clickhouse.sh, free ports) that a test may freeze."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tcp_port = free_port()
        self.env = {
            **os.environ,
            "PANTAU_LOCAL_DIR": str(directory),
            "PANTAU_CLICKHOUSE_TCP_PORT": str(self.tcp_port),
            "PANTAU_CLICKHOUSE_HTTP_PORT": str(free_port()),
        }

    def run(self, action: str) -> None:
        subprocess.run(
            [str(REPO_DIR / "deploy" / "clickhouse.sh"), action],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=90,
        )

    @property
    def pid(self) -> int:
        return int((self.directory / "run" / "clickhouse.pid").read_text().strip())

    def url(self, database: str) -> str:
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/{database}"


class PrivateBroker:
    """A Kafka broker of our own (deploy/kafka.sh, free ports) that a test may kill -9."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.env = {
            **os.environ,
            "PANTAU_LOCAL_DIR": str(directory),
            "PANTAU_KAFKA_PORT": str(self.port),
            "PANTAU_KAFKA_CONTROLLER_PORT": str(free_port()),
            "PANTAU_KAFKA_HEAP": "-Xms128m -Xmx512m",
        }
        shared_libs = REPO_DIR / ".local" / "kafka" / "libs"
        if shared_libs.is_dir():  # reuse the resolved jars instead of resolving them again
            (directory / "kafka").mkdir(parents=True)
            (directory / "kafka" / "libs").symlink_to(shared_libs)

    @property
    def servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, action: str) -> None:
        subprocess.run(
            [str(REPO_DIR / "deploy" / "kafka.sh"), action],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    @property
    def pid(self) -> int:
        return int((self.directory / "run" / "kafka.pid").read_text().strip())


@contextmanager
def pipeline(
    tmp_path: Path,
    label: str = "faults",
    clickhouse: PrivateClickHouse | None = None,
    broker: PrivateBroker | None = None,
) -> Iterator[Pipeline]:
    """Intake, tracker and sink running on a fresh stack; all stopped and removed afterwards.

    With `clickhouse`, the history of record lives on that private server instead.
    """
    with isolated_stack(label) as stack:
        env = {
            **stack,
            "PANTAU_CHECKPOINT_KEY": CHECKPOINT_KEY,
            "PANTAU_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
            "PANTAU_SINK_RETRY_MAX_SECONDS": "1",
        }
        if clickhouse is not None:
            env["PANTAU_CLICKHOUSE"] = clickhouse.url("pantau_faults")
        if broker is not None:
            env["PANTAU_KAFKA"] = broker.servers
        settings = CommonSettings(
            topic_prefix=env["PANTAU_TOPIC_PREFIX"],
            clickhouse=env["PANTAU_CLICKHOUSE"],
            kafka=env["PANTAU_KAFKA"],
        )
        if clickhouse is not None:
            bootstrap(settings, kafka=False)
        if broker is not None:
            bootstrap(settings, clickhouse=False)
        tracker = TrackerProcess(env, tmp_path / "tracker-state", tmp_path / "tracker.log")
        sink = SinkProcess(env, tmp_path / "sink.log")
        intake: Intake | None = None
        try:
            tracker.start()
            intake = Intake(env, tmp_path / "intake.log")
            tracker.wait_ready()
            yield Pipeline(env, settings.topics, settings.clickhouse_target, tracker, sink, intake)
        finally:
            if intake is not None:
                intake.close()
            tracker.stop()
            sink.stop()


def consumer_lag(servers: str, group: str, topic: str) -> int:
    """Records of `topic` not yet committed by `group` (read without joining the group)."""
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = consumer.end_offsets(tps)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in tps)
    finally:
        consumer.close()


def read_topic(servers: str, topic: str, timeout: float = 3) -> list[Record]:
    """Every record of `topic`, read from the beginning to the end offsets taken at the start."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[Record] = []
        deadline = time.monotonic() + timeout + 30
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(
                    Record(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.key,
                        r.value,
                        r.timestamp,
                        list(r.headers or []),
                    )
                    for r in batch
                )
        return records
    finally:
        consumer.close()


def wait_drained(servers: str, groups_topics: list[tuple[str, str]], timeout: float) -> None:
    """Until every (group, topic) has committed everything on the topic."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(consumer_lag(servers, group, topic) == 0 for group, topic in groups_topics):
            return
        time.sleep(0.5)
    lags = {(g, t): consumer_lag(servers, g, t) for g, t in groups_topics}
    raise AssertionError(f"not drained in {timeout} s: {lags}")


def _rows(client: Client, query: str) -> list[Any]:
    return list(client.execute(query))


def check_history(stack: Pipeline, ledger: Ledger, timeout: float = 40) -> dict[str, int]:
    """Drain the pipeline, then the invariants of the history of record; returns counts."""
    names = stack.topics
    tracker_group, sink_group = names.group("tracker"), names.group("sink")
    servers = stack.env["PANTAU_KAFKA"]
    wait_drained(servers, [(tracker_group, names.events)], timeout)
    # The sink stores what the tracker published, so it drains after the tracker.
    wait_drained(
        servers,
        [(sink_group, names.events), (sink_group, names.alerts), (sink_group, names.cases)],
        timeout,
    )
    catalog, policy = sample_catalog(), TrackerPolicy()
    fold = fold_topic(read_topic(servers, names.events), catalog, policy)
    apply_timers(fold, catalog, policy, datetime.now(UTC))

    client = Client(host=stack.database.host, port=stack.database.port)
    try:
        db = stack.database.database
        stored = _rows(client, f"SELECT event_id FROM `{db}`.v_events")
        stored_ids = [row[0] for row in stored]
        assert len(stored_ids) == len(set(stored_ids)), "an event_id twice in v_events"
        missing = ledger.acknowledged - set(stored_ids)
        assert not missing, (
            f"{len(missing)} acknowledged events not in v_events: {sorted(missing)[:5]}"
        )
        view_alerts = _rows(client, f"SELECT alert_id, rule, case_id FROM `{db}`.v_alerts")
        view_ids = [row[0] for row in view_alerts]
        assert len(view_ids) == len(set(view_ids)), "an alert_id twice in v_alerts"
        contents_in_db: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
        for row in _rows(client, f"SELECT alert_id, rule, case_id, message FROM `{db}`.alerts"):
            contents_in_db[row[0]].add(tuple(row[1:]))
    finally:
        client.disconnect()
    changed_in_db = {a: c for a, c in contents_in_db.items() if len(c) > 1}
    assert changed_in_db == {}, "an alert_id stored with two contents"

    contents: dict[str, set[bytes]] = defaultdict(set)
    for record in read_topic(servers, names.alerts):
        assert record.value is not None
        contents[json.loads(record.value)["alert_id"]].add(record.value)
    changed = {a: b for a, b in contents.items() if len(b) > 1}
    assert changed == {}, "an alert_id published with two contents"
    assert set(contents) == set(fold.alerts), "alerts differ from a fold of the events"
    assert {a: next(iter(b)) for a, b in contents.items()} == fold.alerts
    assert set(view_ids) == set(contents), "v_alerts differs from the alerts topic"
    assert set(contents_in_db) == set(contents)

    latest: dict[bytes, bytes | None] = {}
    for record in sorted(read_topic(servers, names.cases), key=lambda r: r.offset):
        assert record.key is not None
        latest[record.key] = record.value
    views = expected_views(fold, catalog, policy)
    assert set(latest) == set(views), "cases differ from a fold of the events"
    for key, view in views.items():
        assert json.loads(latest[key] or b"null") == view, key
    return {
        "acknowledged": len(ledger.acknowledged),
        "failed": len(ledger.failed),
        "unknown": len(ledger.unknown),
        "stored": len(stored_ids),
        "alerts": len(contents),
        "cases": len(views),
    }
