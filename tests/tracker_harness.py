"""Running tracker workers against the real broker: processes, isolated topics, traffic, folds.

Shared by the tracker's integration tests and its benchmark.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from pantau.adapters.kafka_topics import contract_topics, ensure_topics
from pantau.core.alerts import Alert
from pantau.core.catalog import Catalog, load_catalog
from pantau.core.events import Event, event_key, parse_rfc3339
from pantau.core.standards import StandardsBook
from pantau.settings import SAMPLE_CATALOG, TopicNames
from pantau_tracker.domain.batches import (
    arrived_late,
    decode_state,
    encode_rule_record,
    encode_state,
    judged_by,
    rule_decoder,
)
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.case_view import case_view
from pantau_tracker.domain.decoded import DecodedTable, TablePort
from pantau_tracker.domain.ordering import StepOrder
from pantau_tracker.domain.records import Rejection, read_event
from pantau_tracker.domain.rulebook import STATEFUL_RULES, case_step_from_dict
from pantau_tracker.domain.rulebook.cross_case import RuleRecord
from pantau_tracker.domain.standards import Standards, TrackerPolicy
from pantau_tracker.domain.tracking import check_deadlines, handle_event
from ports import free_port
from stacks import CLICKHOUSE_PORT, KAFKA, delete_topics

REPO = Path(__file__).resolve().parents[1]
AGENCY = "kota-malang.dpmptsp"


@contextmanager
def fresh_topics(partitions: int = 12) -> Iterator[dict[str, str]]:
    """PANTAU_* variables of a stack with its own prefix and contract topics, deleted after."""
    prefix = f"test-trk-{uuid.uuid4().hex[:10]}."
    ensure_topics([KAFKA], contract_topics(TopicNames(prefix), partitions), report=lambda _: None)
    env = {
        "PANTAU_TOPIC_PREFIX": prefix,
        "PANTAU_KAFKA": KAFKA,
        "PANTAU_PARTITIONS": str(partitions),
        "PANTAU_CLICKHOUSE": f"clickhouse://default@127.0.0.1:{CLICKHOUSE_PORT}/pantau_unused",
    }
    try:
        yield env
    finally:
        delete_topics(prefix)


@dataclass
class TrackerProcess:
    """One `pantau tracker` worker in a subprocess, with its own port and state folder."""

    env: dict[str, str]
    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TrackerProcess:
        env = {
            **os.environ,
            # Live steps are judged by the cross-case rules this long after they happened:
            # seconds here, so that tests do not wait the production default (120 s) for them.
            "PANTAU_TRACKER_ALLOWED_LATENESS_S": "5",
            "PANTAU_TRACKER_TIMER_INTERVAL_S": "0.5",
            **self.env,  # a benchmark may set the production values back
            "PANTAU_TRACKER_PORT": str(self.port),
            "PANTAU_TRACKER_DATA_DIR": str(self.data_dir),
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pantau.cli", "tracker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        log.close()
        return self

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        # Always our own http://127.0.0.1 URL.
        request = urllib.request.Request(self.url + path, headers=headers or {})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    @contextmanager
    def running(self) -> Iterator[TrackerProcess]:
        """The worker started and ready, and stopped afterwards."""
        self.start()
        try:
            self.wait_ready()
            yield self
        finally:
            self.stop()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"tracker exited; log:\n{self.log_tail()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"tracker not ready in {timeout} s; log:\n{self.log_tail()}")

    def ready(self) -> bool:
        """True when the worker answers /readyz with 200."""
        try:
            return self.get("/readyz")[0] == 200
        except (OSError, ValueError):
            return False

    def metric(self, name: str) -> float:
        """The sum of the worker's samples of metric `name` over all their labels (0 for a
        labelled metric with no sample yet)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:  # noqa: S310
            lines = response.read().decode().splitlines()
        families = (f"# TYPE {name} ", f"# TYPE {name.removesuffix('_total')} ")
        if not any(line.startswith(families) for line in lines):
            raise AssertionError(f"the worker does not report {name}")
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in lines
            if line.startswith((name + " ", name + "{"))
        )

    def held_steps(self) -> int:
        """The steps the worker's cross-case rules hold behind the event-time watermark."""
        return int(self.metric("pantau_tracker_held_steps"))

    def handled_events(self) -> int:
        """Events the worker has handled since it started (a record read again counts again)."""
        return int(self.metric("pantau_tracker_events_total"))

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


