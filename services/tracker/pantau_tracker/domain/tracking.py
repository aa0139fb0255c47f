"""The tracker's use cases: accept one event, or check a case's deadlines at a given instant.

Both return an `Outcome`: the new state (None when the case expired) and the alerts to publish.
Every alert raised is recorded in the state, so each (rule, case, trigger) is raised once; when
the same trigger is replayed (a duplicate delivery after a crash, a repeated timer check) the
alerts it raised before are returned again byte for byte, so a lost publication is repaired and
a received one is merely repeated with identical content.

Cross-case rules (`pantau_tracker.domain.rulebook`): an event applied in order to an open case is
also handed on as a `CaseStep` (the event with what the case knew just before it). The rules that
need only the case (clock-stop abuse, off-hours work) run here; the adapter routes the step to the
tables of the stateful ones. The step's case side is kept in the state for a few events, so that a
redelivered event is handed on again, unchanged, when its first hand-over may have been lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from pantau.core.alerts import Alert
from pantau.core.catalog import Step
from pantau.core.events import Event, content_digest, format_rfc3339, parse_rfc3339
from pantau.core.frozen import once, quick_init
from pantau_tracker.domain.case import CaseState, evolve, is_out_of_order
from pantau_tracker.domain.deadlines import next_due
from pantau_tracker.domain.rulebook import (
    CASE_RULES,
    CONFLICT,
    DEADLINES,
    EVENT_DETECTORS,
    CaseStep,
    Origin,
    RunningLimit,
    case_step_from_dict,
)
from pantau_tracker.domain.standards import CaseStandard

TIMER_SOURCE = "timer"


@quick_init
@dataclass(frozen=True)
class Outcome:
    """What handling one record did: the state after it and the alerts to publish.

    `changed` is False when the record changed nothing (a duplicate, a timer with nothing due):
    the state need not be stored again. `alerts` may then hold re-published alerts.
    `observation` is the step to hand to the stateful cross-case rules (None: nothing to hand).
    """

    state: CaseState | None
    alerts: list[Alert] = field(default_factory=list)
    changed: bool = True
    duplicate: bool = False
    observation: Observation | None = None


@quick_init
@dataclass(frozen=True)
class Observation:
    """An applied event handed to the stateful cross-case rules: the step and its receive time,
    which the rules take as the moment of detection, and the version of the standards its case
    follows, which the rules judge the step by."""

    step: CaseStep
    received_at: datetime
    origin: Origin | None = None
    version: int | None = None

    @once
    def _case_side(self) -> dict[str, Any]:
        # Built once: the state keeps it (context) and the oversight topic carries it (record).
        return self.step.to_dict(with_event=False)

    def _when_and_where(self) -> dict[str, Any]:
        data: dict[str, Any] = {"received_at": format_rfc3339(self.received_at)}
        if self.origin is not None:
            data["origin"] = list(self.origin)
        if self.version is not None:
            data["version"] = self.version
        return data

    @once
    def _members(self) -> tuple[bytes, bytes]:
        # The members of the JSON objects of when and where, and of the case side, each written
        # once for `context` and `entry` (neither object is ever empty).
        return orjson.dumps(self._when_and_where())[1:-1], orjson.dumps(self._case_side)[1:-1]

    def context(self) -> str:
        """The JSON the case state keeps to hand the step again: everything but the event."""
        when_and_where, case_side = self._members
        return (b"{%b,%b}" % (when_and_where, case_side)).decode("utf-8")

    def entry(self, rules: list[str], event_json: bytes) -> bytes:
        """The step as an entry of an oversight record: the rules it is for, when and where it
        was read, the case side, and the event as the JSON it was accepted in."""
        when_and_where, case_side = self._members
        return b'{"rules":%b,%b,"step":{%b,"event":%b}}' % (
            orjson.dumps(rules),
            when_and_where,
            case_side,
            event_json,
        )

    def record(self) -> dict[str, Any]:
        """The step as the oversight topic carries it (without the rules it is for)."""
        event = self.step.event.to_json_bytes().decode("utf-8")
        return self._when_and_where() | {"step": self._case_side | {"event": event}}


def handle_event(
    state: CaseState | None,
    event: Event,
    received_at: datetime,
    standard: CaseStandard,
    origin: Origin | None = None,
    digest: str | None = None,
) -> Outcome:
    """Judge `event`, received at `received_at`, against the case so far, and fold it in.

    `origin` is where the event was read (partition and offset of the events topic); the
    stateful cross-case rules use it to recognise a step they folded in already. `digest` is
    the event's `content_digest` when the reading made it already.
    """
    if digest is None:
        digest = content_digest(event)
    if state is not None:
        seen = state.digest_of(event.event_id)
        if seen == digest:
            replayed = [_parse(r.body) for r in state.recent_for(event.event_id)]
            again = _observed_again(state, event, standard)
            return Outcome(state, replayed, changed=False, duplicate=True, observation=again)
        if seen is not None:
            return _conflict(state, event, received_at, seen, digest, standard)

    alerts: list[Alert] = []
    if state is not None:
        passed = DEADLINES.passed(state, standard, event.occurred_at)
        if passed.any:
            state, deadline_alerts = DEADLINES.fire(state, standard, passed)
            alerts.extend(deadline_alerts)
    for detector in EVENT_DETECTORS.values():
        alerts.extend(detector(state, event, received_at, standard))
    observation = None
    if standard.policy.cross_case and is_applied_in_order(state, event):
        step = observe(state, event, standard)
        observation = Observation(step, received_at, origin, standard.version)
        for rule in CASE_RULES:
            alerts.extend(rule(observation.step, received_at))
    new_state = evolve(
        state, event, standard.service, received_at, standard.policy.retention, digest
    )
    if new_state.standard_version is None and standard.version is not None:
        # Fixed when the case opens (or, for a state kept from before versions, now): the case
        # is judged by this version for the rest of its life.
        new_state = new_state.but(standard_version=standard.version)
    alerts = stamped([a for a in alerts if a.alert_id not in new_state.fired], standard)
    new_state = new_state.with_alerts(
        event.event_id,
        [(a.alert_id, a.to_json_bytes().decode()) for a in alerts],
    )
    if observation is not None:
        new_state = new_state.with_observed(event.event_id, observation.context())
    return Outcome(new_state, alerts, observation=observation)


def is_applied_in_order(state: CaseState | None, event: Event) -> bool:
    """True when `event` moves its case: a first event, or a later one of an open case.

    The cross-case rules see only these: an out-of-order event is a fact of the past whose
    predecessor is unknown, and steps after a terminal step are not work on the case.
    """
    return state is None or not (state.is_closed or is_out_of_order(state, event))


def observe(state: CaseState | None, event: Event, standard: CaseStandard) -> CaseStep:
    """The cross-case rules' view of `event`: the case as it stood just before it."""
    service = standard.service
    if state is None:
        definition = service.step(event.step)
        opened = event.occurred_at if definition is not None and definition.start else None
        return CaseStep(event, service, standard.calendar, opened_at=opened)
    started = any(step.start for step in _steps_of(standard, state.done_steps()))
    awaiting = []
    for wait in state.awaiting:
        waited = service.step(wait.step)
        if waited is not None and waited.sla is not None:
            awaiting.append(RunningLimit(wait.step, wait.since, waited.sla))
    return CaseStep(
        event=event,
        service=service,
        calendar=standard.calendar,
        previous_step=state.current_step,
        previous_at=state.latest_occurred_at,
        opened_at=state.opened_at if started else None,
        stops=state.stops,
        stop_count=len(state.stops),
        awaiting=tuple(awaiting),
    )


