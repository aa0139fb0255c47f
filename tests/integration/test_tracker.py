"""The tracker worker against the real broker: alerts, DLQ, timers, crash recovery, two workers."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pantau.adapters.kafka_topics import TopicSpec, ensure_topics
from pantau.core.alerts import CROSS_CASE_RULES
from pantau.core.events import event_key
from pantau.settings import SAMPLE_CATALOG, TopicNames
from pantau_tracker.domain.standards import TrackerPolicy
from stacks import KAFKA
from tracker_harness import (
    AGENCY,
    Record,
    TrackerProcess,
    alerts_in,
    apply_timers,
    consumer_lag,
    expected_views,
    fold_oversight,
    fold_topic,
    fresh_topics,
    handed_over,
    pbg_case,
    producer,
    publish,
    read_topic,
    sample_catalog,
    scenario_stream,
    wait_nothing_held,
)

NIK = "3507012345678901"
# A service with a deadline short enough to pass during a test, on a round-the-clock calendar.
TIMER_TEST_CATALOG = """
agencies:
  - {code: test-kota.loket, name: Loket Uji, calendar: always}
services:
  - code: kilat
    agency: test-kota.loket
    name: Layanan Kilat
    fee: 0
    steps:
      - {code: submitted, start: true}
      - {code: served, sla: 1 minutes}
      - {code: done, terminal: true}
"""


@pytest.fixture(scope="module")
def stack(local_servers: None) -> Iterator[dict[str, str]]:
    """An isolated prefix with its contract topics."""
    with fresh_topics() as env:
        yield env


@pytest.fixture(scope="module")
def worker(
    stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrackerProcess]:
    """One running tracker worker, shared by the scenario tests of this module."""
    folder = tmp_path_factory.mktemp("tracker")
    catalog = folder / "catalog"
    catalog.mkdir()
    for source in sorted(SAMPLE_CATALOG.glob("*.yaml")):
        shutil.copy(source, catalog / source.name)
    (catalog / "zz-timer-test.yaml").write_text(TIMER_TEST_CATALOG)
    env = {**stack, "PANTAU_CATALOG": str(catalog)}
    with TrackerProcess(env, folder / "state", folder / "tracker.log").running() as tracker:
        yield tracker


def topics(env: dict[str, str]) -> TopicNames:
    return TopicNames(env["PANTAU_TOPIC_PREFIX"])


def alerts_for(records: list[Record], case_id: str) -> list[str]:
    """The contract rules raised on `case_id`. Cases stamped relative to the wall clock may fall
    outside working hours or make one officer look busy, so the cross-case rules are left out
    here; tests/integration/test_tracker_cross_case.py pins them on fixed dates."""
    return sorted(
        a.rule.value
        for a in alerts_in(records)
        if a.case_id == case_id and a.rule.value not in CROSS_CASE_RULES
    )


def test_published_events_raise_exactly_the_expected_alerts(
    stack: dict[str, str], worker: TrackerProcess
) -> None:
    """Cases published straight to pantau.events give exactly their rules' alerts; clean: none."""
    names = topics(stack)
    start = datetime.now(UTC) - timedelta(hours=8)
    tag = uuid.uuid4().hex[:6]
    expected = {
        "clean": [],
        "invalid_transition": ["process.invalid_transition"],
        "same_officer": ["duty.same_officer"],
        "fee_mismatch": ["fee.mismatch"],
        "role_not_allowed": ["duty.role_not_allowed"],
        "reason_missing": ["process.reason_missing"],
        "skipped_step": ["process.invalid_transition", "process.skipped_step"],
        "duplicate": [],
        "conflict": ["integrity.conflicting_duplicate"],
        "out_of_order": ["process.invalid_transition", "time.out_of_order"],
    }
    cases = {kind: pbg_case(f"{tag}-{kind}", start, kind) for kind in expected}
    publish([event for events in cases.values() for event in events], names.events)
    # Every case handled to its last event (the state counts distinct event ids) ...
    deadline = time.monotonic() + 60
    for kind, events in cases.items():
        distinct = len({event["event_id"] for event in events})
        while True:
            status, view = worker.get(f"/v1/cases/{AGENCY}/{tag}-{kind}")
            if status == 200 and view["events"] == distinct:
                break
            assert time.monotonic() < deadline, worker.log_tail()
            time.sleep(0.2)
    # ... and its alerts, published before its state, are all on the topic.
    wanted = sum(len(rules) for rules in expected.values())

    def mine(records: list[Record]) -> int:
        return sum(1 for a in alerts_in(records) if a.case_id.startswith(tag))

    records = read_topic(names.alerts, until=lambda r: mine(r) >= wanted, timeout=20)
    records = read_topic(names.alerts, until=lambda r: False, timeout=1)
    for kind, rules in expected.items():
        assert alerts_for(records, f"{tag}-{kind}") == sorted(rules), kind
    status, view = worker.get(f"/v1/cases/{AGENCY}/{tag}-clean")
    assert status == 200
    assert view["status"] == "closed"
    assert view["terminal_step"] == "issued"
    assert view["breached"] is False
    assert worker.get(f"/v1/cases/{AGENCY}/nope-{tag}")[0] == 404


