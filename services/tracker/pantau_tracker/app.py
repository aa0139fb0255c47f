"""The Faust adapter of the tracker: Kafka in, the pure core, Kafka out.

One agent (concurrency 1) consumes both `pantau.events` and the internal clock topic
`<prefix>tracker-clock`, which has the same partition count, so every change to a case is
serialised through one partition of one stream. Case state lives in a RocksDB table backed by a
changelog topic.

Deadline timers: Faust tables can only be written while handling a stream record, so the timer
never touches state. It keeps an in-memory heap of (due time, case) for the partitions this
worker owns (rebuilt from the table after every rebalance and recovery) and, when a case falls
due, sends a small check record keyed by the case to the clock topic, on the case's partition.
The agent handles the check like an event: the core decides whether a deadline has passed and
was not yet alerted, and records that it fired. Checks are idempotent, so a check sent twice
(a rebalance, a restart) raises nothing new.

Effects and offsets: alerts, case states and DLQ records are handed to the producer while the
record is handled; Faust flushes the producer (acks=all) before it commits any offset, so a
committed offset never covers an effect Kafka has not acknowledged. Faust's own flush gives up
on its send buffer after 0.1 s without progress, which under load let a commit overtake a queued
table changelog write; `_flush_fully_before_commit` makes that flush drain the buffer.
After a crash the records since the last commit are handled again; the state may already hold
them (its changelog went out), in which case the core re-publishes the alerts they raised, byte
for byte, and the case state is published again too, since its record may not have gone out
before the crash.

Cross-case rules: an event applied in order is handed on to the stateful cross-case rules
(`pantau.oversight.STATEFUL_RULES`) as a record of the internal topic `<prefix>tracker-oversight`
(the partition count of the events topic), one record per step keyed by its service
(`<agency>|<service>`) naming the rules it is for. A second agent (concurrency 1) consumes that
topic and keeps one RocksDB table per rule; every state key starts with the service (a queue, a
peer baseline, an officer's or a representative's work in that service), so a state is only
ever changed on its service's partition, and a table write goes to the changelog partition of
the record being handled. Its alerts go to `pantau.alerts` keyed by the case they concern. The
rules fold each step once (by its events-topic offset) and give its alerts again, identical, on
redelivery; the case state keeps the latest hand-overs so that a redelivered event is handed on
again (see `pantau_tracker.domain.tracking`). A worker runs both agents
(`PANTAU_TRACKER_ROLE=all`) or one of them: `cases` workers beside `rules` workers (a consumer
group of their own) share the work between processes, and so between cores.

Restart: when a table had to be restored from its changelog, Faust's fetcher is already running
when the stream partitions are resumed, before they are seeked to their committed offsets. Records
fetched in that window were handled with no committed offset known and a run of offsets behind
them was never handed to the agent; Faust then committed past those (events lost) or, where the
hole was at the head, never committed the partition again. `_seek_with_flow_stopped` holds the
flow during that seek, so handling starts exactly at the committed offsets.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from faust.exceptions import SameNode

from pantau.core.catalog import Catalog
from pantau.core.events import event_key, parse_rfc3339
from pantau.oversight import STATEFUL_RULES, StatefulRule, case_step_from_dict, route_key
from pantau.oversight.rules import RuleRecord
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.case_view import case_view
from pantau_tracker.domain.records import Rejection, dlq_value, read_event
from pantau_tracker.domain.standards import Standards
from pantau_tracker.domain.timers import DueIndex
from pantau_tracker.domain.tracking import (
    Observation,
    Outcome,
    check_deadlines,
    due_at,
    handle_event,
)
from pantau_tracker.settings import TrackerSettings

log = logging.getLogger("pantau.tracker")

LOG_APPEND_TIME = 1  # Kafka timestamp type of broker append time
TABLE_NAME = "cases"
STATE_CACHE_MAX = 20_000  # decoded case states kept in memory (a few KiB each)
RULE_CACHE_MAX = 5_000  # decoded cross-case rule records kept in memory
RULES_BY_NAME: dict[str, StatefulRule[Any]] = {rule.name: rule for rule in STATEFUL_RULES}

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The worker's clock: the only place the tracker reads the time."""
    return datetime.now(UTC)


@dataclass
class TrackerMetrics:
    """Counters for logs and the bench: what the agent has handled."""

    events: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    checks: int = 0
    alerts: int = 0
    observations: int = 0


