"""The sink's loop: the history of record, written from Kafka into ClickHouse.

One Kafka consumer (consumer group `<prefix>sink`; aiokafka, see `consumer`) reads the events,
alerts, cases, alert-actions and standards topics; the sink's loop runs on one thread. Each
topic fills one table's batch; a batch is inserted with one native-protocol, column-wise INSERT
when it holds `PANTAU_SINK_BATCH_ROWS` records (while a poll comes back full, i.e. Kafka holds a
backlog, `PANTAU_SINK_BACKLOG_BATCH_ROWS`; the first poll that is not full writes the rest once
the writer is free) or is a second old, and only once it is stored are its offsets committed.
The INSERT runs on a writer thread, one at a time, while the loop polls and takes the next
batch's records; the loop chains the next batch and commits the stored one's offsets only after
that insert finished, so the store is never used from two threads at once and a failed insert's
batch goes back in front of what came since.
When ClickHouse is down the insert fails, every partition is paused (so memory holds at most one
batch per table, the one being inserted and Kafka's bounded prefetch), the same batch is retried
with back-off, and consumption resumes by itself once it is stored.

Events are chained per case (see `chain`): the consumer that owns a case's partition is its
single writer. Heads are cached (bounded LRU) and read from ClickHouse on a miss, so an event
already stored for its case is never chained twice after a crash or replay. The heads written
are signed into checkpoint files every `PANTAU_SINK_CHECKPOINT_SECONDS`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from pantau.core.catalog import Catalog
from pantau.core.events import event_key, format_rfc3339
from pantau.history.chain import CaseKey, ChainHead, ChainHeads
from pantau.history.checkpoints import checkpoint_line
from pantau.history.records import (
    ALERT_ACTION_COLUMNS,
    ALERT_COLUMNS,
    CASE_STATE_COLUMNS,
    EVENT_COLUMNS,
    SERVICE_STANDARD_COLUMNS,
    SERVICE_STEP_COLUMNS,
    STANDARD_VERSION_COLUMNS,
    Row,
    TakenEvent,
    TakenVersion,
    alert_action_row,
    alert_row,
    case_state_row,
    chain_rows,
    seconds,
    take_event,
    taken_version,
)
from pantau.history.store import ClickHouseHistory
from pantau_sink.adapters.consumer import KafkaSource, ThreadedConsumer
from pantau_sink.domain.batches import Partition, TableBatch
from pantau_sink.settings import SinkSettings

log = logging.getLogger("pantau.sink")


@dataclass
class SinkCounters:
    """What the sink did, for logs and tests."""

    stored: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    misrouted: int = 0
    failed_inserts: int = 0
    commits: int = 0
    rebalances: int = 0  # partition assignments taken, the first included

    def add(self, counter: dict[str, int], table: str, n: int = 1) -> None:
        counter[table] = counter.get(table, 0) + n


class CheckpointWriter:
    """Appends signed chain-head checkpoints to this writer's own JSON-lines file."""

    def __init__(self, directory: Path, key: bytes, writer: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._path = directory / f"checkpoints-{writer}.jsonl"
        self._key = key
        self._writer = writer
        self._pending: dict[CaseKey, tuple[int, str]] = {}

    def note(self, case: CaseKey, head: ChainHead) -> None:
        self._pending[case] = (head.position, head.hash)

    def write(self, now: datetime) -> None:
        """Sign and append the heads written since the last checkpoint, durably."""
        if not self._pending:
            return
        line = checkpoint_line(self._key, self._writer, format_rfc3339(now), self._pending)
        with self._path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        self._pending = {}


Insert = tuple[str, Sequence[str], Sequence[Any]]  # (table, columns, rows)


@dataclass
class Write:
    """A batch being inserted on the writer thread, and what follows once it is stored: the
    chain heads it leaves, its row count and its offsets to commit."""

    table: str
    batch: TableBatch[Any]
    rows: int
    heads: dict[CaseKey, ChainHead]
    done: Future[None]


class HistorySink:
    """Consumes the history topics and writes them to ClickHouse in batches."""

    def __init__(
        self,
        settings: SinkSettings,
        catalog: Catalog,
        store: ClickHouseHistory,
        consumer: KafkaSource,
        checkpoints: CheckpointWriter | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        writer: Executor | None = None,
    ) -> None:
        topics = settings.topics
        self._catalog = catalog
        self._store = store
        self._consumer = consumer
        self._checkpoints = checkpoints
        self._monotonic = monotonic
        self._now = now
        self._retry_max = settings.sink_retry_max_seconds
        self._checkpoint_every = settings.sink_checkpoint_seconds
        self._events_topic = topics.events
        self._tables = {
            topics.events: "events",
            topics.alerts: "alerts",
            topics.cases: "case_states",
            topics.alert_actions: "alert_actions",
            topics.standards: "standards",
        }
        self._batches: dict[str, TableBatch[Any]] = {
            table: TableBatch(settings.sink_batch_rows, settings.sink_batch_seconds)
            for table in self._tables.values()
        }
        self._heads = ChainHeads(settings.sink_chain_cache_cases)
        # Before the first head lookup, and again after partitions moved: note the cases of
        # events another writer may have stored without their `case_services` rows.
        self._catch_up_due = True
        self._poll_limit = settings.sink_max_poll_records
        self._backlog_rows = max(settings.sink_backlog_batch_rows, settings.sink_batch_rows)
        self._backlog = False
        self._tail = False  # a backlog ended; its tail waits for the writer to be free
        self.counters = SinkCounters()
        self._paused = False
        self._retry_at = 0.0
        self._backoff = 0.0
        self._next_checkpoint = monotonic() + self._checkpoint_every
        # One insert at a time runs on the writer thread while this thread polls and takes the
        # next batch's records; the store is touched here only when no insert is in flight.
        self._writer = writer or ThreadPoolExecutor(1, thread_name_prefix="pantau-sink-insert")
        self._inflight: Write | None = None

    @property
    def topics(self) -> list[str]:
        return list(self._tables)

    @property
    def paused(self) -> bool:
        """True while consumption is paused because ClickHouse does not take inserts."""
        return self._paused

    @property
    def pending_by_table(self) -> dict[str, int]:
        """Records held in memory, not yet stored (buffered or being inserted), by table."""
        pending = {table: batch.records for table, batch in self._batches.items()}
        write = self._inflight
        if write is not None:
            pending[write.table] += write.batch.records
        return pending

    @property
    def buffered(self) -> int:
        """Records held in memory, not yet stored (buffered or being inserted)."""
        return sum(self.pending_by_table.values())

    # --- taking records ------------------------------------------------------------------------

    def take_all(self, records: list[Any]) -> None:
        """Put a run of Kafka records of one partition (in offset order) into its table's batch."""
        if not records:
            return
        first = records[0]
        table = self._tables[first.topic]
        if table != "events":
            for record in records:
                self.take(record)
            return
        partition = first.partition
        catalog, misrouted, taken = self._catalog, 0, []
        for record in records:
            item = take_event(
                record.value or b"", catalog, record.timestamp, partition, record.offset
            )
            if item is None:
                continue
            taken.append(item)
            # A record under another key may sit in another partition, with another writer.
            key = record.key
            if key is not None and key != event_key(*item.case):
                misrouted += 1
        self.counters.misrouted += misrouted
        invalid = len(records) - len(taken)
        if invalid:
            self.counters.add(self.counters.invalid, table, invalid)
        self._batches[table].extend(
            (first.topic, partition), records[-1].offset + 1, taken, len(records), self._monotonic()
        )

    def take(self, record: Any) -> None:
        """Put one Kafka record into its table's batch."""
        table = self._tables[record.topic]
        partition: Partition = (record.topic, record.partition)
        now = self._monotonic()
        item: TakenEvent | TakenVersion | Row | None
        value = record.value or b""
        if table == "events":
            item = take_event(
                value, self._catalog, record.timestamp, record.partition, record.offset
            )
            # A record under another key may sit in another partition, with another writer.
            if item is not None and record.key is not None and record.key != event_key(*item.case):
                self.counters.misrouted += 1
        elif table == "alerts":
            stored_at = self._now()
            item = alert_row(value, stored_at)
        elif table == "case_states":
            item = case_state_row(value, record.key, record.timestamp, record.offset, self._now())
        elif table == "standards":
            item = taken_version(value, self._now())
        else:
            item = alert_action_row(value, record.key, record.timestamp, self._now())
        if item is None:
            self.counters.add(self.counters.invalid, table)
        self._batches[table].add(partition, record.offset, item, now)

    # --- writing batches -----------------------------------------------------------------------

    def _event_rows(self, batch: list[TakenEvent]) -> tuple[list[Row], dict[CaseKey, ChainHead]]:
        if self._catch_up_due:
            self._store.catch_up_case_services()
            self._catch_up_due = False
        heads: dict[CaseKey, ChainHead] = {}
        missing = []
        for case in {taken.case for taken in batch}:
            cached = self._heads.get(case)
            if cached is None:
                missing.append(case)
            else:
                heads[case] = cached
        if missing:
            heads.update(self._store.chain_heads(missing))
        rows, heads, duplicates = chain_rows(batch, heads, seconds(self._now()))
        self.counters.duplicates += duplicates
        return rows, heads

    def _write(self, table: str) -> bool:
        """Start inserting one table's batch on the writer thread, once the insert before it is
        stored and its offsets committed; False when that one failed (it is buffered again).
        Raises when the batch's chain heads cannot be read."""
        if not self._collect(wait=True):
            return False
        batch = self._batches[table]
        heads: dict[CaseKey, ChainHead] = {}
        inserts: list[Insert]
        if table == "events":
            try:
                rows, heads = self._event_rows(batch.items)
            except BaseException:
                for taken in batch.items:
                    self._heads.discard(taken.case)
                raise
            inserts = [("events", EVENT_COLUMNS, rows)]
        elif table == "standards":
            # A version's services and steps first: once its `standards` row is stored and its
            # offset committed, the views that judge cases by it find them (a retry stores
            # them again, which the views show once).
            versions: list[TakenVersion] = batch.items
            rows = [taken.row for taken in versions]
            inserts = [
                (
                    "service_standards",
                    SERVICE_STANDARD_COLUMNS,
                    [row for taken in versions for row in taken.services],
                ),
                ("service_steps", SERVICE_STEP_COLUMNS, [r for t in versions for r in t.steps]),
                (table, STANDARD_VERSION_COLUMNS, rows),
            ]
        else:
            columns = {
                "alerts": ALERT_COLUMNS,
                "case_states": CASE_STATE_COLUMNS,
                "alert_actions": ALERT_ACTION_COLUMNS,
            }[table]
            rows = batch.items
            inserts = [(table, columns, rows)]
        self._batches[table] = batch.emptied()
        done = self._writer.submit(self._insert, inserts)
        self._inflight = Write(table, batch, len(rows), heads, done)
        return True

    def _insert(self, inserts: list[Insert]) -> None:
        """On the writer thread: the inserts of one batch, in order; raises on any failure."""
        for table, columns, rows in inserts:
            self._store.insert(table, columns, rows)

    def _collect(self, *, wait: bool) -> bool:
        """Finish the insert in flight once it is done (waiting for it when `wait`): cache its
        chain heads and commit its offsets. False when it failed: its batch goes back in front
        of what was buffered since, to be written again."""
        write = self._inflight
        if write is None or not (wait or write.done.done()):
            return True
        self._inflight = None
        try:
            write.done.result()
        except Exception as error:  # any ClickHouse or network failure
            if write.table == "events":
                # Whatever reached ClickHouse is the truth: read the heads again on the retry.
                for taken in write.batch.items:
                    self._heads.discard(taken.case)
            self._batches[write.table] = write.batch.followed_by(self._batches[write.table])
            self.counters.failed_inserts += 1
            log.warning("insert into %s failed, will retry: %s", write.table, error)
            return False
        for case, head in write.heads.items():
            self._heads.put(case, head)
            if self._checkpoints is not None:
                self._checkpoints.note(case, head)
        self.counters.add(self.counters.stored, write.table, write.rows)
        offsets = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in write.batch.offsets.items()
        }
        if offsets:
            try:
                self._consumer.commit(offsets)
                self.counters.commits += 1
            except KafkaError as error:
                # The rows are stored; the records come again to the partitions' next owner,
                # which skips what is already chained. Its heads may differ from ours now.
                log.warning("offset commit failed (%s); records will be redelivered", error)
                self._heads.clear()
        return True

    def flush(self, *, all_tables: bool = False, wait: bool | None = None) -> bool:
        """Start writing every due batch (or, with `all_tables`, every non-empty one) and, with
        `wait` (by default `all_tables`), wait until it is stored; False when ClickHouse
        failed."""
        now = self._monotonic()
        for table in list(self._batches):
            batch = self._batches[table]
            limit = self._backlog_rows if self._backlog else None
            if batch.records and (all_tables or batch.due(now, limit)):
                try:
                    if not self._write(table):
                        return False
                except Exception as error:  # any ClickHouse or network failure
                    self.counters.failed_inserts += 1
                    log.warning("insert into %s failed, will retry: %s", table, error)
                    return False
        return self._collect(wait=all_tables if wait is None else wait)

    def drop_buffers(self) -> None:
        """Forget unstored records (their offsets are not committed, so they come again)."""
        self._collect(wait=True)  # an insert in flight is stored (and committed) or put back
        for batch in self._batches.values():
            batch.clear()
        self._heads.clear()

    def forget_heads(self) -> None:
        """Forget cached chain heads: partitions moved, another writer may have extended them."""
        self._collect(wait=True)  # or the heads of an insert in flight would be cached after
        self._heads.clear()
        self._catch_up_due = True

    def close(self) -> None:
        """Wait for an insert in flight and stop the writer thread."""
        self._collect(wait=True)
        self._writer.shutdown(wait=True)

    # --- the loop ------------------------------------------------------------------------------

    def _pause(self) -> None:
        now = self._monotonic()
        self._backoff = min(self._retry_max, max(0.2, self._backoff * 2))
        self._retry_at = now + self._backoff
        if not self._paused:
            log.warning("ClickHouse unavailable: consumption paused")
        self._consumer.pause(*self._consumer.assignment())
        self._paused = True

    def _resume(self) -> None:
        if self._paused:
            log.info("ClickHouse back: consumption resumed")
            self._consumer.resume(*self._consumer.paused())
        self._paused = False
        self._backoff = 0.0

    def _poll_timeout_ms(self) -> int:
        now = self._monotonic()
        deadlines = [b.due_at() for b in self._batches.values()]
        soonest = min((d for d in deadlines if d is not None), default=now + 0.5)
        if self._paused:
            soonest = self._retry_at
        if self._inflight is not None:
            soonest = now  # come back soon to commit what the writer stored
        return int(min(500, max(10, (soonest - now) * 1000)))

    def step(self) -> None:
        """One turn: poll (unless paused), batch what came, write what is due."""
        records = self._consumer.poll(timeout_ms=self._poll_timeout_ms())
        if self._paused:
            # Partitions assigned during a pause arrive unpaused; keep everything paused.
            self._consumer.pause(*self._consumer.assignment())
            for partition_records in records.values():  # fetched just before the pause took hold
                self.take_all(partition_records)
            if self._monotonic() < self._retry_at:
                return
            if self.flush(all_tables=True):
                self._resume()
            else:
                self._pause()
            return
        taken = 0
        for partition_records in records.values():
            taken += len(partition_records)
            self.take_all(partition_records)
        # A full poll means Kafka holds more: batch up to the backlog limit, insert less often.
        # The first poll that is not full ends the backlog: its tail is written as soon as the
        # writer is free, not held for the batch timer (at most one such insert per full poll,
        # so inserts stay large). Nothing waits for it: a poll comes back short in the middle of
        # a backlog too (one partition's records arrived before the others'), and the loop
        # keeps taking records while the tail is stored.
        if self._backlog and taken < self._poll_limit:
            self._tail = True
        self._backlog = taken >= self._poll_limit
        if self._backlog:
            self._tail = False  # more came: the tail is part of the next batch
        write_tail = self._tail and (self._inflight is None or self._inflight.done.done())
        if write_tail:
            self._tail = False
        if not self.flush(all_tables=write_tail, wait=False):
            self._pause()
        self._maybe_checkpoint()

    def _maybe_checkpoint(self, force: bool = False) -> None:
        if self._checkpoints is None:
            return
        now = self._monotonic()
        if force or now >= self._next_checkpoint:
            try:
                self._checkpoints.write(self._now())
            except OSError as error:
                log.error("could not write a checkpoint: %s", error)
            self._next_checkpoint = now + self._checkpoint_every

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then store what is buffered (if ClickHouse allows)."""
        while not stop.is_set():
            self.step()
        if self.flush(all_tables=True):
            self._maybe_checkpoint(force=True)
        else:
            log.warning("stopping with %d unstored records; they will be read again", self.buffered)


class Rebalance:
    """Partitions moving between sink instances: store what we hold, forget cached heads."""

    def __init__(self) -> None:
        self.sink: HistorySink | None = None

    def on_partitions_revoked(self, revoked: Collection[Any]) -> None:
        if self.sink is None:
            return
        if not self.sink.flush(all_tables=True):
            self.sink.drop_buffers()
        self.sink.forget_heads()

    def on_partitions_assigned(self, assigned: Collection[Any]) -> None:
        if self.sink is not None:
            self.sink.counters.rebalances += 1
            self.sink.forget_heads()


def build_consumer(settings: SinkSettings, listener: Rebalance) -> ThreadedConsumer:
    """The sink's consumer: manual commits, bounded prefetch, subscribed to the history topics."""
    topics = settings.topics
    return ThreadedConsumer(
        [topics.events, topics.alerts, topics.cases, topics.alert_actions, topics.standards],
        listener,
        max_poll_records=settings.sink_max_poll_records,
        bootstrap_servers=settings.kafka_servers,
        group_id=topics.group("sink"),
        client_id=f"pantau-sink-{socket.gethostname()}-{os.getpid()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=settings.sink_fetch_max_bytes,
        max_partition_fetch_bytes=min(1024 * 1024, settings.sink_fetch_max_bytes),
        # A long ClickHouse outage must not cost the group membership: the loop keeps polling
        # (paused) well within this interval.
        max_poll_interval_ms=300_000,
        # A member joining or leaving waits for every other member's next heartbeat: at one a
        # second, a second sink (or one coming back) takes its share within about a second
        # instead of three.
        heartbeat_interval_ms=1_000,
        session_timeout_ms=10_000,
    )