def test_every_store_of_the_worker_has_bounded_memtables(
    stack: dict[str, str], worker: TrackerProcess
) -> None:
    """The RocksDB store of each partition of each table runs with the tracker's memory bounds,
    not Faust's (three 64 MiB memtables and a 2 GiB cache each), as RocksDB itself reports
    them in the options file of every database it opened (which does not name the cache's
    size; the same options carry it)."""
    names = topics(stack)
    tag = uuid.uuid4().hex[:6]
    events = pbg_case(f"{tag}-bounded", datetime.now(UTC) - timedelta(hours=2), "clean")
    publish(events, names.events)
    deadline = time.monotonic() + 60
    while worker.get(f"/v1/cases/{AGENCY}/{tag}-bounded")[0] != 200:
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.2)
    # Each database's newest options file (RocksDB writes one each time it opens it).
    databases: dict[Path, Path] = {}
    for found in worker.data_dir.rglob("OPTIONS-*"):
        latest = databases.get(found.parent)
        if latest is None or found.name > latest.name:
            databases[found.parent] = found
    assert databases, list(worker.data_dir.rglob("*"))[:20]
    for folder, newest in databases.items():
        text = newest.read_text()
        assert re.search(r"^\s*write_buffer_size=8388608$", text, re.M), folder
        assert re.search(r"^\s*max_write_buffer_number=2$", text, re.M), folder


def test_poison_records_go_to_the_dlq_and_the_partition_continues(
    stack: dict[str, str], worker: TrackerProcess
) -> None:
    """Malformed bytes and a raw NIK are dead-lettered (NIK redacted); the next event counts."""
    names = topics(stack)
    case_id = f"poison-{uuid.uuid4().hex[:6]}"
    key = event_key(AGENCY, case_id)
    now = datetime.now(UTC)
    with_nik = {
        "event_id": f"{case_id}:nik",
        "agency": AGENCY,
        "service": "pbg",
        "case_id": case_id,
        "step": "submitted",
        "occurred_at": now.isoformat(),
        "applicant": {"nik": NIK},
    }
    good = {**with_nik, "event_id": f"{case_id}:1", "step": "verified", "applicant": None}
    del good["applicant"]
    sender = producer()
    sender.send(names.events, key=key, value=b"\x00{not json")
    sender.send(names.events, key=key, value=json.dumps(with_nik).encode())
    sender.send(names.events, key=key, value=json.dumps(good).encode())
    sender.flush()
    sender.close()
    records = read_topic(names.alerts, until=lambda r: bool(alerts_for(r, case_id)), timeout=30)
    # The good event after the poison: an unknown case whose verified step has no officer.
    assert alerts_for(records, case_id) == ["duty.role_not_allowed", "process.unknown_case"]
    dlq = [
        r for r in read_topic(names.dlq, until=lambda r: len(r) >= 2, timeout=15) if r.key == key
    ]
    codes = sorted(dict(r.headers)["pantau.error"] for r in dlq)
    assert codes == [b"malformed", b"raw_nik"]
    for record in dlq:
        assert NIK.encode() not in (record.value or b"")
        assert NIK.encode() not in dict(record.headers)["pantau.detail"]


def test_backdated_deadline_alerts_within_five_seconds_without_another_event(
    stack: dict[str, str], worker: TrackerProcess
) -> None:
    """A step deadline already passed: sla.step_overdue from the timer, once, within 5 s."""
    names = topics(stack)
    case_id = f"late-{uuid.uuid4().hex[:6]}"
    submitted = {
        "event_id": f"{case_id}:1",
        "agency": AGENCY,
        "service": "pbg",
        "case_id": case_id,
        "step": "submitted",
        "occurred_at": (datetime.now(UTC) - timedelta(days=12)).isoformat(),
        "seq": 1,
    }
    publish([submitted], names.events)
    published = time.monotonic()

    def overdue(records: list[Record]) -> list[str]:
        return [
            a.alert_id
            for a in alerts_in(records)
            if a.case_id == case_id and a.rule.value == "sla.step_overdue"
        ]

    records = read_topic(names.alerts, until=lambda r: bool(overdue(r)), timeout=10)
    elapsed = time.monotonic() - published
    assert overdue(records), worker.log_tail()
    assert elapsed < 5.0
    time.sleep(2)  # several timer ticks later, still exactly one
    records = read_topic(names.alerts, until=lambda r: False, timeout=2)
    assert len(overdue(records)) == 1
    assert alerts_for(records, case_id) == ["sla.step_overdue", "time.backdated"]


