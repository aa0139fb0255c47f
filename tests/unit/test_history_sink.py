"""The sink's loop against fakes at its two ports: a Kafka consumer and the history store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import monotonic
from typing import Any

from kafka.structs import TopicPartition

from pantau.core.catalog import load_catalog
from pantau.core.events import Event, event_key
from pantau.history.chain import CaseKey, ChainHead, head_from_rows
from pantau.history.records import EVENT_COLUMNS
from pantau.settings import SAMPLE_CATALOG
from pantau_sink.app import HistorySink
from pantau_sink.settings import SinkSettings

TOPIC = "t.events"


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int = 1_790_000_000_000


@dataclass
class FakeConsumer:
    """Hands out prepared records per partition, honours pause/resume, records commits."""

    pending: dict[TopicPartition, list[Record]] = field(default_factory=dict)
    paused_partitions: set[TopicPartition] = field(default_factory=set)
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    max_records: int = 500

    def feed(self, records: Iterable[Record]) -> None:
        for record in records:
            self.pending.setdefault(TopicPartition(record.topic, record.partition), []).append(
                record
            )

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        out: dict[TopicPartition, list[Record]] = {}
        budget = self.max_records
        for partition, records in self.pending.items():
            if partition in self.paused_partitions or not records or not budget:
                continue
            taken, self.pending[partition] = records[:budget], records[budget:]
            budget -= len(taken)
            out[partition] = taken
        return out

    def assignment(self) -> set[TopicPartition]:
        return set(self.pending)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused_partitions |= set(partitions)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused_partitions -= set(partitions)

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


@dataclass
class FakeHistory:
    """Stores rows in memory; refuses everything while `down`."""

    down: bool = False
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    inserts: int = 0
    catch_ups: int = 0

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if self.down:
            raise ConnectionError("ClickHouse is down")
        if rows:
            self.inserts += 1
            self.rows.setdefault(table, []).extend(rows)

    def chain_heads(self, cases: Iterable[CaseKey]) -> dict[CaseKey, ChainHead]:
        if self.down:
            raise ConnectionError("ClickHouse is down")
        index = {name: i for i, name in enumerate(EVENT_COLUMNS)}
        found: dict[CaseKey, list[tuple[str, int, str]]] = {}
        for row in self.rows.get("events", []):
            case = (row[index["agency"]], row[index["case_id"]])
            found.setdefault(case, []).append(
                (row[index["event_id"]], row[index["position"]], row[index["hash"]])
            )
        return {case: head_from_rows(found.get(case, [])) for case in cases}

    def catch_up_case_services(self) -> None:
        if self.down:
            raise ConnectionError("ClickHouse is down")
        self.catch_ups += 1

    def event_ids(self) -> list[str]:
        return [row[0] for row in self.rows.get("events", [])]


class InlineWriter(Executor):
    """Runs each insert as it is handed over: the loop's decisions, step by step, without the
    writer thread's timing."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        done: Future[Any] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as error:
            done.set_exception(error)
        return done


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _records(count: int, partitions: int = 4) -> list[Record]:
    out = []
    offsets = [0] * partitions
    for n in range(count):
        case = n % 50
        event = Event.model_validate(
            {
                "event_id": f"e{n}",
                "agency": "kota-malang.dpmptsp",
                "service": "nib",
                "case_id": f"NIB-{case}",
                "step": "submitted",
                "occurred_at": "2026-11-27T09:00:00+07:00",
            }
        )
        partition = case % partitions
        out.append(
            Record(
                TOPIC,
                partition,
                offsets[partition],
                event_key(event.agency, event.case_id),
                event.to_json_bytes(),
            )
        )
        offsets[partition] += 1
    return out


def _committed(consumer: FakeConsumer) -> dict[TopicPartition, int]:
    """The latest committed offset of each partition."""
    committed: dict[TopicPartition, int] = {}
    for commit in consumer.commits:
        committed.update(commit)
    return committed


def _sink(
    consumer: FakeConsumer, store: FakeHistory, clock: Clock, writer: Executor | None = None
) -> HistorySink:
    settings = SinkSettings(
        topic_prefix="t.",
        sink_batch_rows=1000,
        sink_backlog_batch_rows=2500,
        sink_batch_seconds=1.0,
    )
    return HistorySink(
        settings,
        load_catalog(SAMPLE_CATALOG),
        store,  # type: ignore[arg-type]
        consumer,  # type: ignore[arg-type]
        monotonic=clock,
        now=lambda: datetime(2026, 11, 28, tzinfo=UTC),
        writer=writer or InlineWriter(),
    )


