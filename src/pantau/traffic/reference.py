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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from pantau.core.alerts import Rule
from pantau.core.catalog import Service, Step
from pantau.core.durations import Duration
from pantau.core.events import Event, Payment, assessed_amount, canonical_bytes
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
    replay = _CaseReplay(service, calendar, readings or {})
    for delivery in deliveries:
        replay.deliver(delivery)
    return frozenset(replay.raised)


@dataclass
class _CaseReplay:
    """One case read event by event: what it has raised so far and what the next event is
    judged against."""

    service: Service
    calendar: WorkingCalendar
    readings: Mapping[str, Reading]
    raised: set[str] = field(default_factory=set)
    seen: dict[str, bytes] = field(default_factory=dict)
    current: str | None = None
    closed: bool = False
    done: set[str] = field(default_factory=set)
    officers: dict[str, set[str]] = field(default_factory=dict)
    opened_at: datetime | None = None
    previous_at: datetime | None = None
    latest_at: datetime | None = None
    latest_seq: int | None = None
    stops: list[ClockStop] = field(default_factory=list)
    stopped_at: datetime | None = None
    deemed_at: datetime | None = None
    first_at: dict[str, datetime] = field(default_factory=dict)  # when each step first happened
    redo: set[str] = field(default_factory=set)  # steps a clock resume led back to, awaited again
    assessed_at: datetime | None = None  # when the fee in force was assessed (None: never)
    assessed: Decimal | None = None  # its amount, when stated
    settled: bool = False  # the fee in force was paid

    def deliver(self, delivery: Delivery) -> None:
        """Judge one delivery, then apply its event unless it repeats an earlier one."""
        event = delivery.event
        content = canonical_bytes(event)
        if event.event_id in self.seen:
            if self.seen[event.event_id] != content:
                self.raised.add(Rule.INTEGRITY_CONFLICTING_DUPLICATE)
            return
        self.seen[event.event_id] = content
        step = self.service.step(event.step)
        if step is None:
            raise ValueError(
                f"{event.step!r} is not a step of {self.service.agency}/{self.service.code}"
            )
        self._judge_timing(delivery)
        self._judge_process(event, step)
        self._judge_duty(event, step)
        self._judge_fee(event, step)
        if not self.closed:
            self._judge_deadlines(event, step)
        self._apply(event, step)

    def _judge_timing(self, delivery: Delivery) -> None:
        at = delivery.event.occurred_at
        if delivery.event.mode == "live" and delivery.received_at - at > BACKDATED_TOLERANCE:
            self.raised.add(Rule.TIME_BACKDATED)
        if at > delivery.received_at + FUTURE_TOLERANCE:
            self.raised.add(Rule.TIME_FUTURE)

    def _judge_process(self, event: Event, step: Step) -> None:
        if self.current is None:
            if not step.start:
                self.raised.add(Rule.PROCESS_UNKNOWN_CASE)
        elif self.closed:
            self.raised.add(Rule.PROCESS_AFTER_TERMINAL)
        elif event.step not in self.service.allowed_after(self.current):
            self.raised.add(Rule.PROCESS_INVALID_TRANSITION)
        if self.latest_at is not None and event.occurred_at < self.latest_at:
            self.raised.add(Rule.TIME_OUT_OF_ORDER)
        if self.latest_seq is not None and event.seq is not None and event.seq < self.latest_seq:
            self.raised.add(Rule.TIME_OUT_OF_ORDER)
        if step.reason_required and not event.reason:
            self.raised.add(Rule.PROCESS_REASON_MISSING)
        for rule, reads in self.readings.items():
            if reads(self.service, event):
                self.raised.add(rule)

    def _judge_duty(self, event: Event, step: Step) -> None:
        if step.roles and (event.officer is None or event.officer.role not in step.roles):
            self.raised.add(Rule.DUTY_ROLE_NOT_ALLOWED)
        if event.officer is None:
            return
        for first, second in self.service.separate:
            other = second if event.step == first else first if event.step == second else None
            if other is not None and event.officer.id in self.officers.get(other, set()):
                self.raised.add(Rule.DUTY_SAME_OFFICER)
        self.officers.setdefault(event.step, set()).add(event.officer.id)

    def _judge_fee(self, event: Event, step: Step) -> None:
        fee = self.service.fee
        stated = _assessed(event) if step.assessment else None
        if stated is not None and not fee.allows(stated):
            self.raised.add(Rule.FEE_MISMATCH)
        if event.payment is not None:
            self._judge_payment(event.payment)
        at = event.occurred_at
        if step.assessment and (self.assessed_at is None or at >= self.assessed_at):
            self.assessed_at, self.assessed, self.settled = at, stated, False

    def _judge_payment(self, payment: Payment) -> None:
        service, fee, amount = self.service, self.service.fee, payment.amount
        if fee.is_free:
            off = amount > 0
        elif self.assessed_at is not None and self.assessed is not None:
            off = amount != self.assessed
        else:
            off = not fee.allows(amount)
        if off:
            self.raised.add(Rule.FEE_MISMATCH)
        if amount <= 0:
            return
        if self.assessed_at is not None and self.settled:
            self.raised.add(Rule.FEE_PAID_TWICE)
        if service.assessment_steps and not service.assessment_steps & self.done:
            self.raised.add(Rule.FEE_PAID_BEFORE_ASSESSMENT)
        described = bool(service.assessment_steps) or service.payment_channels is not None
        if described and not (payment.receipt or "").strip():
            self.raised.add(Rule.FEE_NO_RECEIPT)
        channels = service.payment_channels
        if payment.channel == "cash" and channels is not None and "cash" not in channels:
            self.raised.add(Rule.FEE_CASH_TO_OFFICER)
        self.settled = self.settled or self.assessed_at is not None

    def _open_stops(self) -> list[ClockStop]:
        """The clock stops so far, with the one still running."""
        if self.stopped_at:
            return [*self.stops, ClockStop(self.stopped_at)]
        return self.stops

    def _judge_deadlines(self, event: Event, step: Step) -> None:
        service, at = self.service, event.occurred_at
        since = self.previous_at
        if step.sla_from is not None:
            since = None if event.step in self.done else self.first_at.get(step.sla_from)
        elif event.step in self.done and event.step not in self.redo:
            since = None  # done before, and no clock resume led back to it
        if step.sla is not None and since is not None:
            due = self.calendar.deadline(since, step.sla, self._open_stops())
            if due is not None and at > due:
                self.raised.add(Rule.SLA_STEP_OVERDUE)
        if service.sla is not None and self.opened_at is not None:
            self._judge_case_deadline(service.sla, at)
        in_order = self.latest_at is None or at >= self.latest_at
        if step.is_rejection and self.deemed_at is not None and at > self.deemed_at and in_order:
            self.raised.add(Rule.PROCESS_AFTER_DEEMED_APPROVAL)
        if step.is_success and not service.mandatory <= self.done | {event.step}:
            self.raised.add(Rule.PROCESS_SKIPPED_STEP)

    def _judge_case_deadline(self, sla: Duration, at: datetime) -> None:
        assert self.opened_at is not None
        due = self.calendar.deadline(self.opened_at, sla, self._open_stops())
        if due is not None and at > due:
            self.raised.add(Rule.SLA_CASE_OVERDUE)
        deemed = self.service.deemed_approval
        if deemed is not None and due is not None:
            lead = timedelta(hours=deemed.warn_before.amount)
            if at > self.calendar.working_time_before(due, lead):
                self.raised.add(Rule.SLA_DEEMED_APPROVAL_NEAR)
            if at > due:
                self.raised.add(Rule.SLA_DEEMED_APPROVED)
                self.deemed_at = self.deemed_at or due

    def _apply(self, event: Event, step: Step) -> None:
        """Fold the event into what the next one is judged against."""
        at = event.occurred_at
        self.redo.discard(event.step)
        self.first_at.setdefault(event.step, at)
        if step.clock == "stop" and self.stopped_at is None:
            self.stopped_at = at
        elif step.clock == "resume" and self.stopped_at is not None:
            self.stops.append(ClockStop(self.stopped_at, max(at, self.stopped_at)))
            self.stopped_at = None
        if step.clock == "resume":
            self.redo |= self.service.allowed_after(event.step)
        self.opened_at = at if self.opened_at is None else self.opened_at
        self.current = event.step
        self.closed = self.closed or step.terminal
        self.done.add(event.step)
        if step.clock is None:
            self.previous_at = at
        self.latest_at = at
        self.latest_seq = event.seq if event.seq is not None else self.latest_seq


def _assessed(event: Event) -> Decimal | None:
    try:
        return assessed_amount(event.attributes)
    except ValueError:
        return None