class DictTable:
    """A `TablePort` over a dict, recording which partition each key was written on."""

    def __init__(self) -> None:
        self.data: dict[bytes, tuple[int, bytes]] = {}
        self.reads = 0

    def get(self, key: bytes, partition: int) -> bytes | None:
        self.reads += 1
        found = self.data.get(key)
        if found is None:
            return None
        assert found[0] == partition, "a key was read on another partition than it lives on"
        return found[1]

    def put(self, key: bytes, partition: int, value: bytes) -> None:
        self.data[key] = (partition, value)

    def delete(self, key: bytes, partition: int) -> None:
        assert self.data.pop(key)[0] == partition


def case_table(size: int, port: TablePort | None = None) -> DecodedTable[CaseState]:
    """The tracker's table of case states over `port` (a fresh one by default), caching `size`."""
    return DecodedTable(DictTable() if port is None else port, decode_state, encode_state, size)


def rule_tables(
    size: int, ports: Mapping[str, TablePort] | None = None
) -> dict[str, DecodedTable[RuleRecord[Any]]]:
    """The tables of the cross-case rules, each over its port in `ports` (by default a fresh
    one per rule) and caching `size` keys."""
    return {
        rule.name: DecodedTable(
            DictTable() if ports is None else ports[rule.name],
            rule_decoder(rule),
            encode_rule_record,
            size,
        )
        for rule in STATEFUL_RULES
    }


def wait_nothing_held(workers: list[TrackerProcess], timeout: float = 60) -> None:
    """Until no worker holds a step for the cross-case rules (every step handed on is judged:
    a later progress report releases nothing more)."""
    deadline = time.monotonic() + timeout
    while True:
        # A worker killed by the test holds nothing: its partitions moved to the others.
        running = [w for w in workers if w.process is not None and w.process.poll() is None]
        held = [_held_or_unknown(worker) for worker in running]
        if all(count == 0 for count in held):
            return
        assert time.monotonic() < deadline, f"steps still held: {held}\n" + "\n".join(
            worker.log_tail() for worker in running
        )
        time.sleep(0.3)


def _held_or_unknown(worker: TrackerProcess) -> int | None:
    """The steps a worker holds; None while it does not answer (starting): not yet known."""
    try:
        return worker.held_steps()
    except OSError:
        return None


def producer() -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=5)


def publish(events: list[dict[str, Any]], topic: str) -> None:
    sender = producer()
    try:
        for event in events:
            key = event_key(event["agency"], event["case_id"])
            sender.send(topic, key=key, value=json.dumps(event).encode())
        sender.flush()
    finally:
        sender.close()


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: list[tuple[str, bytes]]

    @classmethod
    def of(cls, record: Any) -> Record:
        """A kafka-python ConsumerRecord, kept as plain data."""
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            record.timestamp,
            list(record.headers or []),
        )


def read_topic(
    topic: str,
    until: Callable[[list[Record]], bool] = lambda _: False,
    timeout: float = 10,
) -> list[Record]:
    """Every record of `topic` from the beginning, until `until(records)` or `timeout` s."""
    consumer = KafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for tp_records in consumer.poll(timeout_ms=200).values():
                records.extend(Record.of(r) for r in tp_records)
            if until(records):
                break
        return records
    finally:
        consumer.close()


def alerts_in(records: list[Record]) -> list[Alert]:
    return [Alert.from_json_bytes(r.value) for r in records if r.value is not None]


class LagReader:
    """Records of a topic not yet committed by a group, read without joining the group: one
    request for the group's committed offsets and one for the topic's ends, on clients kept
    open, so that asking often (a benchmark's every 50 ms) costs milliseconds, not a new
    connection each time."""

    def __init__(self, servers: str = KAFKA) -> None:
        self._admin = KafkaAdminClient(bootstrap_servers=servers)
        self._consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)

    def behind(self, group: str, topic: str) -> int:
        committed = self._admin.list_group_offsets({group: None}).get(group, {})
        partitions = self._consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, partition) for partition in partitions]
        ends = self._consumer.end_offsets(tps)
        return sum(ends[tp] - max(committed[tp].offset if tp in committed else 0, 0) for tp in tps)

    def close(self) -> None:
        self._consumer.close()
        self._admin.close()


def consumer_lag(group: str, topic: str, servers: str = KAFKA) -> int:
    """Records of `topic` not yet committed by `group` (read without joining the group)."""
    reader = LagReader(servers)
    try:
        return reader.behind(group, topic)
    finally:
        reader.close()


# --- expectations: the pure core folded over what the broker holds --------------------------