def test_deadline_passing_with_no_event_alerts_within_five_seconds(
    stack: dict[str, str], worker: TrackerProcess
) -> None:
    """A 1-minute step deadline passing later, with nothing arriving: alerted 0-5 s after it."""
    names = topics(stack)
    case_id = f"kilat-{uuid.uuid4().hex[:6]}"
    occurred = datetime.now(UTC) - timedelta(seconds=52)
    due = occurred + timedelta(minutes=1)
    submitted = {
        "event_id": f"{case_id}:1",
        "agency": "test-kota.loket",
        "service": "kilat",
        "case_id": case_id,
        "step": "submitted",
        "occurred_at": occurred.isoformat(),
    }
    publish([submitted], names.events)

    def overdue(records: list[Record]) -> list[Record]:
        return [
            r
            for r in records
            if r.value is not None
            and json.loads(r.value)["case_id"] == case_id
            and json.loads(r.value)["rule"] == "sla.step_overdue"
        ]

    records = read_topic(names.alerts, until=lambda r: bool(overdue(r)), timeout=25)
    assert overdue(records), worker.log_tail()
    [record] = overdue(records)
    published = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
    assert due <= published <= due + timedelta(seconds=5)
    assert json.loads(record.value or b"{}")["detected_at"].startswith(
        due.strftime("%Y-%m-%dT%H:%M:%S")
    )


# --- crash and scale-out: each with its own topics and workers --------------------------------


def _expect_matching_output(
    env: dict[str, str], group: str, workers: list[TrackerProcess], timeout: float = 60
) -> None:
    """Alerts and case states on Kafka equal a fresh fold of the events topic (plus what the
    deadline timer owes by now); every alert_id has one content; the consumer lag is zero."""
    names = topics(env)
    catalog, policy = sample_catalog(), TrackerPolicy()
    deadline = time.monotonic() + timeout
    while consumer_lag(group, names.events) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert consumer_lag(group, names.events) == 0
    fold = fold_topic(read_topic(names.events, timeout=3), catalog, policy)
    apply_timers(fold, catalog, policy, datetime.now(UTC))
    # Every applied event was handed to the cross-case rules, as a fresh fold hands it ...
    oversight = names.prefix + "tracker-oversight"
    while consumer_lag(group, oversight):
        assert time.monotonic() < deadline, "the rules did not take in every hand-over"
        time.sleep(0.5)
    # ... and judged: nothing is held behind the event-time watermark any more, so the
    # progress reports still to come release nothing.
    wait_nothing_held(workers, timeout=max(5.0, deadline - time.monotonic()))
    handed = read_topic(oversight, timeout=3)
    assert handed_over(handed) == fold.observations
    # ... and their alerts are those of the hand-over replayed through the rules.
    fold.alerts.update(fold_oversight(handed, catalog))

    def ids(records: list[Record]) -> set[str]:
        return {json.loads(r.value or b"{}").get("alert_id") for r in records}

    published = read_topic(names.alerts, until=lambda r: ids(r) >= set(fold.alerts), timeout=15)
    published = read_topic(names.alerts, timeout=2)
    contents: dict[str, set[bytes]] = defaultdict(set)
    for record in published:
        assert record.value is not None
        contents[json.loads(record.value)["alert_id"]].add(record.value)
    changed = {alert_id: bodies for alert_id, bodies in contents.items() if len(bodies) > 1}
    assert changed == {}, "an alert_id was published with different contents"
    extra = {a: next(iter(b)).decode() for a, b in contents.items() if a not in fold.alerts}
    missing = {a: body.decode() for a, body in fold.alerts.items() if a not in contents}
    assert (extra, missing) == ({}, {}), "published alerts (left) unlike the fold's (right)"
    assert {a: next(iter(b)) for a, b in contents.items()} == fold.alerts
    latest: dict[bytes, bytes | None] = {}
    for record in sorted(read_topic(names.cases, timeout=3), key=lambda r: r.offset):
        assert record.key is not None
        latest[record.key] = record.value
    views = expected_views(fold, catalog, policy)
    assert set(latest) == set(views)
    for key, view in views.items():
        assert json.loads(latest[key] or b"null") == view, key


