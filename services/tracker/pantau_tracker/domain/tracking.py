"""The tracker's use cases: accept one event, or check a case's deadlines at a given instant.

Both return an `Outcome`: the new state (None when the case expired) and the alerts to publish.
Every alert raised is recorded in the state, so each (rule, case, trigger) is raised once; when
the same trigger is replayed (a duplicate delivery after a crash, a repeated timer check) the
alerts it raised before are returned again byte for byte, so a lost publication is repaired and
a received one is merely repeated with identical content.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from pantau.core.alerts import Alert, Rule, make_alert
from pantau.core.events import Event, content_digest
from pantau_tracker.domain.case import CaseState, evolve
from pantau_tracker.domain.deadlines import StepDeadline, next_due
from pantau_tracker.domain.rules import (
    EVENT_DETECTORS,
    case_overdue_alert,
    overdue_by,
    step_overdue_alert,
)
from pantau_tracker.domain.standards import CaseStandard

TIMER_SOURCE = "timer"


@dataclass(frozen=True)
class Outcome:
    """What handling one record did: the state after it and the alerts to publish.

    `changed` is False when the record changed nothing (a duplicate, a timer with nothing due):
    the state need not be stored again. `alerts` may then hold re-published alerts.
    """

    state: CaseState | None
    alerts: list[Alert] = field(default_factory=list)
    changed: bool = True
    duplicate: bool = False


def handle_event(
    state: CaseState | None, event: Event, received_at: datetime, standard: CaseStandard
) -> Outcome:
    """Judge `event`, received at `received_at`, against the case so far, and fold it in."""
    digest = content_digest(event)
    if state is not None:
        seen = state.digest_of(event.event_id)
        if seen == digest:
            replayed = [_parse(r.body) for r in state.recent_for(event.event_id)]
            return Outcome(state, replayed, changed=False, duplicate=True)
        if seen is not None:
            return _conflict(state, event, received_at, seen, digest)

    alerts: list[Alert] = []
    if state is not None:
        steps, case_due = overdue_by(state, standard, event.occurred_at)
        if steps or case_due is not None:
            state, deadline_alerts = _fire_deadlines(state, standard, steps, case_due)
            alerts.extend(deadline_alerts)
    for detector in EVENT_DETECTORS.values():
        alerts.extend(detector(state, event, received_at, standard))
    new_state = evolve(
        state, event, standard.service, received_at, standard.policy.retention, digest
    )
    alerts = [a for a in alerts if a.alert_id not in new_state.fired]
    new_state = new_state.with_alerts(
        event.event_id,
        [(a.alert_id, a.to_json_bytes().decode()) for a in alerts],
    )
    return Outcome(new_state, alerts)


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
    steps, case_due = overdue_by(state, standard, now)
    if not steps and case_due is None:
        replayed = [_parse(r.body) for r in state.recent_for(TIMER_SOURCE)]
        return Outcome(state, [a for a in replayed if a.detected_at <= now], changed=False)
    new_state, alerts = _fire_deadlines(state, standard, steps, case_due)
    new_state = new_state.with_alerts(
        TIMER_SOURCE, [(a.alert_id, a.to_json_bytes().decode()) for a in alerts]
    )
    return Outcome(new_state, alerts)


def due_at(state: CaseState, standard: CaseStandard) -> datetime | None:
    """When the timer should next check this case, or None when no deadline or expiry is ahead."""
    return next_due(state, standard)


def _fire_deadlines(
    state: CaseState,
    standard: CaseStandard,
    steps: list[StepDeadline],
    case_due: datetime | None,
) -> tuple[CaseState, list[Alert]]:
    alerts = [step_overdue_alert(state, deadline) for deadline in steps]
    fired = {deadline.wait.trigger for deadline in steps}
    awaiting = tuple(
        replace(wait, fired=True) if wait.trigger in fired else wait for wait in state.awaiting
    )
    state = replace(state, awaiting=awaiting)
    if case_due is not None:
        alerts.append(case_overdue_alert(state, standard, case_due))
        state = replace(state, case_overdue_fired=True)
    return state, alerts


def _conflict(
    state: CaseState, event: Event, received_at: datetime, seen: str, digest: str
) -> Outcome:
    alert = make_alert(
        Rule.INTEGRITY_CONFLICTING_DUPLICATE,
        agency=event.agency,
        service=event.service,
        case_id=event.case_id,
        trigger=f"{event.event_id}:{digest}",
        detected_at=received_at,
        message=f"Event {event.event_id} arrived again with different content",
        step=event.step,
        officer_id=None if event.officer is None else event.officer.id,
        occurred_at=event.occurred_at,
        evidence={"first_digest": seen, "new_digest": digest},
        event_ids=[event.event_id],
    )
    source = f"{event.event_id}:{digest}"
    if alert.alert_id in state.fired:
        replayed = [_parse(r.body) for r in state.recent_for(source)]
        return Outcome(state, replayed, changed=False, duplicate=True)
    new_state = state.with_alerts(source, [(alert.alert_id, alert.to_json_bytes().decode())])
    return Outcome(new_state, [alert])


def _parse(body: str) -> Alert:
    return Alert.from_json_bytes(body)