def test_rows_are_inserted_per_1000_and_offsets_committed_only_after() -> None:
    """2,500 events make two inserts of 1,000 at once and one of 500 a second later; every
    commit follows its insert and covers exactly the records stored."""
    consumer, store, clock = FakeConsumer(), FakeHistory(), Clock()
    consumer.feed(_records(2500))
    sink = _sink(consumer, store, clock)
    for _ in range(5):
        sink.step()
    assert store.inserts == 2
    assert len(store.event_ids()) == 2000
    assert len(consumer.commits) == 2
    assert sum(_committed(consumer).values()) == 2000  # exactly the stored records
    assert sink.buffered == 500
    clock.now = 1.0
    sink.step()
    assert store.inserts == 3
    assert sorted(store.event_ids(), key=lambda i: int(i[1:])) == [f"e{n}" for n in range(2500)]
    assert sum(_committed(consumer).values()) == 2500


def test_clickhouse_down_pauses_consumption_keeps_memory_bounded_and_resumes() -> None:
    """While inserts fail nothing is committed, every partition is paused and at most one batch
    plus one poll is held; when the store is back the same records are stored once and the
    partitions resume."""
    consumer, store, clock = FakeConsumer(), FakeHistory(down=True), Clock()
    consumer.feed(_records(5000))
    sink = _sink(consumer, store, clock)
    for _ in range(50):
        sink.step()
        clock.now += 0.5
        assert sink.buffered <= 1000 + consumer.max_records
    assert consumer.commits == []
    assert consumer.paused() == consumer.assignment()
    assert sink.counters.failed_inserts > 1
    store.down = False
    for _ in range(30):
        clock.now += 1.0
        sink.step()
    assert consumer.paused() == set()
    assert sorted(store.event_ids(), key=lambda i: int(i[1:])) == [f"e{n}" for n in range(5000)]


def test_replayed_events_are_not_chained_twice_and_invalid_ones_are_skipped() -> None:
    """Records already stored are skipped (their offsets committed); invalid ones are counted."""
    consumer, store, clock = FakeConsumer(), FakeHistory(), Clock()
    records = _records(100, partitions=1)
    consumer.feed(records)
    sink = _sink(consumer, store, clock)
    sink.step()
    clock.now = 2.0
    sink.step()
    assert len(store.event_ids()) == 100
    again = [Record(r.topic, r.partition, r.offset + 100, r.key, r.value) for r in records]
    consumer.feed([*again, Record(TOPIC, 0, 200, b"k", b"{not json")])
    restarted = _sink(consumer, store, clock)  # an empty head cache: heads come from the store
    clock.now = 4.0
    restarted.step()
    clock.now = 6.0
    restarted.step()
    assert len(store.event_ids()) == 100
    assert restarted.counters.duplicates == 100
    assert restarted.counters.invalid == {"events": 1}
    assert consumer.commits[-1] == {TopicPartition(TOPIC, 0): 201}


def test_a_backlog_s_tail_is_written_when_the_backlog_ends_not_a_second_later() -> None:
    """A full poll means a backlog: the sink batches up to its backlog limit. The next poll that
    is not full ends it, and what is buffered is written at once, however few rows, instead of
    after the batch timer: a drained backlog is stored without an extra second's wait."""
    consumer, store, clock = FakeConsumer(max_records=2000), FakeHistory(), Clock()
    consumer.feed(_records(4300))
    sink = _sink(consumer, store, clock)
    sink.step()  # a full poll: 2,000 records, below the backlog batch of 2,500
    assert store.inserts == 0
    sink.step()  # another full poll: 4,000 buffered, written as one batch
    assert store.inserts == 1
    assert sink.buffered == 0
    sink.step()  # the last 300, and Kafka is drained: written at once, the clock unmoved
    assert store.inserts == 2
    assert sink.buffered == 0
    assert sum(_committed(consumer).values()) == 4300
    sink.step()  # quiet again: nothing to write
    assert store.inserts == 2


@dataclass
class GatedHistory(FakeHistory):
    """A store whose inserts wait until the test opens the gate: an insert held in flight."""

    gate: threading.Event = field(default_factory=threading.Event)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        assert self.gate.wait(timeout=10), "the test never opened the gate"
        super().insert(table, columns, rows)


def _until(condition: Callable[[], bool]) -> None:
    deadline = threading.Event()
    for _ in range(1000):
        if condition():
            return
        deadline.wait(0.01)
    raise AssertionError("condition not met within 10 s")


