"""The Faust adapter of the tracker: Kafka in, the pure core in batches, Kafka out.

One agent (concurrency 1) consumes both `pantau.events` and the internal clock topic
`<prefix>tracker-clock`, which has the same partition count, so every change to a case is
serialised through one partition of one stream. Case state lives in a RocksDB table backed by a
changelog topic.

Batches: the agent takes records in batches (`PANTAU_TRACKER_BATCH_MAX` records, or what arrived
within `PANTAU_TRACKER_BATCH_WITHIN_S`), in offset order per partition, and folds them with the
core (`pantau_tracker.domain.batches`): each case is decoded once, folded through its records,
written once and published once per batch. The outputs do not depend on where a batch was cut.

Deadline timers: Faust tables can only be written while handling a stream record, so the timer
never touches state. It keeps an in-memory heap of (due time, case) for the partitions this
worker owns (rebuilt from the table after every rebalance and recovery) and, when a case falls
due, sends a small check record keyed by the case to the clock topic, on the case's partition.
The agent handles the check like an event: the core decides whether a deadline has passed and
was not yet alerted, and records that it fired. Checks are idempotent, so a check sent twice
(a rebalance, a restart) raises nothing new.

Effects and offsets: a batch's alerts, case states, hand-overs and DLQ records are sent and
awaited (acks=all) before the batch is acknowledged, and Faust drains the producer, table
changelog writes included, before it commits any offset (`pantau_tracker.stream_runtime`). After
a crash the records since the last commit are handled again; the state may already hold them
(its changelog went out, or only the local store has it), in which case the core re-publishes
the alerts they raised, byte for byte, the case state is published again, and the state is
stored again so that the changelog has it too.

Cross-case rules: an event applied in order is handed on to the stateful cross-case rules
(`pantau_tracker.domain.rulebook.STATEFUL_RULES`) through the internal topic
`<prefix>tracker-oversight` (the partition count of the events topic): per batch one record per
destination partition, carrying the steps of every service routed there (keyed by service,
`<agency>|<service>`), in the order they were applied. A second agent (concurrency 1) consumes that
topic in batches and keeps every rule's states and the held steps in one RocksDB table
(`oversight-state`); every state key starts with the service, so a state is only ever changed on its
service's partition, and each changed state is written once per batch. A batch's writes go through
a journal (`pantau_tracker.domain.journal`): its intent first, then the writes, on the one
changelog partition, so a worker killed mid-batch leaves a batch that the next owner makes whole.
Its alerts go to `pantau.alerts` keyed by the case they concern. The rules fold each step
once (by its events-topic offset) and give its alerts again, identical, on redelivery; the case
state keeps the latest hand-overs so that a redelivered event is handed on again (see
`pantau_tracker.domain.tracking`). A worker runs both agents (`PANTAU_TRACKER_ROLE=all`) or one of
them: `cases` workers beside `rules` workers (a consumer group of their own) share the work between
processes, and so between cores.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson
from aiokafka.partitioner import DefaultPartitioner
from faust.exceptions import SameNode
from prometheus_client import CollectorRegistry

from pantau.core.alerts import Alert
from pantau.core.catalog import Catalog
from pantau.core.events import event_key
from pantau.core.standards import StandardsBook
from pantau.metrics import metrics_payload
from pantau_tracker import stream_runtime
from pantau_tracker.domain.batches import (
    CaseBatch,
    CaseBatchOutcome,
    RuleBatch,
    decode_state,
    encode_rule_record,
    encode_state,
    hand_over_values,
    rule_decoder,
)
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.case_view import case_view
from pantau_tracker.domain.decoded import DecodedTable
from pantau_tracker.domain.journal import Journal, PrefixedPort
from pantau_tracker.domain.ordering import (
    PROGRESS_KEY,
    StepOrder,
    micros,
    progress_value,
    reading_backlog,
    source_progress,
)
from pantau_tracker.domain.records import Rejection, dlq_value
from pantau_tracker.domain.rulebook import STATEFUL_RULES
from pantau_tracker.domain.rulebook.cross_case import RuleRecord
from pantau_tracker.domain.standards import Standards
from pantau_tracker.domain.timers import DueIndex
from pantau_tracker.domain.tracking import due_at
from pantau_tracker.observability import TrackerCounters, TrackerGauges
from pantau_tracker.settings import TrackerSettings

log = logging.getLogger("pantau.tracker")

LOG_APPEND_TIME = 1  # Kafka timestamp type of broker append time
TABLE_NAME = "cases"
RULES_TABLE = "oversight-state"  # the held steps, what was seen, progress and every rule state
RULE_PREFIX = b"rule|"  # a rule state's key in RULES_TABLE: rule|<rule name>|<state key>
STATE_CACHE_MAX = 20_000  # decoded case states kept in memory (a few KiB each)
RULE_CACHE_MAX = 5_000  # decoded cross-case rule records kept in memory
ROUTE_PARTITIONS_KEPT = 10_000  # hand-over routes (service keys) whose partition is remembered
FETCH_HOLD_BYTES = 64 * 1024  # a held fetch answers once this much has gathered

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The worker's clock: the only place the tracker reads the time."""
    return datetime.now(UTC)