@dataclass
class Fold:
    """What the tracker should have produced from the events topic, judged by the pure core."""

    alerts: dict[str, bytes] = field(default_factory=dict)
    states: dict[bytes, CaseState] = field(default_factory=dict)
    rejected: int = 0
    # What each applied event hands to the stateful cross-case rules, by event id, as the
    # oversight topic carries it (without the rules it is for).
    observations: dict[str, dict[str, Any]] = field(default_factory=dict)


def fold_topic(
    records: list[Record],
    catalog: Catalog,
    policy: TrackerPolicy,
    book: StandardsBook | None = None,
) -> Fold:
    """Replay the events topic (each partition in offset order) through the pure core; with
    `book`, the published standards versions the tracker read (a bootstrapped stack)."""
    standards = Standards(catalog, policy, book)
    fold = Fold()
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        state = None if record.key is None else fold.states.get(record.key)
        found = read_event(record.key, record.value, standards.catalog_of(state))
        if isinstance(found, Rejection):
            fold.rejected += 1
            continue
        standard = standards.for_event(state, found)
        assert standard is not None
        assert record.key is not None
        received_at = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
        origin = (record.partition, record.offset)
        outcome = handle_event(state, found, received_at, standard, origin)
        for alert in outcome.alerts:
            fold.alerts[alert.alert_id] = alert.to_json_bytes()
        if outcome.state is not None:
            fold.states[record.key] = outcome.state
        if outcome.observation is not None and not outcome.duplicate:
            seen = outcome.observation
            fold.observations[seen.step.event.event_id] = seen.record()
    return fold


def handed_over(records: list[Record]) -> dict[str, dict[str, Any]]:
    """What the tracker handed to the stateful rules (the oversight topic), by event id.

    Asserts that an event handed over more than once (again after a redelivery, or for a
    duplicate of it) was handed alike each time.
    """
    found: dict[str, dict[str, Any]] = {}
    for _, document in oversight_entries(records):
        handed = {name: value for name, value in document.items() if name != "rules"}
        # The event travels as the JSON object it was accepted in; compare its contract form.
        event = Event.model_validate(document["step"]["event"])
        handed["step"] = {**handed["step"], "event": event.to_json_bytes().decode("utf-8")}
        event_id = event.event_id
        assert found.setdefault(event_id, handed) == handed, f"{event_id} handed over twice, unlike"
    return found


def oversight_entries(records: list[Record]) -> Iterator[tuple[Record, dict[str, Any]]]:
    """Every step on the oversight topic with the record carrying it, in the records' order."""
    for record in records:
        document = json.loads(record.value or b"{}")
        for entry in document["steps"]:
            yield record, entry


def fold_oversight(
    records: list[Record], catalog: Catalog, book: StandardsBook | None = None
) -> dict[str, bytes]:
    """The alerts of the stateful cross-case rules: the oversight topic replayed through the
    event-time order and the rules, each partition in offset order (the order the tracker's
    rule agent read it in), progress reports included. Each step is judged by the version of
    the standards its case follows (`book`: the versions the tracker read)."""
    standards = Standards(catalog, None, book)
    by_name = {rule.name: rule for rule in STATEFUL_RULES}
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    alerts: dict[str, bytes] = {}
    routes: dict[bytes, int] = {}
    held: dict[bytes, bytes] = {}
    partitions = 1 + max((r.partition for r in records), default=0)
    order = StepOrder(partitions, lambda key, partition: held.get(key))
    in_order = sorted(records, key=lambda r: (r.partition, r.offset))
    for record in in_order:
        assert record.key is not None
        assert record.value is not None
        for item in order.record(json.loads(record.value), record.partition):
            # Each state is changed on its service's partition only.
            assert routes.setdefault(item.route, record.partition) == record.partition
            document = item.entry
            event = document["step"]["event"]
            if isinstance(event, str):
                event = document["step"]["event"] = json.loads(event)
            standard = standards.for_case(
                event["agency"], event["service"], document.get("version")
            )
            assert standard is not None
            step = case_step_from_dict(document["step"], standard.service, standard.calendar)
            received_at = parse_rfc3339(document["received_at"])
            for name in document["rules"]:
                rule = by_name[name]
                key = rule.key(step.event)
                assert key is not None
                stored[name, key], raised = rule.apply(stored.get((name, key)), step, received_at)
                if standard.version is not None:
                    raised = [judged_by(alert, standard.version) for alert in raised]
                if item.late_behind is not None:
                    raised = [arrived_late(alert, item.late_behind) for alert in raised]
                alerts.update((alert.alert_id, alert.to_json_bytes()) for alert in raised)
        for order_key, (_, value) in order.take_writes().puts.items():
            if value is None:
                held.pop(order_key, None)
            else:
                held[order_key] = value
    return alerts