def _stream_with_overdue_cases(tag: str) -> list[dict[str, Any]]:
    """400 scenario events of the last eight hours, and among them the first events of 30 cases
    whose first deadline passed long ago: the timer alerts those before and after a crash, and
    must do so once with one content."""
    now = datetime.now(UTC)
    stream = scenario_stream(400, now - timedelta(hours=8), tag)
    for i in range(30):
        late = pbg_case(f"{tag}-late-{i}", now - timedelta(days=12, hours=i), "clean")[:1]
        stream.insert(i * 60, late[0])
    return stream


def test_kill_9_mid_stream_then_restart_loses_and_changes_nothing(
    local_servers: None, tmp_path: Path
) -> None:
    """kill -9 while events stream in; after a restart every alert and case state is right."""
    with fresh_topics() as env:
        names = topics(env)
        stream = _stream_with_overdue_cases("crash")
        tracker = TrackerProcess(env, tmp_path / "state", tmp_path / "tracker.log").start()
        done = threading.Event()

        def trickle() -> None:
            sender = producer()
            for index, event in enumerate(stream):
                key = event_key(event["agency"], event["case_id"])
                sender.send(names.events, key=key, value=json.dumps(event).encode())
                if index % 100 == 99:  # about 500 events/s: the crash lands mid-stream
                    sender.flush()
                    time.sleep(0.2)
            sender.flush()
            sender.close()
            done.set()

        try:
            tracker.wait_ready()
            publisher = threading.Thread(target=trickle)
            publisher.start()
            read_topic(names.alerts, until=lambda r: len(r) >= 50, timeout=30)
            tracker.kill()
            assert not done.is_set(), "the stream ended before the crash"
            tracker.start()
            publisher.join(timeout=60)
            tracker.wait_ready()
            # Killed: its local rules store may hold writes the changelog never got.
            assert "did not stop cleanly" in tracker.log_path.read_text(), tracker.log_tail()
            _expect_matching_output(env, names.group("tracker"), [tracker])
        finally:
            tracker.stop()