@dataclass
class TrackerMetrics:
    """Counters for logs and the bench: what the agents have handled."""

    events: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    checks: int = 0
    alerts: int = 0
    observations: int = 0
    batches: int = 0


class Tracker:
    """The tracker worker's app: its topics, tables, agents, timer and web views."""

    def __init__(
        self,
        settings: TrackerSettings,
        catalog: Catalog,
        clock: Clock = wall_clock,
        book: StandardsBook | None = None,
    ):
        self.settings = settings
        # The published versions when there are any (`book`), else the catalog.
        self.standards = Standards(catalog, settings.policy, book)
        self.catalog = catalog
        self.clock = clock
        self.metrics = TrackerMetrics()
        self.index = DueIndex()
        self._indexed_partitions: set[int] | None = None  # what the due index was built for
        self._warned_timestamp = False
        self._partitioner = DefaultPartitioner()
        # Routes (a service's key) are few and asked for once per applied event; the
        # partitioner's murmur2 is pure Python (about 6 µs a key).
        self._route_partitions: dict[bytes, int] = {}
        # The alerts' and case views' partitions by case key, kept between batches likewise.
        self._placements = stream_runtime.Placements()
        # Per owned events partition: the next offset to handle and the latest occurred_at
        # applied, both known only once its hand-overs went out (the progress reports).
        self._next_offset: dict[int, int] = {}
        self._latest_occurred: dict[int, datetime] = {}
        self._latest_received: dict[int, datetime] = {}  # the latest Kafka time applied
        self._lateness = timedelta(seconds=settings.tracker_allowed_lateness_s)
        self._backlog_lateness = max(
            self._lateness, timedelta(seconds=settings.tracker_backlog_lateness_s)
        )
        self._handed_latest: datetime | None = None  # latest occurred_at handed on
        self._handed_since_report = False
        self._reported: tuple[datetime, bool] | None = None  # when; whether all were read
        # Agents whose latest run crashed, with why; cleared when the agent handles a batch.
        self.crashed: dict[str, str] = {}
        self.registry = CollectorRegistry()
        self.counters = TrackerCounters(self.registry)
        self.registry.register(
            TrackerGauges(
                self._lag,
                lambda: len(self.index),
                self._oldest_overdue,
                self._ready,
                self._held_steps,
                lambda: self.fetch_hold.holding,
            )
        )
        topics = settings.topics
        host, port = settings.tracker_host, settings.tracker_port
        self.app: Any = faust.App(
            settings.app_id,
            broker=[f"kafka://{server}" for server in settings.kafka_servers],
            store="rocksdb://",
            datadir=str(settings.data_dir),
            topic_partitions=settings.partitions,
            topic_replication_factor=1,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            # Batches of sends: a few milliseconds of linger fill the client's batches.
            producer_linger_ms=5,
            producer_max_batch_size=512 * 1024,
            producer_max_request_size=4 * 1024 * 1024,
            # A batch's hand-over to one oversight partition is one record of up to a few MB
            # (2,000 steps of one service). With Faust's 1 MiB per partition a fetch brought one
            # such record, and the cross-case rules drained a backlog one fetch at a time,
            # mostly idle: 50,000 events took 16.4 s with every rule, 13.8 s with 4 MiB.
            consumer_max_fetch_size=4 * 1024 * 1024,
            table_standby_replicas=0,
            web_port=port,
            web_bind=host,
            web_host=host,
            canonical_url=f"http://{host}:{port}",
            # Faust's own pages would show any table's contents and the partition map to anyone
            # (/table/..., /router/...): only the pages below are served.
            web_tables_enabled=False,
            web_router_enabled=False,
            key_serializer="raw",
            value_serializer="raw",
            autodiscover=False,
            broker_commit_interval=settings.tracker_commit_interval_s,
            # A crashed worker's partitions wait this long before another worker takes them.
            broker_session_timeout=settings.tracker_session_timeout_s,
            broker_heartbeat_interval=min(3.0, settings.tracker_session_timeout_s / 3),
        )
        stream_runtime.drain_before_commit(self.app.producer)
        stream_runtime.seek_with_flow_stopped(self.app.consumer)
        stream_runtime.check_placed_partitions_only(self.app.consumer)
        stream_runtime.widen_producer_buffer(self.app.producer)
        stream_runtime.hand_over_eagerly(self.app.consumer)
        stream_runtime.wake_fetch_on_buffer_drop(self.app.consumer)
        self.fetch_hold = stream_runtime.FetchHold(
            self.app.consumer, FETCH_HOLD_BYTES, settings.tracker_fetch_hold_ms
        )
        self._rate_since: tuple[float, int] | None = None  # monotonic time, events handled
        app: Any = self.app  # Faust's own annotations do not fit bound-method pages
        raw: dict[str, Any] = {
            "key_type": bytes,
            "value_type": bytes,
            "key_serializer": "raw",
            "value_serializer": "raw",
        }
        self.source = app.topic(topics.events, settings.clock_topic, **raw)
        self.clock_topic = app.topic(settings.clock_topic, **raw)
        self.alerts_topic = app.topic(topics.alerts, **raw)
        self.cases_topic = app.topic(topics.cases, **raw)
        self.dlq_topic = app.topic(topics.dlq, **raw)
        self.oversight_topic = app.topic(settings.oversight_topic, **raw)
        role = settings.tracker_role
        # Keys and values are raw bytes: the app's default serializers are "raw".
        self.table: Any = None
        self.cases: DecodedTable[CaseState] | None = None
        if role in ("all", "cases"):
            self.table = self._bytes_table(TABLE_NAME)
            self.cases = DecodedTable(
                stream_runtime.TablePartitions(self.table, topics.events, settings.partitions),
                decode_state,
                encode_state,
                STATE_CACHE_MAX,
            )
            app.agent(self.source, name="track", concurrency=1)(self._agent)
            app.timer(settings.tracker_timer_interval_s)(self._tick)
            app.page("/v1/cases/{agency}/{case_id}")(self._case_page)
        # The cross-case rules keep everything in one table, so that one changelog partition
        # holds each batch's writes in order, and the journal makes each batch whole.
        self.rules_table: Any = None
        self.rule_records: dict[str, DecodedTable[RuleRecord[Any]]] = {}
        self.order: StepOrder | None = None
        self._order_stale = True  # the mirror of held steps must be rebuilt from the table
        if role in ("all", "rules"):
            self.rules_table = self._bytes_table(RULES_TABLE)
            self.journal = Journal(
                stream_runtime.TablePartitions(
                    self.rules_table, settings.oversight_topic, settings.partitions
                )
            )
            self.order = StepOrder(settings.partitions, self.journal.get)
            self.rule_records = {
                rule.name: DecodedTable(
                    PrefixedPort(self.journal, RULE_PREFIX + rule.name.encode() + b"|"),
                    rule_decoder(rule),
                    encode_rule_record,
                    RULE_CACHE_MAX,
                )
                for rule in STATEFUL_RULES
            }
            app.agent(self.oversight_topic, name="oversee", concurrency=1)(self._oversee)
        app.page("/metrics")(self._metrics_page)
        app.page("/healthz")(self._health_page)
        app.page("/readyz")(self._ready_page)
        app.on_partitions_revoked.connect(self._on_rebalance)
        app.on_partitions_assigned.connect(self._on_rebalance)
        app.on_partitions_assigned.connect(self._count_assignment)

    def _bytes_table(self, name: str) -> Any:
        """A Faust table of raw bytes keys and values, partitioned as the events topic."""
        app: Any = self.app
        return app.Table(
            name,
            default=None,
            partitions=self.settings.partitions,
            key_type=bytes,
            value_type=bytes,
            options=self.settings.rocksdb_options,
        )

    def changelog_topics(self) -> list[str]:
        """The changelog topic of every table (case states; the cross-case rules' state)."""
        tables = [self.table, self.rules_table]
        return [table.changelog_topic.get_topic_name() for table in tables if table is not None]

    # --- the case agent -----------------------------------------------------------------------

    async def _agent(self, stream: Any) -> None:
        await self._batches(stream, "track", self._track)

    async def _batches(
        self, stream: Any, name: str, handle: Callable[[Sequence[Any]], Any]
    ) -> None:
        settings = self.settings
        batch: Sequence[Any] = ()
        try:
            async for batch in stream.take_events(
                settings.tracker_batch_max, within=settings.tracker_batch_within_s
            ):
                # Records fetched before a rebalance belong to the last generation: their
                # partitions may have moved, and the new owner reads them again from the
                # committed offsets (Faust's own stream skips them the same way).
                generation = self.app.consumer_generation_id
                current = [r for r in batch if r.message.generation_id == generation]
                if current:
                    await handle(current)
                self.metrics.batches += 1
                self.crashed.pop(name, None)
                batch = ()
        except Exception as error:
            stream_runtime.hold(batch)  # never acknowledged: handled again after a restart
            self._crashing(name, error)
            raise

    async def _track(self, batch: Sequence[Any]) -> None:
        assert self.cases is not None
        fold = CaseBatch(self.catalog, self.standards, self.cases)
        clock_topic = self.settings.clock_topic
        now: datetime | None = None
        events: dict[int, int] = {}
        checks: dict[int, int] = {}
        received: dict[int, datetime] = {}
        for record in batch:
            message = record.message
            if message.topic == clock_topic:
                now = now or self.clock()
                fold.check(message.key, message.value, message.partition, now)
                checks[message.partition] = checks.get(message.partition, 0) + 1
                continue
            events[message.partition] = events.get(message.partition, 0) + 1
            if message.timestamp_type != LOG_APPEND_TIME and not self._warned_timestamp:
                self._warned_timestamp = True
                log.warning(
                    "%s does not use LogAppendTime; receive times are producer times",
                    message.topic,
                )
            received_at = datetime.fromtimestamp(message.timestamp, UTC)
            fold.event(message.key, message.value, message.partition, message.offset, received_at)
            known = received.get(message.partition)
            if known is None or received_at > known:
                received[message.partition] = received_at
        outcome = fold.finish()
        await self._publish_cases(outcome)
        if outcome.hand_overs:
            self._handed_since_report = True
            latest = max(outcome.latest_occurred.values())
            if self._handed_latest is None or latest > self._handed_latest:
                self._handed_latest = latest
        # The hand-overs of these records went out: progress reports may now count them.
        for partition, latest in outcome.latest_occurred.items():
            known = self._latest_occurred.get(partition)
            if known is None or latest > known:
                self._latest_occurred[partition] = latest
        self._latest_received.update(received)
        for record in batch:
            message = record.message
            if message.topic != clock_topic:
                self._next_offset[message.partition] = max(
                    self._next_offset.get(message.partition, 0), message.offset + 1
                )
        self.counters.batch_size.observe(len(batch))
        for partition, count in events.items():
            self.counters.events.labels(str(partition)).inc(count)
        for partition, count in checks.items():
            self.counters.checks.labels(str(partition)).inc(count)

    async def _publish_cases(self, outcome: CaseBatchOutcome) -> None:
        assert self.cases is not None
        metrics = self.metrics
        metrics.events += outcome.events
        metrics.duplicates += outcome.duplicates
        metrics.checks += outcome.checks
        sent = await self._send_rejected_and_alerts(outcome.rejected, outcome.alerts)
        records = stream_runtime.RecordBatches(self._placements)
        cases_topic = self.cases_topic.get_topic_name()
        by_partition: dict[int, tuple[bytes, list[bytes]]] = {}
        for hand_over in outcome.hand_overs:
            partition = self._route_partition(hand_over.route)
            by_partition.setdefault(partition, (hand_over.route, []))[1].append(hand_over.entry)
        for partition, (route, entries) in by_partition.items():
            for value in hand_over_values(entries):
                sent.append(
                    await self.oversight_topic.send(key=route, value=value, partition=partition)
                )
        for key, write in outcome.writes.items():
            state = write.state
            if state is None:
                if write.store and self.cases.drop(key, write.partition):
                    records.add(cases_topic, key, None)
                self.index.set(key, write.partition, None)
                continue
            if write.store:
                self.cases.save(key, write.partition, state, write.stored)
            if write.view is not None:
                records.add(cases_topic, key, write.view)
            self.index.set(key, write.partition, write.due)
        if records:
            sent.extend(await records.send(self.app.producer))
        if sent:
            await asyncio.gather(*sent)

    async def _send_rejected_and_alerts(
        self,
        rejected: Sequence[tuple[bytes | None, bytes | None, Rejection]],
        alerts: Sequence[tuple[bytes, Alert]],
    ) -> list[Any]:
        """Send a batch's rejected records to the dead letters and its alerts to the alerts
        topic (one record batch per partition), counted; the sends, to be awaited before the
        batch's states are stored."""
        sent: list[Any] = []
        for key, value, why in rejected:
            sent.append(await self._dead_letter(key, value, why))
        if alerts:
            records = stream_runtime.RecordBatches(self._placements)
            alerts_topic = self.alerts_topic.get_topic_name()
            for key, alert in alerts:
                records.add(alerts_topic, key, alert.to_json_bytes())
                self.counters.alerts.labels(alert.rule).inc()
            sent.extend(await records.send(self.app.producer))
        self.metrics.alerts += len(alerts)
        return sent

    # --- the cross-case rules -----------------------------------------------------------------

    async def _oversee(self, stream: Any) -> None:
        await self._batches(stream, "oversee", self._fold_rules)

    async def _fold_rules(self, batch: Sequence[Any]) -> None:
        assert self.order is not None
        if self._order_stale:
            self._rebuild_order()
        try:
            await self._fold_rule_batch(batch, self.order)
        except BaseException:
            # The mirror may be ahead of the table: the batch is handled again from the table.
            self.journal.discard()
            self._order_stale = True
            raise

    async def _fold_rule_batch(self, batch: Sequence[Any], order: StepOrder) -> None:
        fold = RuleBatch(self.standards, self.rule_records, order)
        for record in batch:
            message = record.message
            fold.record(message.key, message.value, message.partition, message.offset)
        outcome = fold.finish()
        self.metrics.observations += outcome.steps
        self.counters.late_steps.inc(outcome.late)
        if outcome.redelivered:
            self.counters.redelivered.inc(outcome.redelivered)
            log.info(
                "%d oversight records read again, applied already: skipped", outcome.redelivered
            )
        sent = await self._send_rejected_and_alerts(outcome.rejected, outcome.alerts)
        if sent:
            # The alerts are acknowledged before the states that raised them are stored: a
            # crash in between judges the steps again and gives the same alerts (same ids).
            await asyncio.gather(*sent)
        for (name, state_key), write in outcome.writes.items():
            self.rule_records[name].save(state_key, write.partition, write.record)
        outcome.order.apply(self.journal)
        self.journal.commit()

    def _rebuild_order(self) -> None:
        """Each owned partition's latest batch made whole (a worker may have died in it), then
        the mirror of held steps, from the table's partitions this worker owns."""
        assert self.order is not None
        owned = {
            tp.partition
            for tp in self.app.consumer.assignment()
            if tp.topic == self.settings.oversight_topic
        }
        self.journal.discard()
        for records in self.rule_records.values():
            records.forget()
        for partition in sorted(owned):
            redone = self.journal.recover(partition)
            if redone:
                log.info(
                    "partition %d: its latest rules batch had been cut short; %d writes made again",
                    partition,
                    redone,
                )
        stored = []
        for key, value in self.rules_table.items():
            if value is None or not key.startswith(b"held|"):
                continue
            route = key[len(b"held|") :].rsplit(b"|", 3)[0]
            partition = self._route_partition(route)
            if partition in owned:
                stored.append((key, value, partition))
        self.order.rebuild(stored)
        self._order_stale = False
        log.info(
            "cross-case order rebuilt: %d steps held in %d chunks on partitions %s",
            self.order.held(),
            len(stored),
            sorted(owned),
        )

    def _crashing(self, agent: str, error: Exception) -> None:
        """Note an agent's crash: Faust restarts the agent, but until it handles a batch again
        the worker is not ready (a crash loop would otherwise leave its partitions unread while
        /readyz said ready)."""
        self.crashed[agent] = f"{type(error).__name__}: {error}"[:500]

    async def _dead_letter(self, key: bytes | None, value: bytes | None, why: Rejection) -> Any:
        self.metrics.dead_lettered += 1
        self.counters.dlq.labels(why.code).inc()
        log.info("dead-lettered a record: %s", why.code)
        return await self.dlq_topic.send(
            key=key,
            value=dlq_value(value),
            headers=[("pantau.error", why.code.encode()), ("pantau.detail", why.detail_bytes)],
        )

    def _route_partition(self, route: bytes) -> int:
        """The oversight partition of a route, as the producers' default partitioner puts it."""
        found = self._route_partitions.get(route)
        if found is None:
            if len(self._route_partitions) >= ROUTE_PARTITIONS_KEPT:
                self._route_partitions.clear()
            found = self._route_partitions[route] = self._partition_of(route)
        return found

    def _partition_of(self, key: bytes) -> int:
        """The partition of a case key, as the producers' default partitioner puts it."""
        partitions = list(range(self.settings.partitions))
        return int(self._partitioner(key, partitions, partitions))

    def _load(self, key: bytes, partition: int) -> CaseState | None:
        assert self.cases is not None
        return self.cases.load(key, partition)

    async def _on_rebalance(self, sender: Any, partitions: Any, **_: Any) -> None:
        if self.cases is not None:
            self.cases.forget()
        self._next_offset.clear()
        self._latest_occurred.clear()
        self._latest_received.clear()
        if self.order is not None:
            self.order.forget()
            self._order_stale = True
        for records in self.rule_records.values():
            records.forget()

    async def _count_assignment(self, sender: Any, assigned: Any, **_: Any) -> None:
        self.counters.rebalances.inc()

    # --- the deadline timer -------------------------------------------------------------------

    def _ready(self) -> bool:
        app = self.app
        recovery = app.tables.recovery
        return bool(
            not app.rebalancing
            and recovery.completed.is_set()
            and not recovery.in_recovery
            and app.consumer.assignment()
        )

    def _owned_partitions(self) -> set[int]:
        return {
            tp.partition
            for tp in self.app.consumer.assignment()
            if tp.topic == self.settings.topics.events
        }

    def _rebuild_index(self) -> None:
        owned = self._owned_partitions()
        self.index.clear()
        for key, stored in self.table.items():
            if stored is None:
                continue
            document = orjson.loads(stored)
            partition = int(document["partition"])
            if partition not in owned:
                continue
            state = CaseState.from_document(document["state"])
            standard = self.standards.for_state(state)
            if standard is not None:
                self.index.set(key, partition, due_at(state, standard))
        self._indexed_partitions = owned
        log.info(
            "deadline index rebuilt: %d cases due later on partitions %s",
            len(self.index),
            sorted(owned),
        )

    async def _tick(self) -> None:
        if not self._ready():
            return
        self._hold_fetches()
        owned = self._owned_partitions()
        if owned != self._indexed_partitions:
            # A rebalance changed what this worker owns; its table is recovered (ready).
            self._rebuild_index()
        for key, partition, due in self.index.pop_due(self.clock(), limit=5000):
            if partition not in owned:
                continue
            await self.clock_topic.send(
                key=key, value=orjson.dumps({"due": due}), partition=partition
            )
        if self.settings.tracker_cross_case:
            await self._report_progress(owned)

    def _hold_fetches(self) -> None:
        """Fetches held or not (`stream_runtime.FetchHold`) by the events handled since the
        last tick and the records behind now on every topic the worker's agents read (the
        hand-overs may be behind while the events are not)."""
        now, handled = time.monotonic(), self.metrics.events
        since, self._rate_since = self._rate_since, (now, handled)
        if since is None or now <= since[0]:
            return
        rate = (handled - since[1]) / (now - since[0])
        settings = self.settings
        topics = (settings.topics.events, settings.clock_topic, settings.oversight_topic)
        before = self.fetch_hold.holding
        if self.fetch_hold.update(rate, sum(self._behind(topics).values())) != before:
            log.info("fetches %s", "held" if self.fetch_hold.holding else "answered at once")

    async def _report_progress(self, owned: set[int]) -> None:
        """Tell every partition of the oversight topic how far each owned events partition has
        come in event time (`ordering.source_progress`), after the hand-overs that count.

        Reported at a tick when steps were handed on since the last report, while the steps
        this worker handed on may still be held (its own progress is not yet past them), while
        the last report had a partition not read to its end, and otherwise every half
        lateness (at least every 5 s): the steps another worker handed on wait for this one's
        progress too. A quiet stack sends little.
        """
        now = self.clock()
        consumer = self.app.consumer
        progress: dict[int, int] = {}
        everything_read = True
        for tp in consumer.assignment():
            if tp.topic != self.settings.topics.events or tp.partition not in owned:
                continue
            end = consumer.highwater(tp)
            next_offset = self._next_offset.get(tp.partition)
            if next_offset is None:
                next_offset = consumer._committed_offset.get(tp) or 0
            caught_up = end is not None and next_offset >= int(end)
            everything_read = everything_read and caught_up
            backlog = reading_backlog(
                caught_up=caught_up,
                latest_received=self._latest_received.get(tp.partition),
                now=now,
            )
            at = source_progress(
                caught_up=caught_up,
                latest_occurred=self._latest_occurred.get(tp.partition),
                now=now,
                lateness=self._backlog_lateness if backlog else self._lateness,
            )
            if at is not None:
                progress[tp.partition] = at
        if not progress:
            return
        least = min(progress.values())
        handed = self._handed_latest
        waiting = handed is not None and least < micros(min(handed, now))
        heartbeat = max(self._lateness / 2, timedelta(seconds=5))
        if not (
            self._handed_since_report
            or waiting
            or self._reported is None
            or not self._reported[1]  # the last report had a partition still reading
            or now - self._reported[0] >= heartbeat
        ):
            return
        self._handed_since_report = False
        self._reported = (now, everything_read)
        value = progress_value(progress)
        for partition in range(self.settings.partitions):
            await self.oversight_topic.send(key=PROGRESS_KEY, value=value, partition=partition)

    # --- web ----------------------------------------------------------------------------------

    async def _case_page(self, request: Any, agency: str, case_id: str) -> Any:
        # Page handlers are bound methods, so Faust calls them without its view instance.
        web = self.app.web
        token = self.settings.internal_token
        if token is not None and not hmac.compare_digest(
            request.headers.get("Authorization", ""), f"Bearer {token}"
        ):
            return web.json({"error": "a valid internal token is required"}, status=401)
        key = event_key(agency, case_id)
        try:
            return await self.app.router.route_req(self.table.name, key, web, request)
        except SameNode:
            pass
        except KeyError:
            return web.json({"error": "no worker owns this case yet"}, status=503)
        state = self._load(key, self._partition_of(key))
        if state is None:
            return web.json({"error": "unknown case"}, status=404)
        standard = self.standards.for_state(state)
        if standard is None:
            return web.json({"error": "service not in the catalog"}, status=404)
        return web.json(case_view(state, standard))

    async def _metrics_page(self, request: Any) -> Any:
        body, content_type = metrics_payload(self.registry)
        return self.app.web.bytes(body, content_type=content_type.split(";")[0])

    def _lag(self) -> dict[int, int]:
        """Records of the owned events partitions not yet read, by partition."""
        return {
            tp.partition: behind
            for tp, behind in self._behind((self.settings.topics.events,)).items()
        }

    def _behind(self, topics: Sequence[str]) -> dict[Any, int]:
        """Records not yet read, by owned partition of `topics`."""
        consumer = self.app.consumer
        behind: dict[Any, int] = {}
        try:
            assignment = consumer.assignment()
        except Exception:  # not started yet, or between generations
            return behind
        for tp in assignment:
            if tp.topic not in topics:
                continue
            end = consumer.highwater(tp)
            read = consumer._read_offset.get(tp)  # the next offset Faust will hand on
            if end is not None:
                behind[tp] = max(0, int(end) - int(read or 0))
        return behind

    def _held_steps(self) -> int:
        order = getattr(self, "order", None)
        return order.held() if order is not None else 0

    def _oldest_overdue(self) -> float:
        earliest = self.index.earliest()
        if earliest is None:
            return 0.0
        return max(0.0, self.clock().timestamp() - earliest)

    async def _health_page(self, request: Any) -> Any:
        return self.app.web.json({"status": "ok"})

    async def _ready_page(self, request: Any) -> Any:
        web = self.app.web
        if self.crashed:
            return web.json({"status": "crashed", "agents": self.crashed}, status=503)
        if self._ready():
            return web.json({"status": "ready", "cases_indexed": len(self.index)})
        return web.json({"status": "starting"}, status=503)


def create_app(
    settings: TrackerSettings,
    catalog: Catalog,
    clock: Clock = wall_clock,
    book: StandardsBook | None = None,
) -> Tracker:
    """The tracker for `settings`; run it with `faust.Worker(tracker.app, ...)`."""
    return Tracker(settings, catalog, clock, book)
