"""A minimal reference reading of the contract's rules for one case, used to state ground truth.

The simulator plans a case, then asks this module which rules the planned deliveries raise; the
ground truth it writes is that answer, and a planted case whose answer is not the intended rule
is planned again. It reads the contract literally (section 5) for a single case delivered in the
given order: a step's `sla` counts from the step before it (the latest step that is not a clock
stop or resume), or from the first occurrence of the step it names (`from`), the service `sla`
from the first event, clock stops excluded; a step done before is judged again only when a
clock resume led back to it; every event that
is not a duplicate is applied, even one that raises an alert (oversight records what happened,
it does not refuse it). Timers are out of scope: the simulator never leaves a case open past a
deadline. A service with deemed approval is warned of once an event comes after the warning
time, deemed approved once one comes after the service limit, and a rejection after that is
alerted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pantau.core.alerts import Rule
from pantau.core.catalog import Service
from pantau.core.events import Event, canonical_bytes
from pantau.core.working_time import ClockStop, WorkingCalendar

BACKDATED_TOLERANCE = timedelta(hours=24)
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Delivery:
    """One event as the pipeline receives it: the event and its receive time."""

    received_at: datetime
    event: Event


def rules_raised(
    service: Service, calendar: WorkingCalendar, deliveries: Iterable[Delivery]
) -> frozenset[str]:
    """The rule ids the contract says these deliveries of one case raise (timers aside)."""
    seen: dict[str, bytes] = {}
    raised: set[str] = set()
    current: str | None = None
    closed = False
    done: set[str] = set()
    officers: dict[str, set[str]] = {}
    opened_at: datetime | None = None
    previous_at: datetime | None = None
    latest_at: datetime | None = None
    latest_seq: int | None = None
    stops: list[ClockStop] = []
    stopped_at: datetime | None = None
    deemed = service.deemed_approval
    deemed_at: datetime | None = None
    first_at: dict[str, datetime] = {}  # when each step first happened
    redo: set[str] = set()  # steps a clock resume led back to, awaited again
    for delivery in deliveries:
        event = delivery.event
        content = canonical_bytes(event)
        if event.event_id in seen:
            if seen[event.event_id] != content:
                raised.add(Rule.INTEGRITY_CONFLICTING_DUPLICATE)
            continue
        seen[event.event_id] = content
        at = event.occurred_at
        if event.mode == "live" and delivery.received_at - at > BACKDATED_TOLERANCE:
            raised.add(Rule.TIME_BACKDATED)
        if at > delivery.received_at + FUTURE_TOLERANCE:
            raised.add(Rule.TIME_FUTURE)
        step = service.step(event.step)
        if step is None:
            raise ValueError(f"{event.step!r} is not a step of {service.agency}/{service.code}")
        if current is None:
            if not step.start:
                raised.add(Rule.PROCESS_UNKNOWN_CASE)
        elif closed:
            raised.add(Rule.PROCESS_AFTER_TERMINAL)
        elif event.step not in service.allowed_after(current):
            raised.add(Rule.PROCESS_INVALID_TRANSITION)
        if latest_at is not None and at < latest_at:
            raised.add(Rule.TIME_OUT_OF_ORDER)
        if latest_seq is not None and event.seq is not None and event.seq < latest_seq:
            raised.add(Rule.TIME_OUT_OF_ORDER)
        if step.reason_required and not event.reason:
            raised.add(Rule.PROCESS_REASON_MISSING)
        if step.roles and (event.officer is None or event.officer.role not in step.roles):
            raised.add(Rule.DUTY_ROLE_NOT_ALLOWED)
        if event.officer is not None:
            for first, second in service.separate:
                other = second if event.step == first else first if event.step == second else None
                if other is not None and event.officer.id in officers.get(other, set()):
                    raised.add(Rule.DUTY_SAME_OFFICER)
            officers.setdefault(event.step, set()).add(event.officer.id)
        if event.payment is not None and (
            service.fee.is_free or not service.fee.allows(event.payment.amount)
        ):
            raised.add(Rule.FEE_MISMATCH)
        if not closed:
            since = previous_at
            if step.sla_from is not None:
                since = None if event.step in done else first_at.get(step.sla_from)
            elif event.step in done and event.step not in redo:
                since = None  # done before, and no clock resume led back to it
            if step.sla is not None and since is not None:
                open_stops = [*stops, ClockStop(stopped_at)] if stopped_at else stops
                due = calendar.deadline(since, step.sla, open_stops)
                if due is not None and at > due:
                    raised.add(Rule.SLA_STEP_OVERDUE)
            if service.sla is not None and opened_at is not None:
                open_stops = [*stops, ClockStop(stopped_at)] if stopped_at else stops
                due = calendar.deadline(opened_at, service.sla, open_stops)
                if due is not None and at > due:
                    raised.add(Rule.SLA_CASE_OVERDUE)
                if deemed is not None and due is not None:
                    lead = timedelta(hours=deemed.warn_before.amount)
                    if at > calendar.working_time_before(due, lead):
                        raised.add(Rule.SLA_DEEMED_APPROVAL_NEAR)
                    if at > due:
                        raised.add(Rule.SLA_DEEMED_APPROVED)
                        deemed_at = deemed_at or due
            in_order = latest_at is None or at >= latest_at
            if step.is_rejection and deemed_at is not None and at > deemed_at and in_order:
                raised.add(Rule.PROCESS_AFTER_DEEMED_APPROVAL)
            if step.is_success and not service.mandatory <= done | {event.step}:
                raised.add(Rule.PROCESS_SKIPPED_STEP)
        redo.discard(event.step)
        first_at.setdefault(event.step, at)
        if step.clock == "stop" and stopped_at is None:
            stopped_at = at
        elif step.clock == "resume" and stopped_at is not None:
            stops.append(ClockStop(stopped_at, max(at, stopped_at)))
            stopped_at = None
        if step.clock == "resume":
            redo |= service.allowed_after(event.step)
        opened_at = at if opened_at is None else opened_at
        current = event.step
        closed = closed or step.terminal
        done.add(event.step)
        if step.clock is None:
            previous_at = at
        latest_at = at
        latest_seq = event.seq if event.seq is not None else latest_seq
    return frozenset(raised)
