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

The fee (docs/contract-extensions.md section 7): the latest assessing step in time states the
fee in force (`attributes.assessed_amount`; an unreadable one is a fee of unknown amount) and is
judged against the tariff; a payment above 0 is judged against that fee when its amount is
known, else the tariff, and is the second one for it, or comes before any assessing step, or
lacks a receipt number (where the catalog has an assessing step or payment channels), or is
cash where the service takes none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from pantau.core.alerts import Rule
from pantau.core.catalog import Service
from pantau.core.events import Event, assessed_amount, canonical_bytes
from pantau.core.working_time import ClockStop, WorkingCalendar
from pantau_tracker.domain.standards import TrackerPolicy

# The tolerances of the tracker's default policy, which the live stack runs with.
BACKDATED_TOLERANCE = TrackerPolicy().backdated_tolerance
FUTURE_TOLERANCE = TrackerPolicy().future_tolerance

Reading = Callable[[Service, Event], bool]
"""A rule's reading of one event of a case (True: the event raises it), for a rule this module
does not read itself."""


@dataclass(frozen=True)
class Delivery:
    """One event as the pipeline receives it: the event and its receive time."""

    received_at: datetime
    event: Event


def rules_raised(
    service: Service,
    calendar: WorkingCalendar,
    deliveries: Iterable[Delivery],
    *,
    readings: Mapping[str, Reading] | None = None,
) -> frozenset[str]:
    """The rule ids the contract says these deliveries of one case raise (timers aside), with
    those of `readings` whose reading of an applied event says so."""
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
    fee = service.fee
    assessed_at: datetime | None = None  # when the fee in force was assessed (None: never)
    assessed: Decimal | None = None  # its amount, when stated
    settled = False  # the fee in force was paid
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
        for rule, reads in (readings or {}).items():
            if reads(service, event):
                raised.add(rule)
        if step.roles and (event.officer is None or event.officer.role not in step.roles):
            raised.add(Rule.DUTY_ROLE_NOT_ALLOWED)
        if event.officer is not None:
            for first, second in service.separate:
                other = second if event.step == first else first if event.step == second else None
                if other is not None and event.officer.id in officers.get(other, set()):
                    raised.add(Rule.DUTY_SAME_OFFICER)
            officers.setdefault(event.step, set()).add(event.officer.id)
        stated = _assessed(event) if step.assessment else None
        if stated is not None and not fee.allows(stated):
            raised.add(Rule.FEE_MISMATCH)
        payment = event.payment
        if payment is not None:
            amount = payment.amount
            if fee.is_free:
                off = amount > 0
            elif assessed_at is not None and assessed is not None:
                off = amount != assessed
            else:
                off = not fee.allows(amount)
            if off:
                raised.add(Rule.FEE_MISMATCH)
            if amount > 0:
                if assessed_at is not None and settled:
                    raised.add(Rule.FEE_PAID_TWICE)
                if service.assessment_steps and not service.assessment_steps & done:
                    raised.add(Rule.FEE_PAID_BEFORE_ASSESSMENT)
                described = bool(service.assessment_steps) or service.payment_channels is not None
                if described and not (payment.receipt or "").strip():
                    raised.add(Rule.FEE_NO_RECEIPT)
                channels = service.payment_channels
                if payment.channel == "cash" and channels is not None and "cash" not in channels:
                    raised.add(Rule.FEE_CASH_TO_OFFICER)
                settled = settled or assessed_at is not None
        if step.assessment and (assessed_at is None or at >= assessed_at):
            assessed_at, assessed, settled = at, stated, False
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


def _assessed(event: Event) -> Decimal | None:
    try:
        return assessed_amount(event.attributes)
    except ValueError:
        return None
