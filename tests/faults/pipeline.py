"""The whole pipeline (intake, tracker, sink) as real processes, a ledger of what was sent and
the checks every fault test ends with.

Every event sent is recorded as acknowledged (202), failed (any other answer) or unknown (no
answer in time). After the fault the pipeline is drained and the history of record is checked:
no acknowledged event missing from v_events, no refused (4xx) event in it, no event stored twice
in v_events, no alert_id with two contents on the alerts topic or in v_alerts, the alerts equal to
a fresh fold of the events the broker holds (the cross-case rules' from the steps handed to
them), and each case's published state equal to that fold.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from clickhouse_driver import Client
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from integration.history.sink_process import SinkProcess
from pantau.adapters.standards_topic import read_book
from pantau.provisioning import provision
from pantau.settings import REPO_DIR, ClickHouseTarget, TopicNames
from pantau_tracker.domain.standards import TrackerPolicy
from pantau_tracker.settings import TrackerSettings
from ports import free_port
from private_servers import PrivateBroker, PrivateKafkaCluster
from replicas import PrivateClickHouse, PrivateReplicas
from stacks import isolated_stack, stack_settings, wait_intake_healthy
from tracker_harness import (
    AGENCY,
    Record,
    TrackerProcess,
    apply_timers,
    consumer_lag,
    expected_views,
    fold_oversight,
    fold_topic,
    handed_over,
    sample_catalog,
    scenario_stream,
    wait_nothing_held,
)

API_KEYS = REPO_DIR / "deploy" / "dev-api-keys.yaml"
MALANG_KEY = "dev-kota-malang.dpmptsp"
SLEMAN = "kab-sleman.dpmptsp"
SLEMAN_KEY = "dev-kab-sleman.dpmptsp"
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
    by_status: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    # (sent, answered, status) of each request whose sending time was given, monotonic clock.
    timeline: list[tuple[float, float, int | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self, event_ids: list[str], status: int | None, sent_at: float | None = None
    ) -> None:
        with self.lock:
            if sent_at is not None:
                self.timeline.append((sent_at, time.monotonic(), status))
            self.statuses[status if status is not None else 0] += 1
            self.by_status[status if status is not None else 0].update(event_ids)
            target = (
                self.unknown
                if status is None
                else self.acknowledged
                if status == 202
                else self.failed
            )
            target.update(event_ids)

    @property
    def refused(self) -> set[str]:
        """Events only ever answered with a 4xx: the intake promised nothing was published."""
        with self.lock:
            refused = set().union(
                *(ids for status, ids in self.by_status.items() if 400 <= status < 500)
            )
            others = set().union(
                *(ids for status, ids in self.by_status.items() if not 400 <= status < 500)
            )
        return refused - others

    @classmethod
    def merged(cls, *ledgers: Ledger) -> Ledger:
        """One ledger of what several senders were told."""
        merged = cls()
        for ledger in ledgers:
            with ledger.lock:
                merged.acknowledged |= ledger.acknowledged
                merged.failed |= ledger.failed
                merged.unknown |= ledger.unknown
                merged.timeline += ledger.timeline
                for status, count in ledger.statuses.items():
                    merged.statuses[status] += count
                for status, ids in ledger.by_status.items():
                    merged.by_status[status] |= ids
        return merged


@dataclass(frozen=True)
class Answer:
    """What one request got: its status (None: no answer in time), how long it took, and the
    Retry-After header of a refusal."""

    status: int | None
    seconds: float
    retry_after: str | None = None


class Intake:
    """`pantau intake` as a real process, and a client that posts batches to it.

    Rate limits are out of the way unless `settings` sets PANTAU_INTAKE_RATE and _BURST.
    """

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        publish_timeout: float = 5,
        settings: Mapping[str, str] | None = None,
    ) -> None:
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
                **(settings or {}),
            },
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        # Longer than the publish timeout: a request with no answer by then is "unknown".
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", timeout=publish_timeout + 10
        )
        wait_intake_healthy(self.http, self.process, log)

    def post(self, events: list[dict[str, Any]], key: str = MALANG_KEY) -> int | None:
        """The status of one batch, or None when no answer came."""
        return self.answer(events, key).status

    def answer(self, events: list[dict[str, Any]], key: str = MALANG_KEY) -> Answer:
        """What one batch posted with the agency's `key` got."""
        started = time.monotonic()
        try:
            response = self.http.post(
                "/v1/events", content=json.dumps({"events": events}), headers=_headers(key)
            )
        except httpx.TransportError:
            return Answer(None, time.monotonic() - started)
        return self._answered(response, time.monotonic() - started)

    def _answered(self, response: httpx.Response, seconds: float) -> Answer:
        if response.status_code != 202:
            self.refusals.append(f"{response.status_code} {response.text[:300]}")
        return Answer(response.status_code, seconds, response.headers.get("Retry-After"))

    def post_all_at_once(
        self, batches: list[list[dict[str, Any]]], ledger: Ledger, timeout: float
    ) -> list[Answer]:
        """Every batch posted at the same moment, each on a connection of its own; a request
        with no answer within `timeout` (a client timeout) is recorded as unknown."""

        async def run() -> list[Answer]:
            limits = httpx.Limits(max_connections=len(batches), max_keepalive_connections=0)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{self.port}", timeout=timeout, limits=limits
            ) as client:
                go = asyncio.Event()

                async def one(batch: list[dict[str, Any]]) -> Answer:
                    body = json.dumps({"events": batch})
                    await go.wait()
                    started = time.monotonic()
                    try:
                        response = await client.post(
                            "/v1/events", content=body, headers=_headers(MALANG_KEY)
                        )
                    except httpx.TransportError:
                        answer = Answer(None, time.monotonic() - started)
                    else:
                        answer = self._answered(response, time.monotonic() - started)
                    ledger.record([e["event_id"] for e in batch], answer.status)
                    return answer

                requests = [asyncio.create_task(one(batch)) for batch in batches]
                await asyncio.sleep(0.1)  # every request's body is ready
                go.set()
                return await asyncio.gather(*requests)

        return asyncio.run(run())

    def close(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log.close()


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def intake_stream(cases: int, start: datetime, tag: str) -> list[dict[str, Any]]:
    """The tracker's scenario traffic as agencies may post it: the intake refuses a rejection
    without a reason (422), so those cases carry one and raise no reason alert."""
    return [
        {**event, "reason": "berkas tidak lengkap"}
        if event["step"] == "rejected" and "reason" not in event
        else event
        for event in scenario_stream(cases, start, tag)
    ]


def fault_traffic(cases: int, tag: str) -> tuple[list[dict[str, Any]], Ledger, threading.Event]:
    """What a fault test sends while its fault strikes: the `intake_stream` of `cases` cases from
    eight hours ago (ids tagged `tag`), an empty ledger, and the event the sender sets once the
    stream is sent."""
    return (
        intake_stream(cases, datetime.now(UTC) - timedelta(hours=8), tag),
        Ledger(),
        threading.Event(),
    )


def for_agency(events: list[dict[str, Any]], agency: str) -> list[dict[str, Any]]:
    """The same traffic sent by another agency with a service of the same code (Kab. Sleman
    has a PBG too, with a step more): other case keys and event ids, other alerts."""
    return [
        {**event, "agency": agency, "event_id": event["event_id"].replace(AGENCY, agency, 1)}
        for event in events
    ]


def send_stream(
    intake: Intake,
    events: list[dict[str, Any]],
    ledger: Ledger,
    batch: int = 25,
    pause: float = 0.05,
    done: threading.Event | None = None,
    key: str = MALANG_KEY,
    on_schedule: bool = False,
) -> threading.Thread:
    """Post `events` in batches from a thread, pacing them so a fault lands mid-stream: `pause`
    after each answer, or with `on_schedule` batch k at `k * pause` from the start (an agency's
    own timetable, late only when an answer took longer than `pause`)."""

    def run() -> None:
        started = time.monotonic()
        for k, start in enumerate(range(0, len(events), batch)):
            chunk = events[start : start + batch]
            sent_at = time.monotonic()
            ledger.record([e["event_id"] for e in chunk], intake.post(chunk, key), sent_at)
            next_at = started + (k + 1) * pause if on_schedule else time.monotonic() + pause
            time.sleep(max(0.0, next_at - time.monotonic()))
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
    workers: list[TrackerProcess] = field(default_factory=list)

    def add_worker(self, name: str) -> TrackerProcess:
        """Start one more tracker worker in the same group (its own port and state folder);
        the pipeline stops it with the rest."""
        directory = self.tracker.data_dir.parent
        worker = TrackerProcess(
            self.tracker.env, directory / f"tracker-{name}-state", directory / f"tracker-{name}.log"
        )
        self.workers.append(worker)
        return worker.start()


@contextmanager
def pipeline(
    tmp_path: Path,
    label: str = "faults",
    clickhouse: PrivateClickHouse | PrivateReplicas | None = None,
    broker: PrivateBroker | PrivateKafkaCluster | None = None,
    tracker_env: Mapping[str, str] | None = None,
    intake_settings: Mapping[str, str] | None = None,
) -> Iterator[Pipeline]:
    """Intake, tracker and sink running on a fresh stack; all stopped and removed afterwards.

    With `clickhouse`, the history of record lives on that private server instead; with `broker`,
    the events flow through that private broker (or cluster). `tracker_env` and `intake_settings`
    add PANTAU_* variables of those processes only.
    """
    with isolated_stack(label) as stack_env:
        env = {
            **stack_env,
            "PANTAU_CHECKPOINT_KEY": CHECKPOINT_KEY,
            "PANTAU_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
            "PANTAU_SINK_RETRY_MAX_SECONDS": "1",
        }
        if clickhouse is not None:
            env["PANTAU_CLICKHOUSE"] = clickhouse.url("pantau_faults")
        if broker is not None:
            env["PANTAU_KAFKA"] = broker.servers
        settings = stack_settings(env)
        if clickhouse is not None:
            provision(settings, kafka=False)
        if broker is not None:
            provision(settings, clickhouse=False)
        tracker = TrackerProcess(
            {**env, **(tracker_env or {})}, tmp_path / "tracker-state", tmp_path / "tracker.log"
        )
        sink = SinkProcess(env, tmp_path / "sink.log")
        intake: Intake | None = None
        stack: Pipeline | None = None
        try:
            tracker.start()
            intake = Intake(env, tmp_path / "intake.log", settings=intake_settings)
            tracker.wait_ready()
            target = settings.clickhouse_target
            stack = Pipeline(env, settings.topics, target, tracker, sink, intake)
            yield stack
        finally:
            if intake is not None:
                intake.close()
            for worker in [tracker, *(stack.workers if stack is not None else [])]:
                worker.stop()
            sink.stop()


# The classic group protocol's states between a member's JoinGroup and everyone's SyncGroup.
REBALANCING = frozenset({"PreparingRebalance", "CompletingRebalance"})


class GroupWatch:
    """A consumer group's state, asked on an admin client kept open: a few milliseconds a
    question, so that a test can poll it through a rebalance that lasts a fraction of a
    second."""

    def __init__(self, servers: str, group: str) -> None:
        self._admin = KafkaAdminClient(bootstrap_servers=servers)
        self._group = group

    def state(self) -> tuple[str, int]:
        """The group's state and how many members it has."""
        described = self._admin.describe_groups([self._group])[self._group]
        return str(described["group_state"]), len(described["members"] or [])

    def close(self) -> None:
        self._admin.close()


def group_members(servers: str, group: str, topic: str) -> tuple[str, dict[str, set[int]]]:
    """The consumer group's state and, for each member (by the web URL a tracker worker
    announces in its metadata), the partitions of `topic` assigned to it."""
    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        description = admin.describe_groups([group])[group]
    finally:
        admin.close()
    members: dict[str, set[int]] = {}
    for member in description["members"]:
        url = re.search(r'"url":\s*"([^"]+)"', str(member["member_metadata"]))
        assigned = (member["member_assignment"] or {}).get("assigned_partitions", [])
        members[url.group(1) if url else member["member_id"]] = {
            p for a in assigned if a["topic"] == topic for p in a["partitions"]
        }
    return str(description["group_state"]), members


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
                records.extend(Record.of(r) for r in batch)
        return records
    finally:
        consumer.close()


def wait_drained(servers: str, groups_topics: list[tuple[str, str]], timeout: float) -> None:
    """Until every (group, topic) has committed everything on the topic."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(consumer_lag(group, topic, servers) == 0 for group, topic in groups_topics):
            return
        time.sleep(0.5)
    lags = {(g, t): consumer_lag(g, t, servers) for g, t in groups_topics}
    raise AssertionError(f"not drained in {timeout} s: {lags}")


def _described(alert_ids: Any, alerts: Mapping[str, Any]) -> list[str]:
    """A few alerts as `rule case_id` for an assertion message."""
    described = []
    for alert_id in sorted(alert_ids)[:8]:
        value = alerts[alert_id]
        document = json.loads(value if isinstance(value, bytes) else next(iter(value)))
        described.append(f"{document['rule']} {document['case_id']}")
    return described


def _rows(client: Client, query: str) -> list[Any]:
    return list(client.execute(query))


def check_history(stack: Pipeline, ledger: Ledger, timeout: float = 40) -> dict[str, int]:
    """Drain the pipeline, then the invariants of the history of record; returns counts."""
    names = stack.topics
    tracker_group, sink_group = names.group("tracker"), names.group("sink")
    servers = stack.env["PANTAU_KAFKA"]
    oversight = TrackerSettings(topic_prefix=names.prefix).oversight_topic
    wait_drained(servers, [(tracker_group, names.events)], timeout)
    # The cross-case rules read the steps the tracker handed over, then the sink stores what
    # the tracker published: they drain in that order.
    wait_drained(servers, [(tracker_group, oversight)], timeout)
    wait_nothing_held([stack.tracker, *stack.workers], timeout)
    wait_drained(
        servers,
        [(sink_group, names.events), (sink_group, names.alerts), (sink_group, names.cases)],
        timeout,
    )
    catalog, policy = sample_catalog(), TrackerPolicy()
    # The stack's bootstrap published the catalog as standards version 1: cases follow it.
    book = read_book(servers.split(","), names.standards)
    fold = fold_topic(read_topic(servers, names.events), catalog, policy, book)
    apply_timers(fold, catalog, policy, datetime.now(UTC), book)
    # Every applied event was handed to the cross-case rules once alike, as a fresh fold hands
    # it, and their alerts are those of the hand-over replayed through the rules.
    handed = read_topic(servers, oversight)
    assert handed_over(handed) == fold.observations, "the cross-case hand-over differs"
    fold.alerts.update(fold_oversight(handed, catalog, book))

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
        published = ledger.refused & set(stored_ids)
        assert not published, (
            f"{len(published)} events refused with a 4xx are in v_events: {sorted(published)[:5]}"
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
    assert set(contents) == set(fold.alerts), (
        "alerts differ from a fold of the events: "
        f"published only {_described(contents.keys() - fold.alerts.keys(), contents)}, "
        f"folded only {_described(fold.alerts.keys() - contents.keys(), fold.alerts)}"
    )
    assert {a: next(iter(b)) for a, b in contents.items()} == fold.alerts
    assert set(view_ids) == set(contents), "v_alerts differs from the alerts topic"
    assert set(contents_in_db) == set(contents)

    latest: dict[bytes, bytes | None] = {}
    for record in sorted(read_topic(servers, names.cases), key=lambda r: r.offset):
        assert record.key is not None
        latest[record.key] = record.value
    views = expected_views(fold, catalog, policy, book)
    assert set(latest) == set(views), "cases differ from a fold of the events"
    for key, view in views.items():
        assert json.loads(latest[key] or b"null") == view, key
    return {
        "acknowledged": len(ledger.acknowledged),
        "failed": len(ledger.failed),
        "unknown": len(ledger.unknown),
        "refused": len(ledger.refused),
        "stored": len(stored_ids),
        "lost": len(missing),
        "duplicated": len(stored_ids) - len(set(stored_ids)),
        "alerts": len(contents),
        "cases": len(views),
    }