def apply_timers(
    fold: Fold,
    catalog: Catalog,
    policy: TrackerPolicy,
    now: datetime,
    book: StandardsBook | None = None,
) -> None:
    """Add what the deadline timer must have done by `now`: its alerts and the states it marked."""
    standards = Standards(catalog, policy, book)
    for key, state in list(fold.states.items()):
        standard = standards.for_state(state)
        assert standard is not None
        outcome = check_deadlines(state, now, standard)
        if outcome.changed and outcome.state is not None:
            fold.states[key] = outcome.state
            for alert in outcome.alerts:
                fold.alerts[alert.alert_id] = alert.to_json_bytes()


def expected_views(
    fold: Fold, catalog: Catalog, policy: TrackerPolicy, book: StandardsBook | None = None
) -> dict[bytes, Any]:
    standards = Standards(catalog, policy, book)
    views = {}
    for key, state in fold.states.items():
        standard = standards.for_state(state)
        assert standard is not None
        views[key] = case_view(state, standard)
    return views


def sample_catalog() -> Catalog:
    return load_catalog(SAMPLE_CATALOG)


# --- traffic ------------------------------------------------------------------------------------


def pbg_case(case_id: str, start: datetime, kind: str = "clean") -> list[dict[str, Any]]:
    """A Kota Malang PBG case a few hours long; `kind` plants one anomaly.

    Kinds: clean, invalid_transition, same_officer, fee_mismatch, role_not_allowed,
    reason_missing, skipped_step, duplicate, conflict, out_of_order.
    """
    hour = timedelta(hours=1)

    def event(n: int, step: str, **extra: Any) -> dict[str, Any]:
        return {
            "event_id": f"{AGENCY}:{case_id}:{n}",
            "agency": AGENCY,
            "service": "pbg",
            "case_id": case_id,
            "step": step,
            "occurred_at": (start + n * hour).isoformat(),
            "seq": n,
            **extra,
        }

    verifier = {"id": "198702142010011003", "role": "verifier"}
    head = {"id": "197501012000011001", "role": "head"}
    events = [
        event(1, "submitted", channel="online", applicant={"ref": "k1:3f9a"}),
        event(2, "verified", officer=verifier),
        event(3, "fee_assessed", officer={"id": "198001012005011001", "role": "assessor"}),
        event(4, "paid", payment={"amount": "150000.00", "currency": "IDR", "receipt": "KW-1"}),
        event(5, "approved", officer=head),
        event(6, "issued"),
    ]
    if kind == "invalid_transition":
        events[2] = event(3, "approved", officer=head)
        events = events[:3]
    elif kind == "same_officer":
        events[4] = event(5, "approved", officer={**verifier, "role": "head"})
    elif kind == "fee_mismatch":
        events[3] = event(
            4, "paid", payment={"amount": "75000.00", "currency": "IDR", "receipt": "KW-1"}
        )
    elif kind == "role_not_allowed":
        events[1] = event(2, "verified", officer={"id": "X9", "role": "cashier"})
    elif kind == "reason_missing":
        events = [events[0], event(2, "rejected")]
    elif kind == "skipped_step":
        events = [events[0], events[1], event(3, "issued")]
    elif kind == "duplicate":
        events = [*events[:3], events[2], *events[3:]]
    elif kind == "conflict":
        events = [*events[:3], {**events[2], "reason": "changed afterwards"}, *events[3:]]
    elif kind == "out_of_order":
        events = [events[0], events[2], events[1], *events[3:]]
    return events


KINDS = (
    "clean",
    "invalid_transition",
    "same_officer",
    "fee_mismatch",
    "role_not_allowed",
    "reason_missing",
    "skipped_step",
    "duplicate",
    "conflict",
    "out_of_order",
)


def scenario_stream(cases: int, start: datetime, tag: str) -> list[dict[str, Any]]:
    """`cases` cases cycling through every kind, their events interleaved across cases."""
    per_case = [
        pbg_case(f"{tag}-{i:05d}", start + timedelta(minutes=i % 50), KINDS[i % len(KINDS)])
        for i in range(cases)
    ]
    stream: list[dict[str, Any]] = []
    depth = max(len(events) for events in per_case)
    for index in range(depth):
        stream.extend(events[index] for events in per_case if index < len(events))
    return stream