def _steps_of(standard: CaseStandard, codes: frozenset[str]) -> list[Step]:
    return [step for code in codes if (step := standard.service.step(code)) is not None]


def _observed_again(state: CaseState, event: Event, standard: CaseStandard) -> Observation | None:
    """The step handed on for `event` when it was first applied, if the state still keeps it:
    the same step with the same receive time, whatever record delivers the event again."""
    context = state.observed_context(event.event_id)
    if context is None:
        return None
    data = json.loads(context) | {"event": event.to_json_bytes().decode("utf-8")}
    step = case_step_from_dict(data, standard.service, standard.calendar)
    first = data.get("origin")
    origin = None if first is None else (int(first[0]), int(first[1]))
    return Observation(step, parse_rfc3339(data["received_at"]), origin, standard.version)


def check_deadlines(state: CaseState, now: datetime, standard: CaseStandard) -> Outcome:
    """The timer's judgement of a case at `now` (the worker's clock): missed deadlines, expiry.

    Fires nothing for a case whose latest event is a backfill record until the settling time
    after its receipt has passed (see `TrackerPolicy.backfill_settle`).
    """
    if state.is_closed:
        if state.expires_at is not None and state.expires_at <= now:
            return Outcome(None)
        return Outcome(state, changed=False)
    if (
        state.last_mode == "backfill"
        and now < state.last_received_at + standard.policy.backfill_settle
    ):
        return Outcome(state, changed=False)
    passed = DEADLINES.passed(state, standard, now)
    if not passed.any:
        replayed = [_parse(r.body) for r in state.recent_for(TIMER_SOURCE)]
        return Outcome(state, [a for a in replayed if a.detected_at <= now], changed=False)
    new_state, alerts = DEADLINES.fire(state, standard, passed)
    alerts = stamped(alerts, standard)
    new_state = new_state.with_alerts(
        TIMER_SOURCE, [(a.alert_id, a.to_json_bytes().decode()) for a in alerts]
    )
    return Outcome(new_state, alerts)


def stamped(alerts: list[Alert], standard: CaseStandard) -> list[Alert]:
    """The alerts naming the standards version they were judged by (when it is published)."""
    if standard.version is None:
        return alerts
    return [a.model_copy(update={"standard_version": standard.version}) for a in alerts]


def due_at(state: CaseState, standard: CaseStandard) -> datetime | None:
    """When the timer should next check this case, or None when no deadline or expiry is ahead."""
    return next_due(state, standard)


def _conflict(
    state: CaseState,
    event: Event,
    received_at: datetime,
    seen: str,
    digest: str,
    standard: CaseStandard,
) -> Outcome:
    [alert] = stamped([CONFLICT(event, seen, digest, received_at)], standard)
    source = f"{event.event_id}:{digest}"
    if alert.alert_id in state.fired:
        replayed = [_parse(r.body) for r in state.recent_for(source)]
        return Outcome(state, replayed, changed=False, duplicate=True)
    new_state = state.with_alerts(source, [(alert.alert_id, alert.to_json_bytes().decode())])
    return Outcome(new_state, [alert])


def _parse(body: str) -> Alert:
    return Alert.from_json_bytes(body)