class Tracker:
    """The tracker worker's app: its topics, table, agent, timer and web views."""

    def __init__(self, settings: TrackerSettings, catalog: Catalog, clock: Clock = wall_clock):
        self.settings = settings
        self.standards = Standards(catalog, settings.policy)
        self.catalog = catalog
        self.clock = clock
        self.metrics = TrackerMetrics()
        self.index = DueIndex()
        self._indexed_partitions: set[int] | None = None  # what the due index was built for
        # Decoded states of recently handled cases. Only this worker's agent writes the cases of
        # the partitions it owns, so the cache is exact until a rebalance, which clears it.
        self._states: OrderedDict[bytes, CaseState] = OrderedDict()
        # Decoded records of the cross-case rule tables, exact for the same reason.
        self._rule_records: OrderedDict[tuple[str, bytes], RuleRecord[Any]] = OrderedDict()
        self._warned_timestamp = False
        # Agents whose latest run crashed, with why; cleared when the agent handles a record.
        self.crashed: dict[str, str] = {}
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
            table_standby_replicas=0,
            web_port=port,
            web_bind=host,
            web_host=host,
            canonical_url=f"http://{host}:{port}",
            key_serializer="raw",
            value_serializer="raw",
            autodiscover=False,
            broker_commit_interval=1.0,
            # A crashed worker's partitions wait this long before another worker takes them.
            broker_session_timeout=settings.tracker_session_timeout_s,
            broker_heartbeat_interval=min(3.0, settings.tracker_session_timeout_s / 3),
        )
        _flush_fully_before_commit(self.app.producer)
        _seek_with_flow_stopped(self.app.consumer)
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
        if role in ("all", "cases"):
            self.table = app.Table(
                TABLE_NAME,
                default=None,
                partitions=settings.partitions,
                key_type=bytes,
                value_type=bytes,
            )
            app.agent(self.source, name="track", concurrency=1)(self._agent)
            app.timer(settings.tracker_timer_interval_s)(self._tick)
            app.page("/v1/cases/{agency}/{case_id}")(self._case_page)
        self.rule_tables: dict[str, Any] = {}
        if role in ("all", "rules"):
            self.rule_tables = {
                rule.name: app.Table(
                    f"oversight-{rule.name}",
                    default=None,
                    partitions=settings.partitions,
                    key_type=bytes,
                    value_type=bytes,
                )
                for rule in STATEFUL_RULES
            }
            app.agent(self.oversight_topic, name="oversee", concurrency=1)(self._oversee)
        app.page("/healthz")(self._health_page)
        app.page("/readyz")(self._ready_page)
        app.on_partitions_revoked.connect(self._on_rebalance)
        app.on_partitions_assigned.connect(self._on_rebalance)

    def changelog_topics(self) -> list[str]:
        """The changelog topic of every table (case states and each stateful rule)."""
        tables = [self.table, *self.rule_tables.values()]
        return [table.changelog_topic.get_topic_name() for table in tables if table is not None]

    # --- the agent ----------------------------------------------------------------------------

    async def _agent(self, stream: Any) -> None:
        try:
            async for record in stream.events():
                message = record.message
                if message.topic == self.settings.clock_topic:
                    await self._on_check(message.key, message.value, message.partition)
                else:
                    await self._on_event(message)
                self.crashed.pop("track", None)
        except Exception as error:
            self._crashing("track", error)
            raise

    async def _on_event(self, message: Any) -> None:
        key: bytes | None = message.key
        value: bytes | None = message.value
        found = read_event(key, value, self.catalog)
        if isinstance(found, Rejection):
            await self._dead_letter(key, value, found)
            return
        standard = self.standards.for_case(found.agency, found.service)
        if standard is None or key is None:  # read_event checked both; kept for the type checker
            return
        if message.timestamp_type != LOG_APPEND_TIME and not self._warned_timestamp:
            self._warned_timestamp = True
            log.warning(
                "%s does not use LogAppendTime; receive times are producer times", message.topic
            )
        received_at = datetime.fromtimestamp(message.timestamp, UTC)
        state = self._load(key)
        origin = (message.partition, message.offset)
        outcome = handle_event(state, found, received_at, standard, origin)
        self.metrics.events += 1
        self.metrics.duplicates += outcome.duplicate
        await self._apply(key, message.partition, outcome, republish=outcome.duplicate)
        if outcome.observation is not None:
            await self._hand_on(outcome.observation)

    async def _on_check(self, key: bytes | None, value: bytes | None, partition: int) -> None:
        if key is None:
            return
        state = self._load(key)
        if state is None:
            self.index.set(key, partition, None)
            return
        standard = self.standards.for_case(state.agency, state.service)
        if standard is None:  # the service left the catalog: nothing to judge it by
            return
        self.metrics.checks += 1
        outcome = check_deadlines(state, self.clock(), standard)
        due = _check_due(value)
        repeated = not outcome.changed and due is not None
        if repeated and due is not None:
            # A repeated check re-publishes only the alerts of its own due time, and the case
            # state, whose record may not have gone out before a crash (as for an event).
            outcome = Outcome(
                outcome.state,
                [a for a in outcome.alerts if abs(a.detected_at.timestamp() - due) < 0.001],
                changed=False,
            )
        elif not outcome.changed:
            outcome = Outcome(outcome.state, [], changed=False)
        await self._apply(key, partition, outcome, republish=repeated and bool(outcome.alerts))

    async def _apply(
        self, key: bytes, partition: int, outcome: Outcome, republish: bool = False
    ) -> None:
        for alert in outcome.alerts:
            await self.alerts_topic.send(key=key, value=alert.to_json_bytes())
        self.metrics.alerts += len(outcome.alerts)
        state = outcome.state
        if state is None:
            self._states.pop(key, None)
            if self.table.get(key) is not None:
                del self.table[key]
                await self.cases_topic.send(key=key, value=None)
            self.index.set(key, partition, None)
            return
        standard = self.standards.for_case(state.agency, state.service)
        if standard is None:
            return
        if outcome.changed:
            self.table[key] = _json({"partition": partition, "state": state.to_document()})
            self._remember(key, state)
        if outcome.changed or republish:
            await self.cases_topic.send(key=key, value=_json(case_view(state, standard)))
        self.index.set(key, partition, due_at(state, standard))

    async def _hand_on(self, observation: Observation) -> None:
        """Send a step to the stateful cross-case rules: one record, keyed by its service."""
        event = observation.step.event
        if observation.origin is None:  # every event the agent reads has one
            return
        names = [rule.name for rule in STATEFUL_RULES if rule.key(event) is not None]
        if names:
            value = _json({"rules": names, **observation.record()})
            await self.oversight_topic.send(key=route_key(event).encode("utf-8"), value=value)

    # --- the cross-case rules -----------------------------------------------------------------

    async def _oversee(self, stream: Any) -> None:
        try:
            async for record in stream.events():
                message = record.message
                await self._on_observation(message.key, message.value)
                self.crashed.pop("oversee", None)
        except Exception as error:
            self._crashing("oversee", error)
            raise

    def _crashing(self, agent: str, error: Exception) -> None:
        """Note an agent's crash: Faust restarts the agent, but until it handles a record again
        the worker is not ready (a crash loop would otherwise leave its partitions unread while
        /readyz said ready)."""
        self.crashed[agent] = f"{type(error).__name__}: {error}"[:500]

    async def _on_observation(self, key: bytes | None, value: bytes | None) -> None:
        try:
            if key is None or value is None:
                raise ValueError("the record has no key or no value")
            document = json.loads(value)
            names = [RULES_BY_NAME[name] for name in document["rules"]]
            received_at = parse_rfc3339(document["received_at"])
            partition, offset = document["origin"]
            origin = (int(partition), int(offset))
            data = document["step"]
            event_doc = json.loads(data["event"])
            standard = self.standards.for_case(str(event_doc["agency"]), str(event_doc["service"]))
            if standard is None:
                raise ValueError("the step's service is not in the catalog")
            step = case_step_from_dict(data, standard.service, standard.calendar)
        except (ValueError, KeyError, TypeError) as error:
            why = Rejection("malformed_observation", f"{type(error).__name__}: {error}"[:2000])
            await self._dead_letter(key, value, why)
            return
        self.metrics.observations += 1
        event = step.event
        alert_key = event_key(event.agency, event.case_id)
        for rule in names:
            state_key = rule.key(event)
            if state_key is None:
                continue
            table_key = state_key.encode("utf-8")
            stored = self._rule_record(rule, table_key)
            record, alerts = rule.fold(stored, step, received_at, origin)
            if record is not stored:
                self.rule_tables[rule.name][table_key] = _json(record.to_dict())
                self._remember_rule_record(rule.name, table_key, record)
            for alert in alerts:
                await self.alerts_topic.send(key=alert_key, value=alert.to_json_bytes())
            self.metrics.alerts += len(alerts)

    def _rule_record(self, rule: StatefulRule[Any], key: bytes) -> RuleRecord[Any]:
        cached = self._rule_records.get((rule.name, key))
        if cached is not None:
            self._rule_records.move_to_end((rule.name, key))
            return cached
        stored = self.rule_tables[rule.name].get(key)
        record = rule.read(None if stored is None else json.loads(stored))
        self._remember_rule_record(rule.name, key, record)
        return record

    def _remember_rule_record(self, name: str, key: bytes, record: RuleRecord[Any]) -> None:
        self._rule_records[(name, key)] = record
        self._rule_records.move_to_end((name, key))
        if len(self._rule_records) > RULE_CACHE_MAX:
            self._rule_records.popitem(last=False)

    async def _dead_letter(self, key: bytes | None, value: bytes | None, why: Rejection) -> None:
        self.metrics.dead_lettered += 1
        log.info("dead-lettered a record: %s", why.code)
        await self.dlq_topic.send(
            key=key,
            value=dlq_value(value),
            headers=[("pantau.error", why.code.encode()), ("pantau.detail", why.detail_bytes)],
        )

    def _load(self, key: bytes) -> CaseState | None:
        cached = self._states.get(key)
        if cached is not None:
            self._states.move_to_end(key)
            return cached
        stored = self.table.get(key)
        if stored is None:
            return None
        state = CaseState.from_document(json.loads(stored)["state"])
        self._remember(key, state)
        return state

    def _remember(self, key: bytes, state: CaseState) -> None:
        self._states[key] = state
        self._states.move_to_end(key)
        if len(self._states) > STATE_CACHE_MAX:
            self._states.popitem(last=False)

    async def _on_rebalance(self, sender: Any, partitions: Any, **_: Any) -> None:
        self._states.clear()
        self._rule_records.clear()

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
            document = json.loads(stored)
            partition = int(document["partition"])
            if partition not in owned:
                continue
            state = CaseState.from_document(document["state"])
            standard = self.standards.for_case(state.agency, state.service)
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
        owned = self._owned_partitions()
        if owned != self._indexed_partitions:
            # A rebalance changed what this worker owns; its table is recovered (ready).
            self._rebuild_index()
        for key, partition, due in self.index.pop_due(self.clock(), limit=5000):
            if partition not in owned:
                continue
            await self.clock_topic.send(key=key, value=_json({"due": due}), partition=partition)

    # --- web ----------------------------------------------------------------------------------

    async def _case_page(self, request: Any, agency: str, case_id: str) -> Any:
        # Page handlers are bound methods, so Faust calls them without its view instance.
        web = self.app.web
        key = f"{agency}|{case_id}".encode()
        try:
            return await self.app.router.route_req(self.table.name, key, web, request)
        except SameNode:
            pass
        except KeyError:
            return web.json({"error": "no worker owns this case yet"}, status=503)
        state = self._load(key)
        if state is None:
            return web.json({"error": "unknown case"}, status=404)
        standard = self.standards.for_case(state.agency, state.service)
        if standard is None:
            return web.json({"error": "service not in the catalog"}, status=404)
        return web.json(case_view(state, standard))

    async def _health_page(self, request: Any) -> Any:
        return self.app.web.json({"status": "ok"})

    async def _ready_page(self, request: Any) -> Any:
        web = self.app.web
        if self.crashed:
            return web.json({"status": "crashed", "agents": self.crashed}, status=503)
        if self._ready():
            return web.json({"status": "ready", "cases_indexed": len(self.index)})
        return web.json({"status": "starting"}, status=503)


