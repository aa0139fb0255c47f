"""Folding a batch of records: the tracker's two use cases at batch granularity.

`CaseBatch` takes the records of `pantau.events` and of the clock topic in the order read (per
partition in offset order) and folds each case through all of its records: a case is decoded
once per batch, judged record by record exactly as one record at a time would, and written once
at the end, with one case view. What a batch gives (alerts in order, the final state of each
case touched, the hand-overs to the cross-case rules, the rejected records) does not depend on
how the records were cut into batches, only on their order.

`RuleBatch` does the same for the cross-case rules: it takes the hand-over records through the
event-time order (`pantau_tracker.domain.ordering`), folds every step released into the rule
records it concerns and gives each changed record once.

Neither reads a clock: receive times and the timer's `now` are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from pantau.core.alerts import Alert
from pantau.core.catalog import Catalog
from pantau.core.events import event_key
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.case_view import case_view
from pantau_tracker.domain.decoded import DecodedTable
from pantau_tracker.domain.ordering import OrderWrites, Released, StepOrder
from pantau_tracker.domain.records import Rejection, read_record
from pantau_tracker.domain.rulebook import (
    STATEFUL_RULES,
    StatefulRule,
    case_step_from_dict,
    route_key,
)
from pantau_tracker.domain.rulebook.case_step import instant_from_text, instant_text
from pantau_tracker.domain.rulebook.cross_case import RuleRecord
from pantau_tracker.domain.standards import Standards
from pantau_tracker.domain.tracking import (
    Observation,
    Outcome,
    check_deadlines,
    due_at,
    handle_event,
)

RULES_BY_NAME: Mapping[str, StatefulRule[Any]] = {rule.name: rule for rule in STATEFUL_RULES}


def encode_state(state: CaseState, partition: int) -> bytes:
    """A case state as its table keeps it: the state and the partition it lives on."""
    return _stored(state.to_document(), partition)


def _stored(document: dict[str, Any], partition: int) -> bytes:
    return orjson.dumps({"partition": partition, "state": document})


def decode_state(stored: bytes) -> CaseState:
    return CaseState.from_document(orjson.loads(stored)["state"])


@dataclass
class CaseWrite:
    """The end of a case in a batch: its last state (None: expired), where it lives, whether
    the table must store it and whether its view goes to `pantau.cases`."""

    partition: int
    state: CaseState | None
    store: bool = False
    publish: bool = False
    view: bytes | None = None
    stored: bytes | None = None
    due: datetime | None = None


@dataclass
class HandOver:
    """A step for the stateful cross-case rules: the JSON entry and the service it routes by."""

    route: bytes
    entry: bytes


@dataclass
class CaseBatchOutcome:
    """Everything a batch of case records gives, for the adapter to publish and store."""

    alerts: list[tuple[bytes, Alert]] = field(default_factory=list)
    writes: dict[bytes, CaseWrite] = field(default_factory=dict)
    hand_overs: list[HandOver] = field(default_factory=list)
    rejected: list[tuple[bytes | None, bytes | None, Rejection]] = field(default_factory=list)
    events: int = 0
    duplicates: int = 0
    checks: int = 0
    latest_occurred: dict[int, datetime] = field(default_factory=dict)  # by partition


class CaseBatch:
    """The fold of one batch of case records over the case table."""

    def __init__(self, catalog: Catalog, standards: Standards, cases: DecodedTable[CaseState]):
        self._catalog = catalog
        self._standards = standards
        self._cases = cases
        self._working: dict[bytes, CaseState | None] = {}
        self.outcome = CaseBatchOutcome()

    def _load(self, key: bytes, partition: int) -> CaseState | None:
        if key in self._working:
            return self._working[key]
        state = self._cases.load(key, partition)
        self._working[key] = state
        return state

    def event(
        self,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        offset: int,
        received_at: datetime,
    ) -> None:
        """Judge and fold one record of `pantau.events`, received at `received_at`."""
        # Checked against the standards version of its case (the newest for a new case).
        state = None if key is None else self._load(key, partition)
        found = read_record(key, value, self._standards.catalog_of(state))
        if isinstance(found, Rejection):
            self.outcome.rejected.append((key, value, found))
            return
        event, raw, digest = found
        standard = self._standards.for_event(state, event)
        if standard is None or key is None:  # read_record checked both; kept for the type checker
            return
        outcome = handle_event(state, event, received_at, standard, (partition, offset), digest)
        self.outcome.events += 1
        self.outcome.duplicates += outcome.duplicate
        occurred = min(event.occurred_at, received_at)  # as the event-time order places it
        latest = self.outcome.latest_occurred.get(partition)
        if latest is None or occurred > latest:
            self.outcome.latest_occurred[partition] = occurred
        # A redelivered event is stored again: its first write may be in the local store only
        # (the process died before the changelog record was acknowledged), and the partition may
        # later be restored elsewhere from the changelog alone.
        self._apply(key, partition, outcome, again=outcome.duplicate)
        if outcome.observation is not None:
            self._hand_on(outcome.observation, raw)

    def check(self, key: bytes | None, value: bytes | None, partition: int, now: datetime) -> None:
        """A timer's check of one case at `now`: missed deadlines, expiry."""
        if key is None:
            return
        state = self._load(key, partition)
        if state is None:
            self._write(key, partition).due = None
            return
        standard = self._standards.for_state(state)
        if standard is None:  # the service left the catalog: nothing to judge it by
            return
        self.outcome.checks += 1
        outcome = check_deadlines(state, now, standard)
        due = check_due(value)
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
        self._apply(key, partition, outcome, again=repeated and bool(outcome.alerts))

    def _write(self, key: bytes, partition: int) -> CaseWrite:
        write = self.outcome.writes.get(key)
        if write is None:
            write = self.outcome.writes[key] = CaseWrite(partition, self._working.get(key))
        return write

    def _apply(self, key: bytes, partition: int, outcome: Outcome, again: bool) -> None:
        self.outcome.alerts.extend((key, alert) for alert in outcome.alerts)
        state = outcome.state
        if state is None:
            write = self._write(key, partition)
            write.store = write.publish = True
            write.state = self._working[key] = None
            return
        standard = self._standards.for_state(state)
        if standard is None:
            return
        self._working[key] = state
        write = self._write(key, partition)
        write.state = state
        write.store = write.store or outcome.changed or again
        write.publish = write.publish or outcome.changed or again

    def _hand_on(self, observation: Observation, raw: bytes) -> None:
        event = observation.step.event
        names = [rule.name for rule in STATEFUL_RULES if rule.key(event) is not None]
        if names and observation.origin is not None:
            entry = observation.entry(names, raw)
            self.outcome.hand_overs.append(HandOver(route_key(event).encode("utf-8"), entry))

    def finish(self) -> CaseBatchOutcome:
        """The batch's outcome with each touched case's view and next due time, built once."""
        for write in self.outcome.writes.values():
            state = write.state
            if state is None:
                continue
            standard = self._standards.for_state(state)
            if standard is None:
                continue
            if write.store or write.publish:
                document = state.to_document()  # once, for the table and the view
                if write.store:
                    write.stored = _stored(document, write.partition)
                if write.publish:
                    write.view = orjson.dumps(case_view(state, standard, document))
            write.due = due_at(state, standard)
        return self.outcome


