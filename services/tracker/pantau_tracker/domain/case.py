"""A case's live state and `evolve`, the fold of one accepted event into it.

The state is a frozen value with bounded size: per step one record, a bounded window of recent
event ids for deduplication, a bounded list of clock stops and of recently raised alerts. It
serialises to plain JSON (`to_document` / `from_document`) for the state store and for
`pantau.cases`.

Out-of-order events (an earlier `seq` or `occurred_at` than the latest applied event) are
recorded as facts (the step happened, by that officer) so that mandatory-step and
separation-of-duty checks still see them, but they do not move the case: its current step,
deadlines and latest times stay those of the latest applied event. Moving the case backwards
would make every later, correctly ordered step look like an invalid transition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pantau.core.catalog import Service, Step
from pantau.core.events import Event, assessed_amount, case_key, format_rfc3339, parse_rfc3339
from pantau.core.frozen import quick_init
from pantau.core.working_time import ClockStop

SEEN_MAX = 64  # event ids remembered per case for deduplication (far above a case's length)
OFFICERS_PER_STEP_MAX = 4  # distinct officers remembered per step (a step may repeat in loops)
STOPS_MAX = 32  # clock stop/resume cycles remembered; beyond, the oldest is forgotten
RECENT_ALERTS_MAX = 16  # alerts kept to re-publish identically when their trigger is replayed
FIRED_MAX = 128  # ids of raised event-triggered alerts, so each is raised once
OBSERVED_MAX = 4  # cross-case inputs kept to hand again when their event is redelivered

Status = Literal["open", "closed"]


@quick_init
@dataclass(frozen=True)
class StepRecord:
    """That a step happened in the case: its latest event and who did it."""

    step: str
    event_id: str
    occurred_at: datetime
    officers: tuple[str, ...] = ()


@quick_init
@dataclass(frozen=True)
class AwaitedStep:
    """A step the case waits for whose `sla` runs from the step before it (the anchor).

    `trigger` identifies this wait: the late arrival of the step and the timer that notices
    nothing arrived agree on it, so their alerts share one id.
    """

    step: str
    sla: str
    anchor_event_id: str
    anchor_step: str
    since: datetime
    fired: bool = False

    @property
    def trigger(self) -> str:
        return f"{self.anchor_event_id}:{self.step}"


@quick_init
@dataclass(frozen=True)
class Assessment:
    """The fee assessed for the case at its latest assessing step, and the payment of it.

    `amount` is None when the assessing event stated no (readable) amount: the case was
    assessed, for an amount not known. `paid_by` is the event id of the first payment after it.
    """

    event_id: str
    assessed_at: datetime
    amount: Decimal | None = None
    paid_by: str | None = None

    def to_document(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "assessed_at": format_rfc3339(self.assessed_at),
            "amount": None if self.amount is None else format(self.amount, "f"),
            "paid_by": self.paid_by,
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Assessment:
        amount = doc["amount"]
        return cls(
            doc["event_id"],
            parse_rfc3339(doc["assessed_at"]),
            None if amount is None else Decimal(amount),
            doc["paid_by"],
        )


@quick_init
@dataclass(frozen=True)
class RecentAlert:
    """An alert raised for a source (an event id, or `timer`), kept as its exact JSON."""

    source: str
    alert_id: str
    body: str


@quick_init
@dataclass(frozen=True)
class CaseState:
    """Where a case stands: its step, deadlines, who did what, and what was already said."""

    agency: str
    service: str
    case_id: str
    status: Status
    current_step: str
    current_event_id: str
    opened_at: datetime
    opened_event_id: str
    latest_occurred_at: datetime
    last_received_at: datetime
    last_mode: str
    last_seq: int | None = None
    closed_at: datetime | None = None
    terminal_step: str | None = None
    expires_at: datetime | None = None
    case_overdue_fired: bool = False
    deemed_warned: bool = False
    deemed_approved_at: datetime | None = None
    assessment: Assessment | None = None
    events: int = 0
    steps: tuple[StepRecord, ...] = ()
    awaiting: tuple[AwaitedStep, ...] = ()
    stops: tuple[ClockStop, ...] = ()
    seen: tuple[tuple[str, str], ...] = ()
    fired: tuple[str, ...] = ()
    recent: tuple[RecentAlert, ...] = field(default=(), compare=True)
    observed: tuple[tuple[str, str], ...] = ()
    # The published standards version the case is judged by, fixed when it opens (None: the
    # tracker ran on an unpublished catalog then).
    standard_version: int | None = None

    def but(self, **changes: Any) -> CaseState:
        """This state with `changes` to its fields: `dataclasses.replace` without re-running
        `__init__`, which costs more than the rest of a step's fold (fields are not checked)."""
        assert changes.keys() <= _STATE_FIELDS, sorted(changes.keys() - _STATE_FIELDS)
        changed = object.__new__(CaseState)
        object.__setattr__(changed, "__dict__", {**self.__dict__, **changes})
        return changed

    @property
    def key(self) -> str:
        """The case key, as on Kafka: `<agency>|<case_id>`."""
        return case_key(self.agency, self.case_id)

    @property
    def is_closed(self) -> bool:
        return self.status == "closed"

    def digest_of(self, event_id: str) -> str | None:
        """The content digest of an event id seen before, or None."""
        for seen_id, digest in self.seen:
            if seen_id == event_id:
                return digest
        return None

    def step_record(self, step: str) -> StepRecord | None:
        for record in self.steps:
            if record.step == step:
                return record
        return None

    def done_steps(self) -> frozenset[str]:
        return frozenset(record.step for record in self.steps)

    def with_alerts(self, source: str, bodies: Iterable[tuple[str, str]]) -> CaseState:
        """The state having raised alerts `(alert_id, json)` for `source`."""
        bodies = list(bodies)
        if not bodies:
            return self
        fired = (*self.fired, *(alert_id for alert_id, _ in bodies))[-FIRED_MAX:]
        recent = (*self.recent, *(RecentAlert(source, a, body) for a, body in bodies))[
            -RECENT_ALERTS_MAX:
        ]
        return self.but(fired=fired, recent=recent)

    def with_observed(self, event_id: str, context: str) -> CaseState:
        """The state having handed `event_id` to the cross-case rules with `context`, the JSON
        of what the case knew just before it (bounded window, newest last)."""
        observed = (*self.observed, (event_id, context))[-OBSERVED_MAX:]
        return self.but(observed=observed)

    def observed_context(self, event_id: str) -> str | None:
        """The context `event_id` was handed to the cross-case rules with, if still kept."""
        for seen_id, context in self.observed:
            if seen_id == event_id:
                return context
        return None

    def recent_for(self, source: str) -> list[RecentAlert]:
        return [alert for alert in self.recent if alert.source == source]

    # --- serialisation --------------------------------------------------------------------

    def to_document(self) -> dict[str, Any]:
        """The state as JSON-able data (times in RFC 3339 keeping their offsets)."""
        return {
            "agency": self.agency,
            "service": self.service,
            "case_id": self.case_id,
            "status": self.status,
            "current_step": self.current_step,
            "current_event_id": self.current_event_id,
            "opened_at": _time(self.opened_at),
            "opened_event_id": self.opened_event_id,
            "latest_occurred_at": _time(self.latest_occurred_at),
            "last_received_at": _time(self.last_received_at),
            "last_mode": self.last_mode,
            "last_seq": self.last_seq,
            "closed_at": _opt_time(self.closed_at),
            "terminal_step": self.terminal_step,
            "expires_at": _opt_time(self.expires_at),
            "case_overdue_fired": self.case_overdue_fired,
            "deemed_warned": self.deemed_warned,
            "deemed_approved_at": _opt_time(self.deemed_approved_at),
            "assessment": None if self.assessment is None else self.assessment.to_document(),
            "events": self.events,
            "steps": [
                {
                    "step": r.step,
                    "event_id": r.event_id,
                    "occurred_at": _time(r.occurred_at),
                    "officers": list(r.officers),
                }
                for r in self.steps
            ],
            "awaiting": [
                {
                    "step": a.step,
                    "sla": a.sla,
                    "anchor_event_id": a.anchor_event_id,
                    "anchor_step": a.anchor_step,
                    "since": _time(a.since),
                    "fired": a.fired,
                }
                for a in self.awaiting
            ],
            "stops": [
                {"stopped_at": _time(s.stopped_at), "resumed_at": _opt_time(s.resumed_at)}
                for s in self.stops
            ],
            "seen": [[event_id, digest] for event_id, digest in self.seen],
            "fired": list(self.fired),
            "recent": [
                {"source": r.source, "alert_id": r.alert_id, "body": r.body} for r in self.recent
            ],
            "observed": [[event_id, context] for event_id, context in self.observed],
            "standard_version": self.standard_version,
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> CaseState:
        """The state from `to_document` output; raises KeyError/ValueError when malformed."""
        return cls(
            agency=doc["agency"],
            service=doc["service"],
            case_id=doc["case_id"],
            status="closed" if doc["status"] == "closed" else "open",
            current_step=doc["current_step"],
            current_event_id=doc["current_event_id"],
            opened_at=parse_rfc3339(doc["opened_at"]),
            opened_event_id=doc["opened_event_id"],
            latest_occurred_at=parse_rfc3339(doc["latest_occurred_at"]),
            last_received_at=parse_rfc3339(doc["last_received_at"]),
            last_mode=doc["last_mode"],
            last_seq=doc["last_seq"],
            closed_at=_parse_opt(doc["closed_at"]),
            terminal_step=doc["terminal_step"],
            expires_at=_parse_opt(doc["expires_at"]),
            case_overdue_fired=bool(doc["case_overdue_fired"]),
            # States stored before deemed approvals have neither.
            deemed_warned=bool(doc.get("deemed_warned", False)),
            deemed_approved_at=_parse_opt(doc.get("deemed_approved_at")),
            # States stored before fee assessments have none.
            assessment=None
            if doc.get("assessment") is None
            else Assessment.from_document(doc["assessment"]),
            events=int(doc["events"]),
            steps=tuple(
                StepRecord(
                    r["step"], r["event_id"], parse_rfc3339(r["occurred_at"]), tuple(r["officers"])
                )
                for r in doc["steps"]
            ),
            awaiting=tuple(
                AwaitedStep(
                    a["step"],
                    a["sla"],
                    a["anchor_event_id"],
                    a["anchor_step"],
                    parse_rfc3339(a["since"]),
                    bool(a["fired"]),
                )
                for a in doc["awaiting"]
            ),
            stops=tuple(
                ClockStop(parse_rfc3339(s["stopped_at"]), _parse_opt(s["resumed_at"]))
                for s in doc["stops"]
            ),
            seen=tuple((str(e), str(d)) for e, d in doc["seen"]),
            fired=tuple(doc["fired"]),
            recent=tuple(RecentAlert(r["source"], r["alert_id"], r["body"]) for r in doc["recent"]),
            # States stored before the cross-case rules have none.
            observed=tuple((str(e), str(c)) for e, c in doc.get("observed", ())),
            # States stored before versioned standards have none.
            standard_version=_opt_int(doc.get("standard_version")),
        )


_STATE_FIELDS = frozenset(field.name for field in fields(CaseState))


def _time(moment: datetime) -> str:
    return format_rfc3339(moment)


def _opt_time(moment: datetime | None) -> str | None:
    return None if moment is None else format_rfc3339(moment)


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_opt(text: str | None) -> datetime | None:
    return None if text is None else parse_rfc3339(text)


# --- the fold ---------------------------------------------------------------------------------


def is_out_of_order(state: CaseState | None, event: Event) -> bool:
    """True when `event` is earlier (by `seq` or `occurred_at`) than the latest applied event."""
    if state is None:
        return False
    if event.seq is not None and state.last_seq is not None and event.seq < state.last_seq:
        return True
    return event.occurred_at < state.latest_occurred_at


def evolve(
    state: CaseState | None,
    event: Event,
    service: Service,
    received_at: datetime,
    retention: timedelta,
    digest: str,
) -> CaseState:
    """The state after accepting `event` (not a duplicate), received at `received_at`.

    Pure and total: every validated event of the service gives a state. The first event of a case
    opens it whatever its step (an unknown-case alert is the detectors' business).
    """
    step = service.step(event.step)
    if step is None:
        raise ValueError(f"step {event.step!r} is not a step of service {service.code!r}")
    officer = None if event.officer is None else event.officer.id
    if state is None:
        state = CaseState(
            agency=event.agency,
            service=event.service,
            case_id=event.case_id,
            status="open",
            current_step=event.step,
            current_event_id=event.event_id,
            opened_at=event.occurred_at,
            opened_event_id=event.event_id,
            latest_occurred_at=event.occurred_at,
            last_received_at=received_at,
            last_mode=event.mode,
            last_seq=event.seq,
        )
        state = state.but(
            awaiting=_awaited_after(service, event.step, event, (), frozenset({event.step})),
            # An unknown case may begin mid-process, even with its clock stopped.
            stops=(ClockStop(event.occurred_at),) if step.clock == "stop" else (),
            **_facts(state, event, step, officer),
            **_remembering(state, event.event_id, digest),
        )
        return _closing(state, step.terminal, event, received_at, retention)

    done = state.done_steps()
    # What every accepted event changes, taken in with the rest of the step's changes: each
    # `but` copies the whole state.
    changes = {
        **_facts(state, event, step, officer),
        "last_received_at": max(state.last_received_at, received_at),
        **_remembering(state, event.event_id, digest),
    }
    if is_out_of_order(state, event) or state.is_closed:
        if not state.is_closed:
            # A step that happened is never awaited any more, also when it is reported late.
            changes["awaiting"] = tuple(w for w in state.awaiting if w.step != event.step)
        return state.but(**changes)

    stops = state.stops
    awaiting = state.awaiting
    if step.clock == "stop":
        stops = (*stops, ClockStop(event.occurred_at))[-STOPS_MAX:]
    elif step.clock == "resume":
        stops = _resumed(stops, event.occurred_at)
        awaited = {wait.step for wait in awaiting}
        # Back from the applicant: the steps after the resume are done anew, each within its
        # limit, also those done before (a file verified again after a clarification).
        fresh = tuple(
            wait
            for wait in _awaited_after(service, event.step, event, (), frozenset())
            if wait.step not in awaited
        )
        awaiting = (*awaiting, *fresh)
    else:
        # Limits counted from a named step run on across other steps until theirs is done;
        # limits counted from the step before end here, and this step starts its own.
        kept = tuple(
            wait
            for wait in awaiting
            if wait.step != event.step and _counts_from_named_step(service, wait.step)
        )
        awaiting = _awaited_after(service, event.step, event, kept, done | {event.step})
    state = state.but(
        current_step=event.step,
        current_event_id=event.event_id,
        latest_occurred_at=event.occurred_at,
        last_mode=event.mode,
        last_seq=event.seq if event.seq is not None else state.last_seq,
        stops=stops,
        awaiting=awaiting,
        **changes,
    )
    return _closing(state, step.terminal, event, received_at, retention)


def _closing(
    state: CaseState, terminal: bool, event: Event, received_at: datetime, retention: timedelta
) -> CaseState:
    if not terminal:
        return state
    return state.but(
        status="closed",
        closed_at=event.occurred_at,
        terminal_step=event.step,
        awaiting=(),
        expires_at=(received_at + retention).astimezone(UTC),
    )


def _facts(state: CaseState, event: Event, step: Step, officer: str | None) -> dict[str, Any]:
    """The changes that record `event` as a fact of the case, in or out of order: its step
    (`_recorded_steps`) and what it says of the fee (`_assessed`)."""
    changes: dict[str, Any] = {"steps": _recorded_steps(state, event, officer)}
    assessment = _assessed(state.assessment, event, step)
    if assessment is not state.assessment:
        changes["assessment"] = assessment
    return changes


def _remembering(state: CaseState, event_id: str, digest: str) -> dict[str, Any]:
    """The changes of having seen `event_id` with `digest` (bounded window, newest last)."""
    return {"seen": (*state.seen, (event_id, digest))[-SEEN_MAX:], "events": state.events + 1}


def _recorded_steps(state: CaseState, event: Event, officer: str | None) -> tuple[StepRecord, ...]:
    previous = state.step_record(event.step)
    officers: tuple[str, ...] = () if previous is None else previous.officers
    if officer is not None and officer not in officers:
        officers = (*officers, officer)[-OFFICERS_PER_STEP_MAX:]
    if previous is not None and event.occurred_at < previous.occurred_at:
        record = replace(previous, officers=officers)  # keep the latest occurrence as the record
    else:
        record = StepRecord(event.step, event.event_id, event.occurred_at, officers)
    others = tuple(r for r in state.steps if r.step != event.step)
    return (*others, record)


def _assessed(assessment: Assessment | None, event: Event, step: Step) -> Assessment | None:
    """The fee assessment knowing what `event` says of the case's fee: a payment settles the
    assessment in force (the first payment after it), an assessing step replaces it. Facts, so
    recorded also for an event out of order or after the end, like the step itself."""
    if (
        assessment is not None
        and assessment.paid_by is None
        and event.payment is not None
        and event.payment.amount > 0
    ):
        assessment = replace(assessment, paid_by=event.event_id)
    if step.assessment and (assessment is None or event.occurred_at >= assessment.assessed_at):
        try:
            amount = assessed_amount(event.attributes)
        except ValueError:
            amount = None  # refused at the intake; from Kafka, an assessment of unknown amount
        assessment = Assessment(event.event_id, event.occurred_at, amount)
    return assessment


def _awaited_after(
    service: Service,
    step_code: str,
    anchor: Event,
    already: tuple[AwaitedStep, ...],
    done: frozenset[str],
) -> tuple[AwaitedStep, ...]:
    """`already` and the waits that entering `step_code` (at `anchor`) starts: for each step
    with an `sla` counted from the step before it that may follow `step_code`, and each step
    whose `sla` counts from `step_code` itself; never for a step in `done` (a step the case has
    done is not awaited again, but after a clock resume) or one already awaited."""
    waits = list(already)
    awaited = {wait.step for wait in already}
    for code in sorted(service.allowed_after(step_code)):
        following = service.step(code)
        if (
            following is not None
            and following.sla is not None
            and following.sla_from is None
            and code not in done
            and code not in awaited
        ):
            waits.append(
                AwaitedStep(
                    code, str(following.sla), anchor.event_id, step_code, anchor.occurred_at
                )
            )
    for following in service.steps:
        if (
            following.sla_from == step_code
            and following.sla is not None
            and following.code not in done
            and following.code not in awaited
        ):
            waits.append(
                AwaitedStep(
                    following.code,
                    str(following.sla),
                    anchor.event_id,
                    step_code,
                    anchor.occurred_at,
                )
            )
    return tuple(waits)


def _counts_from_named_step(service: Service, step_code: str) -> bool:
    found = service.step(step_code)
    return found is not None and found.sla_from is not None


def _resumed(stops: tuple[ClockStop, ...], at: datetime) -> tuple[ClockStop, ...]:
    if stops and stops[-1].resumed_at is None:
        last = stops[-1]
        return (*stops[:-1], ClockStop(last.stopped_at, max(at, last.stopped_at)))
    return stops  # a resume without a stop: nothing was stopped, nothing to count