def test_the_next_batch_is_taken_while_an_insert_is_in_flight_and_committed_only_after() -> None:
    """The insert runs on the writer thread: the loop goes on polling and taking records
    meanwhile, commits nothing until the insert is stored, then commits exactly what it stored.
    An insert that fails in flight puts its batch back in front of what came since: every record
    is stored once, in order, when ClickHouse is back."""
    consumer, store, clock = FakeConsumer(), GatedHistory(), Clock()
    consumer.feed(_records(3000))
    writer = ThreadPoolExecutor(1)
    sink = _sink(consumer, store, clock, writer)
    try:
        sink.step()
        sink.step()  # 1,000 records: their insert starts and waits at the gate
        sink.step()  # the next 500 are taken meanwhile
        assert store.inserts == 0
        assert consumer.commits == []
        assert sink.buffered == 1500
        store.gate.set()
        _until(lambda: store.inserts == 1)
        sink.step()  # the insert is stored: its offsets are committed, then 2,000 are taken
        assert len(consumer.commits) == 1
        assert sum(_committed(consumer).values()) == 1000  # exactly the stored records

        # The next insert (records 1,000-1,999) fails in flight.
        store.gate.clear()
        sink.step()  # 2,500 taken: the second batch of 1,000 starts and waits
        store.down = True
        store.gate.set()
        _until(lambda: sink._inflight is None or sink._inflight.done.done())
        sink.step()  # its failure is found: the batch is buffered again, consumption paused
        assert sink.paused
        assert sum(_committed(consumer).values()) == 1000
        store.down = False
        for _ in range(10):
            clock.now += 1.0
            sink.step()
        sink.close()
    finally:
        store.gate.set()
        writer.shutdown(wait=True)
    assert not sink.paused
    stored = store.event_ids()
    assert len(stored) == 3000  # none twice
    assert sorted(stored, key=lambda i: int(i[1:])) == [f"e{n}" for n in range(3000)]
    assert sum(_committed(consumer).values()) == 3000
    # Each case's chain has one row per position, without a gap or a fork.
    index = {name: i for i, name in enumerate(EVENT_COLUMNS)}
    positions: dict[str, list[int]] = {}
    for row in store.rows["events"]:
        positions.setdefault(row[index["case_id"]], []).append(row[index["position"]])
    assert all(sorted(found) == list(range(1, len(found) + 1)) for found in positions.values())


def test_a_short_poll_while_an_insert_is_in_flight_does_not_wait_for_it() -> None:
    """A poll comes back short in the middle of a backlog too (one partition's records before
    the others'). The tail is then written once the writer is free, but the loop never waits
    for an insert in flight because of it: it goes on polling and taking records."""
    consumer, store, clock = FakeConsumer(max_records=2000), GatedHistory(), Clock()
    records = _records(4300)
    consumer.feed(records[:4000])
    writer = ThreadPoolExecutor(1)
    sink = _sink(consumer, store, clock, writer)
    try:
        sink.step()
        sink.step()  # 4,000 buffered: their insert starts and waits at the gate
        consumer.feed(records[4000:])
        started = monotonic()
        sink.step()  # the last 300, a short poll: taken, not written, nothing waited for
        sink.step()  # nothing more: still no wait
        assert monotonic() - started < 2.0
        assert not sink.paused
        assert store.inserts == 0
        assert sink.buffered == 4300
        store.gate.set()
        _until(lambda: store.inserts == 1)
        sink.step()  # the insert is stored and committed; the writer is free: the tail goes
        _until(lambda: store.inserts == 2)
        sink.step()  # the tail is stored: committed
    finally:
        store.gate.set()
        writer.shutdown(wait=True)
    assert clock.now == 0.0  # written without waiting for the batch timer
    assert sorted(store.event_ids(), key=lambda i: int(i[1:])) == [f"e{n}" for n in range(4300)]
    assert sum(_committed(consumer).values()) == 4300
    assert sink.buffered == 0


def test_cases_stored_by_other_writers_are_noted_before_the_first_lookup_and_after_a_move() -> None:
    """Before its first batch of events, and again after partitions moved, the sink notes the
    cases of recently stored events in `case_services` (a sink of an older version may have
    stored them without); while ClickHouse refuses that, nothing is chained or committed."""
    consumer, store, clock = FakeConsumer(), FakeHistory(down=True), Clock()
    consumer.feed(_records(1200))
    sink = _sink(consumer, store, clock)
    sink.step()
    sink.step()  # a batch of 1,000 is due: the catch-up fails, consumption pauses
    assert sink.paused
    assert store.catch_ups == 0
    assert consumer.commits == []
    store.down = False
    for _ in range(5):
        clock.now += 1.0
        sink.step()
    assert store.catch_ups == 1
    assert len(store.event_ids()) == 1200
    sink.forget_heads()  # partitions moved
    consumer.feed(
        [Record(r.topic, r.partition, r.offset + 1000, r.key, r.value) for r in _records(1)]
    )
    clock.now += 1.0
    sink.step()
    clock.now += 1.0
    sink.step()
    assert store.catch_ups == 2