def check_due(value: bytes | None) -> float | None:
    """The due time a clock record was sent for (None: not one of ours)."""
    try:
        due = orjson.loads(value or b"{}").get("due")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return float(due) if isinstance(due, int | float) and not isinstance(due, bool) else None


def hand_over_value(entries: list[bytes]) -> bytes:
    """One record of the oversight topic carrying the steps of a batch for one partition."""
    return b'{"steps":[' + b",".join(entries) + b"]}"


# The broker refuses a record above 1 MB (`message.max.bytes`): 2,000 steps of one service,
# or a few dozen events with large attributes, are more than that.
HAND_OVER_BYTES = 512 * 1024


def hand_over_values(entries: list[bytes], limit: int = HAND_OVER_BYTES) -> list[bytes]:
    """The records of the oversight topic carrying a batch's steps for one partition, in their
    order: as few as keep each within `limit` bytes (a step larger than that is alone in one)."""
    values: list[bytes] = []
    group: list[bytes] = []
    size = 0
    for entry in entries:
        if group and size + len(entry) + 1 > limit:
            values.append(hand_over_value(group))
            group, size = [], 0
        group.append(entry)
        size += len(entry) + 1
    if group:
        values.append(hand_over_value(group))
    return values


# --- the cross-case rules ---------------------------------------------------------------------


def encode_rule_record(record: RuleRecord[Any], partition: int) -> bytes:
    return orjson.dumps(record.to_dict())


@dataclass
class RuleWrite:
    partition: int
    record: RuleRecord[Any]


@dataclass
class RuleBatchOutcome:
    alerts: list[tuple[bytes, Alert]] = field(default_factory=list)
    writes: dict[tuple[str, bytes], RuleWrite] = field(default_factory=dict)
    order: OrderWrites = field(default_factory=OrderWrites)
    rejected: list[tuple[bytes | None, bytes | None, Rejection]] = field(default_factory=list)
    steps: int = 0
    late: int = 0
    redelivered: int = 0