def create_app(settings: TrackerSettings, catalog: Catalog, clock: Clock = wall_clock) -> Tracker:
    """The tracker for `settings`; run it with `faust.Worker(tracker.app, ...)`."""
    return Tracker(settings, catalog, clock)


def _json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _check_due(value: bytes | None) -> float | None:
    try:
        due = json.loads(value or b"{}").get("due")
    except (ValueError, AttributeError):
        return None
    return float(due) if isinstance(due, int | float) else None


def _flush_fully_before_commit(producer: Any) -> None:
    """Make the producer's flush (called by Faust before every offset commit) drain its buffer.

    The buffer holds table changelog writes and effects not yet handed to the Kafka client;
    the client's own flush then waits until every handed record is acknowledged (acks=all).
    """
    client_flush = producer.flush

    async def flush() -> None:
        while producer.buffer.size:
            await producer.buffer.flush()
        await client_flush()

    producer.flush = flush


def _seek_with_flow_stopped(consumer: Any) -> None:
    """Stop the consumer's flow while it seeks the stream partitions to their committed offsets.

    With the flow stopped, records fetched before the seek are dropped (Faust seeks back to the
    committed offsets when a fetch returns while the flow is stopped). Every caller of the seek
    resumes the flow right after it.
    """
    seek = consumer.perform_seek

    async def perform_seek() -> None:
        consumer.stop_flow()
        await seek()

    consumer.perform_seek = perform_seek