def test_kill_9_then_restart_with_state_deleted_restores_table_and_loses_nothing(
    local_servers: None, tmp_path: Path
) -> None:
    """kill -9 mid-stream, state folder deleted, restart (four times): each restart restores
    the table from its changelog, and no event is skipped or left uncommitted."""
    with fresh_topics() as env:
        names = topics(env)
        group = names.group("tracker")
        stream = _stream_with_overdue_cases("wipe")
        # The shortest session timeout: each restart waits for the killed member to expire.
        env = {**env, "PANTAU_TRACKER_SESSION_TIMEOUT_S": "6"}
        state = tmp_path / "state"
        tracker = TrackerProcess(env, state, tmp_path / "tracker.log").start()
        chunks = [stream[i * len(stream) // 5 : (i + 1) * len(stream) // 5] for i in range(5)]
        try:
            tracker.wait_ready()
            publish(chunks[0], names.events)
            # The race lost by the restore path (records fetched before the seek to the
            # committed offsets) does not happen on every restart: four chances.
            for chunk in chunks[1:]:
                waiting = consumer_lag(group, names.events)
                deadline = time.monotonic() + 20
                # Wait for a commit, so the restart seeks to offsets inside the stream.
                while waiting and consumer_lag(group, names.events) >= waiting:
                    assert time.monotonic() < deadline, tracker.log_tail()
                    time.sleep(0.3)
                tracker.kill()
                # Without its local store the worker must restore the whole table from
                # the changelog, while more events arrive.
                shutil.rmtree(state)
                tracker.start()
                publish(chunk, names.events)
                tracker.wait_ready()
            _expect_matching_output(env, group, [tracker], timeout=30)
        finally:
            tracker.stop()


def test_two_workers_give_the_same_alerts_as_one_and_no_duplicate_timer_alerts(
    local_servers: None, tmp_path: Path
) -> None:
    """Two workers share 12 partitions: the alerts are those of the fold, timers fire once each."""
    with fresh_topics() as env:
        names = topics(env)
        now = datetime.now(UTC)
        stream = scenario_stream(120, now - timedelta(hours=8), "two")
        late = [
            {
                "event_id": f"late-{i}:1",
                "agency": AGENCY,
                "service": "pbg",
                "case_id": f"late-{i}",
                "step": "submitted",
                "occurred_at": (now - timedelta(days=12)).isoformat(),
                "seq": 1,
            }
            for i in range(12)
        ]
        first = TrackerProcess(env, tmp_path / "a", tmp_path / "a.log").start()
        second = TrackerProcess(env, tmp_path / "b", tmp_path / "b.log").start()
        try:
            first.wait_ready()
            second.wait_ready()
            publish(stream, names.events)
            _expect_matching_output(env, names.group("tracker"), [first, second])
            # Either worker answers for any case: the owner serves it, the other routes to it.
            for case_id in {event["case_id"] for event in stream[:40]}:
                path = f"/v1/cases/{AGENCY}/{case_id}"
                (status_a, view_a), (status_b, view_b) = first.get(path), second.get(path)
                assert (status_a, status_b) == (200, 200)
                assert view_a == view_b
            # Deadlines already passed when published: the timer path, on whichever worker.
            publish(late, names.events)

            def timer_alerts(records: list[Record]) -> list[str]:
                return [
                    a.alert_id
                    for a in alerts_in(records)
                    if a.case_id.startswith("late-") and a.rule.value.startswith("sla.")
                ]

            read_topic(names.alerts, until=lambda r: len(timer_alerts(r)) >= 12, timeout=30)
            time.sleep(3)  # several timer ticks on both workers
            records = read_topic(names.alerts, timeout=3)
            ids = timer_alerts(records)
            assert len(ids) >= 12
            assert len(ids) == len(set(ids)), "a timer alert was published twice"
        finally:
            first.stop()
            second.stop()


def test_an_agent_crashing_on_every_record_makes_the_worker_unready(
    local_servers: None, tmp_path: Path
) -> None:
    """The rules table's changelog created by hand with one partition instead of twelve: the rules
    agent crashes on its first table write and again after every restart, and /readyz answers
    503 naming the agent and the error instead of ready."""
    with fresh_topics() as env:
        changelog = env["PANTAU_TOPIC_PREFIX"] + "tracker-oversight-state-changelog"
        ensure_topics([KAFKA], [TopicSpec(changelog, 1, {"cleanup.policy": "compact"})], print)
        tracker = TrackerProcess(env, tmp_path / "state", tmp_path / "tracker.log").start()
        try:
            tracker.wait_ready()
            start = datetime.now(UTC) - timedelta(hours=1)
            publish(pbg_case(f"crash-{uuid.uuid4().hex[:6]}", start)[:1], topics(env).events)
            deadline = time.monotonic() + 60
            while True:
                status, body = tracker.get("/readyz")
                if status == 503 and body.get("status") == "crashed":
                    break
                assert time.monotonic() < deadline, tracker.log_tail()
                time.sleep(0.3)
            assert "PartitionsMismatch" in body["agents"]["oversee"]
            assert set(body["agents"]) == {"oversee"}
        finally:
            tracker.stop()


def test_case_endpoint_wants_the_internal_token_and_metrics_name_no_case(
    local_servers: None, tmp_path: Path
) -> None:
    """With PANTAU_INTERNAL_TOKEN set, a case read without it is 401 and with it answers; the
    open /metrics counts the handled events and alerts without naming any case."""
    with fresh_topics() as env:
        env = {**env, "PANTAU_INTERNAL_TOKEN": "s3cret-internal"}
        tracker = TrackerProcess(env, tmp_path / "state", tmp_path / "tracker.log").start()
        tag = f"tok-{uuid.uuid4().hex[:6]}"
        try:
            tracker.wait_ready()
            start = datetime.now(UTC) - timedelta(hours=3)
            events = pbg_case(tag, start, "same_officer")
            publish(events, topics(env).events)
            path = f"/v1/cases/{AGENCY}/{tag}"
            bearer = {"Authorization": "Bearer s3cret-internal"}
            deadline = time.monotonic() + 60
            while tracker.get(path, bearer)[0] != 200:
                assert time.monotonic() < deadline, tracker.log_tail()
                time.sleep(0.3)
            assert tracker.get(path)[0] == 401
            assert tracker.get(path, {"Authorization": "Bearer wrong"})[0] == 401
            assert tracker.handled_events() == len(events)
            with urllib.request.urlopen(tracker.url + "/metrics", timeout=5) as response:  # noqa: S310
                text = response.read().decode()
            assert 'pantau_tracker_alerts_total{rule="duty.same_officer"}' in text
            assert tag not in text
        finally:
            tracker.stop()