class RuleBatch:
    """The fold of one batch of hand-over records into the stateful rules' tables.

    Each record goes through the event-time order first (`StepOrder`): its steps are held, or
    judged at once when late, and whatever its progress releases is judged in order.
    """

    def __init__(
        self,
        standards: Standards,
        tables: Mapping[str, DecodedTable[RuleRecord[Any]]],
        order: StepOrder,
    ) -> None:
        self._standards = standards
        self._tables = tables
        self._order = order
        self.outcome = RuleBatchOutcome()

    def record(
        self, key: bytes | None, value: bytes | None, partition: int, offset: int | None = None
    ) -> None:
        """Take one hand-over record, read from `partition` at `offset`, and fold what it
        releases. A record at an offset the state has applied already is skipped (counted in
        `redelivered`); without an offset, every record is taken as new."""
        if offset is not None and not self._order.fresh(partition, offset):
            self.outcome.redelivered += 1
            return
        try:
            if key is None or value is None:
                raise ValueError("the record has no key or no value")
            document = orjson.loads(value)
            if not isinstance(document, dict):
                raise TypeError("a hand-over record is a JSON object")
            released = list(self._order.record(document, partition))
        except (ValueError, KeyError, TypeError) as error:
            why = Rejection("malformed_observation", f"{type(error).__name__}: {error}"[:2000])
            self.outcome.rejected.append((key, value, why))
            return
        for item in released:
            self._fold(item, partition)

    def _fold(self, item: Released, partition: int) -> None:
        entry = item.entry
        try:
            rules = [RULES_BY_NAME[name] for name in entry["rules"]]
            received_at = instant_from_text(entry["received_at"])
            data = entry["step"]
            event = data["event"]
            if isinstance(event, str):
                event = data["event"] = orjson.loads(event)
            # The version of the standards the step's case follows (absent: the newest).
            version = entry.get("version")
            standard = self._standards.for_case(
                str(event["agency"]),
                str(event["service"]),
                version if type(version) is int else None,
            )
            if standard is None:
                raise ValueError("the step's service is not in the catalog")
            step = case_step_from_dict(data, standard.service, standard.calendar)
        except (ValueError, KeyError, TypeError) as error:
            why = Rejection("malformed_observation", f"{type(error).__name__}: {error}"[:2000])
            self.outcome.rejected.append((item.route, orjson.dumps(entry), why))
            return
        self.outcome.steps += 1
        self.outcome.late += item.late_behind is not None
        event = step.event
        writes = self.outcome.writes  # also the batch's working records, by rule and key
        for rule in rules:
            state_key = rule.key(event)
            if state_key is None:
                continue
            slot = (rule.name, state_key.encode("utf-8"))
            write = writes.get(slot)
            if write is None:
                stored = self._tables[rule.name].load(slot[1], partition)
                record, alerts = rule.fold(stored or rule.read(None), step, received_at)
                writes[slot] = RuleWrite(partition, record)
            else:  # a key many steps of a batch fold into (a service's queue): one write
                record, alerts = rule.fold(write.record, step, received_at)
                write.partition, write.record = partition, record
            if not alerts:
                continue
            if standard.version is not None:
                alerts = [judged_by(alert, standard.version) for alert in alerts]
            if item.late_behind is not None:
                alerts = [arrived_late(alert, item.late_behind) for alert in alerts]
            alert_key = event_key(event.agency, event.case_id)
            self.outcome.alerts.extend((alert_key, alert) for alert in alerts)

    def finish(self) -> RuleBatchOutcome:
        self.outcome.order = self._order.take_writes()
        return self.outcome


def judged_by(alert: Alert, version: int) -> Alert:
    """The alert naming the version of the standards it was judged by (its id stays)."""
    return alert.model_copy(update={"standard_version": version})


def arrived_late(alert: Alert, watermark: datetime) -> Alert:
    """The alert of a step judged on arrival, after later steps of its service: says so."""
    evidence = {**alert.evidence, "arrived_late": {"watermark": instant_text(watermark)}}
    return alert.model_copy(update={"evidence": evidence})


DecodeRule = Callable[[bytes], RuleRecord[Any]]


def rule_decoder(rule: StatefulRule[Any]) -> DecodeRule:
    """How the table of `rule` is decoded."""

    def decode(stored: bytes) -> RuleRecord[Any]:
        return rule.read(orjson.loads(stored))

    return decode
