"""The contract's rule detectors: plain functions of (state before, event, now, standard).

Each family of rules is one function returning alerts; which families judge an event is declared
as data in `EVENT_DETECTORS`. `now` is the trusted receive time of the event (broker append time)
and becomes the alert's `detected_at`, so replaying the same record gives the same alert.

Triggers (the per-rule identity of an occurrence, see `pantau.core.alerts.alert_id`):
- event-triggered rules: the triggering event_id (plus the other step of a separated pair, and
  the new content digest for conflicting duplicates);
- `sla.step_overdue`: `<anchor event_id>:<awaited step>`; `sla.case_overdue`: `case`.
  Both deadline rules use the deadline instant as `occurred_at` and `detected_at`, so the late
  arrival and the timer produce byte-identical alerts whichever notices first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from pydantic import JsonValue

from pantau.core.alerts import Alert, Rule, detector_alert
from pantau.core.events import Event, Payment, assessed_amount, format_rfc3339
from pantau_tracker.domain.case import Assessment, CaseState, is_out_of_order
from pantau_tracker.domain.deadlines import (
    StepDeadline,
    case_deadline,
    deemed_deadlines,
    step_deadlines,
)
from pantau_tracker.domain.standards import CaseStandard

Detector = Callable[[CaseState | None, Event, datetime, CaseStandard], list[Alert]]


def _event_alert(
    rule: Rule,
    event: Event,
    now: datetime,
    message: str,
    *,
    trigger: str | None = None,
    evidence: Mapping[str, JsonValue] | None = None,
    event_ids: Sequence[str] = (),
) -> Alert:
    return detector_alert(
        rule,
        agency=event.agency,
        service=event.service,
        case_id=event.case_id,
        trigger=trigger or event.event_id,
        detected_at=now,
        message=message,
        step=event.step,
        officer_id=None if event.officer is None else event.officer.id,
        occurred_at=event.occurred_at,
        evidence=evidence,
        event_ids=[*event_ids, event.event_id],
    )


def _names(names: Iterable[str], *, ordered: bool = False) -> list[JsonValue]:
    return list(names) if ordered else list(sorted(names))


# --- deadlines ----------------------------------------------------------------------------------


def step_overdue_alert(state: CaseState, deadline: StepDeadline) -> Alert:
    """The alert of a missed step deadline: the same content from the timer and a late arrival."""
    wait = deadline.wait
    return detector_alert(
        Rule.SLA_STEP_OVERDUE,
        agency=state.agency,
        service=state.service,
        case_id=state.case_id,
        trigger=wait.trigger,
        detected_at=deadline.due_at,
        occurred_at=deadline.due_at,
        step=wait.step,
        message=f"Step {wait.step} not done within {wait.sla} after {wait.anchor_step}",
        evidence={
            "awaited_step": wait.step,
            "after_step": wait.anchor_step,
            "since": format_rfc3339(wait.since),
            "sla": wait.sla,
            "due_at": format_rfc3339(deadline.due_at),
        },
        event_ids=[wait.anchor_event_id],
    )


def _case_deadline_alert(
    rule: Rule,
    state: CaseState,
    standard: CaseStandard,
    at: datetime,
    message: str,
    evidence: Mapping[str, JsonValue],
) -> Alert:
    """An alert on the whole case at a deadline instant `at` (its trigger is `case`), the same
    from the timer and from a late arrival."""
    return detector_alert(
        rule,
        agency=state.agency,
        service=state.service,
        case_id=state.case_id,
        trigger="case",
        detected_at=at,
        occurred_at=at,
        message=message,
        evidence={
            "sla": str(standard.service.sla),
            "opened_at": format_rfc3339(state.opened_at),
            **evidence,
        },
        event_ids=[state.opened_event_id],
    )


def case_overdue_alert(state: CaseState, standard: CaseStandard, due_at: datetime) -> Alert:
    """The alert of a missed service-standard limit for the whole case."""
    return _case_deadline_alert(
        Rule.SLA_CASE_OVERDUE,
        state,
        standard,
        due_at,
        f"Case not finished within the service standard of {standard.service.sla}",
        {"due_at": format_rfc3339(due_at)},
    )


def deemed_warning_alert(
    state: CaseState, standard: CaseStandard, warn_at: datetime, due_at: datetime
) -> Alert:
    """The warning that an undecided case of a deemed-approval service is about to be approved
    by law."""
    deemed = standard.service.deemed_approval
    warn_before = "" if deemed is None else str(deemed.warn_before)
    return _case_deadline_alert(
        Rule.SLA_DEEMED_APPROVAL_NEAR,
        state,
        standard,
        warn_at,
        f"Case still undecided {warn_before} before the service standard of "
        f"{standard.service.sla} runs out; then it is deemed approved",
        {"warn_before": warn_before, "deemed_approved_at": format_rfc3339(due_at)},
    )


def deemed_approved_alert(state: CaseState, standard: CaseStandard, due_at: datetime) -> Alert:
    """The alert of a case approved by law because its service time limit passed undecided."""
    return _case_deadline_alert(
        Rule.SLA_DEEMED_APPROVED,
        state,
        standard,
        due_at,
        f"Case undecided within the service standard of {standard.service.sla}: deemed approved",
        {"deemed_approved_at": format_rfc3339(due_at)},
    )


def deemed_by(
    state: CaseState, standard: CaseStandard, at: datetime
) -> tuple[datetime | None, datetime | None]:
    """The unfired deemed-approval warning and approval instants that passed before `at`."""
    if state.is_closed:
        return None, None
    warn, due = deemed_deadlines(state, standard)
    return (
        warn if warn is not None and not state.deemed_warned and warn < at else None,
        due if due is not None and state.deemed_approved_at is None and due < at else None,
    )


def overdue_by(
    state: CaseState, standard: CaseStandard, at: datetime
) -> tuple[list[StepDeadline], datetime | None]:
    """Unfired step deadlines that passed before `at`, and the case deadline if it passed."""
    if state.is_closed:
        return [], None
    steps = [d for d in step_deadlines(state, standard) if not d.wait.fired and d.due_at < at]
    case_due = None
    if not state.case_overdue_fired:
        due = case_deadline(state, standard)
        if due is not None and due < at:
            case_due = due
    return steps, case_due


# --- process ------------------------------------------------------------------------------------


def detect_process(
    state: CaseState | None, event: Event, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """unknown_case, after_terminal, invalid_transition, skipped_step, reason_missing,
    after_deemed_approval."""
    service = standard.service
    step = service.step(event.step)
    alerts: list[Alert] = []
    if step is None:
        return alerts
    if step.reason_required and not (event.reason or "").strip():
        alerts.append(
            _event_alert(
                Rule.PROCESS_REASON_MISSING,
                event,
                now,
                f"Step {event.step} requires a reason and none was given",
            )
        )
    if is_out_of_order(state, event):
        return alerts  # its place in the flow is unknown: judged by time.out_of_order instead
    if state is None:
        if not step.start:
            alerts.append(
                _event_alert(
                    Rule.PROCESS_UNKNOWN_CASE,
                    event,
                    now,
                    f"First event of the case is {event.step}, not a start step",
                    evidence={"start_steps": _names(service.start_steps)},
                )
            )
    elif state.is_closed:
        alerts.append(
            _event_alert(
                Rule.PROCESS_AFTER_TERMINAL,
                event,
                now,
                f"Step {event.step} after the case ended with {state.terminal_step}",
                evidence={"terminal_step": state.terminal_step},
                event_ids=[state.current_event_id],
            )
        )
        return alerts
    elif event.step not in service.allowed_after(state.current_step):
        alerts.append(
            _event_alert(
                Rule.PROCESS_INVALID_TRANSITION,
                event,
                now,
                f"Step {event.step} is not allowed after {state.current_step}",
                evidence={
                    "from_step": state.current_step,
                    "allowed": _names(service.allowed_after(state.current_step)),
                },
                event_ids=[state.current_event_id],
            )
        )
    if (
        state is not None
        and step.is_rejection
        and state.deemed_approved_at is not None
        and event.occurred_at > state.deemed_approved_at
    ):
        alerts.append(
            _event_alert(
                Rule.PROCESS_AFTER_DEEMED_APPROVAL,
                event,
                now,
                f"Case rejected with {event.step} after it was deemed approved at "
                f"{format_rfc3339(state.deemed_approved_at)}",
                evidence={"deemed_approved_at": format_rfc3339(state.deemed_approved_at)},
                event_ids=[state.opened_event_id],
            )
        )
    if step.is_success:
        done = frozenset() if state is None else state.done_steps()
        missing = sorted(service.mandatory - done)
        if missing:
            alerts.append(
                _event_alert(
                    Rule.PROCESS_SKIPPED_STEP,
                    event,
                    now,
                    f"Case ended with {event.step} without mandatory steps: {', '.join(missing)}",
                    evidence={"missing": _names(missing, ordered=True)},
                )
            )
    return alerts


# --- duty ---------------------------------------------------------------------------------------


def detect_duty(
    state: CaseState | None, event: Event, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """role_not_allowed and same_officer over the service's separated pairs."""
    service = standard.service
    step = service.step(event.step)
    alerts: list[Alert] = []
    if step is not None and step.roles:
        if event.officer is None:
            alerts.append(
                _event_alert(
                    Rule.DUTY_ROLE_NOT_ALLOWED,
                    event,
                    now,
                    f"Step {event.step} recorded without the officer who did it",
                    evidence={"allowed_roles": _names(step.roles)},
                )
            )
        elif event.officer.role not in step.roles:
            alerts.append(
                _event_alert(
                    Rule.DUTY_ROLE_NOT_ALLOWED,
                    event,
                    now,
                    f"Step {event.step} done by role {event.officer.role}, "
                    f"allowed: {', '.join(sorted(step.roles))}",
                    evidence={"role": event.officer.role, "allowed_roles": _names(step.roles)},
                )
            )
    if event.officer is None or state is None:
        return alerts
    officer = event.officer.id
    for first, second in service.separate:
        if event.step not in (first, second):
            continue
        other = second if event.step == first else first
        record = state.step_record(other)
        if record is not None and officer in record.officers:
            alerts.append(
                _event_alert(
                    Rule.DUTY_SAME_OFFICER,
                    event,
                    now,
                    f"Step {event.step} done by the officer who did {other}",
                    trigger=f"{event.event_id}:{other}",
                    evidence={
                        f"{other}_by": officer,
                        "separated": _names((first, second), ordered=True),
                    },
                    event_ids=[record.event_id],
                )
            )
    return alerts


# --- fee ----------------------------------------------------------------------------------------


def detect_fee(
    state: CaseState | None, event: Event, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """fee.mismatch (a payment against the case's assessment, else the tariff; an assessment
    against the tariff), paid_twice, paid_before_assessment, no_receipt, cash_to_officer."""
    alerts: list[Alert] = []
    step = standard.service.step(event.step)
    if step is not None and step.assessment:
        alerts.extend(_assessment_off_tariff(event, now, standard))
    payment = event.payment
    if payment is None:
        return alerts
    assessment = None if state is None else state.assessment
    alerts.extend(_payment_mismatch(event, payment, now, standard, assessment))
    if payment.amount > 0:  # something changed hands
        for judge in _PAYMENT_RULES:
            alerts.extend(judge(state, event, payment, now, standard))
    return alerts


def _paid_twice(
    state: CaseState | None, event: Event, payment: Payment, now: datetime, _: CaseStandard
) -> list[Alert]:
    """fee.paid_twice: the fee in force was paid already."""
    assessment = None if state is None else state.assessment
    if assessment is None or assessment.paid_by is None:
        return []
    return [
        _event_alert(
            Rule.FEE_PAID_TWICE,
            event,
            now,
            f"Payment of IDR {_rupiah(payment.amount)} for an assessment already paid",
            evidence={
                "amount": format(payment.amount, "f"),
                **_assessed(assessment),
                "first_payment_event_id": assessment.paid_by,
            },
            event_ids=[assessment.event_id, assessment.paid_by],
        )
    ]


def _paid_before_assessment(
    state: CaseState | None, event: Event, payment: Payment, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """fee.paid_before_assessment: the service assesses its fee and the case was not yet."""
    assessing = standard.service.assessment_steps
    if not assessing or (state is not None and assessing & state.done_steps()):
        return []
    return [
        _event_alert(
            Rule.FEE_PAID_BEFORE_ASSESSMENT,
            event,
            now,
            f"Payment of IDR {_rupiah(payment.amount)} before the fee was assessed "
            f"({', '.join(sorted(assessing))})",
            evidence={"amount": format(payment.amount, "f"), "assessment_steps": _names(assessing)},
        )
    ]


def _no_receipt(
    state: CaseState | None, event: Event, payment: Payment, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """fee.no_receipt: no receipt number, where the catalog says how the fee is paid."""
    if not standard.service.describes_payment or (payment.receipt or "").strip():
        return []
    return [
        _event_alert(
            Rule.FEE_NO_RECEIPT,
            event,
            now,
            f"Payment of IDR {_rupiah(payment.amount)} without an official receipt number",
            evidence={"amount": format(payment.amount, "f")},
        )
    ]


def _cash_to_officer(
    state: CaseState | None, event: Event, payment: Payment, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """fee.cash_to_officer: cash where the catalog's channels do not take it."""
    channels = standard.service.payment_channels
    if payment.channel != "cash" or channels is None or "cash" in channels:
        return []
    officer = "" if event.officer is None else f" to officer {event.officer.id}"
    return [
        _event_alert(
            Rule.FEE_CASH_TO_OFFICER,
            event,
            now,
            f"Payment of IDR {_rupiah(payment.amount)} in cash{officer}; the service is paid "
            f"only through {', '.join(sorted(channels))}",
            evidence={
                "amount": format(payment.amount, "f"),
                "channel": payment.channel,
                "payment_channels": _names(channels),
            },
        )
    ]


PaymentRule = Callable[[CaseState | None, Event, Payment, datetime, CaseStandard], list[Alert]]
# The rules on a payment above 0 beside fee.mismatch, in the order their alerts are published.
_PAYMENT_RULES: tuple[PaymentRule, ...] = (
    _paid_twice,
    _paid_before_assessment,
    _no_receipt,
    _cash_to_officer,
)


def _assessed(assessment: Assessment) -> dict[str, JsonValue]:
    found: dict[str, JsonValue] = {"assessment_event_id": assessment.event_id}
    if assessment.amount is not None:
        found["assessed_amount"] = format(assessment.amount, "f")
    return found


def _tariff(standard: CaseStandard) -> dict[str, JsonValue]:
    fee = standard.service.fee
    return {
        "compared_with": "tariff",
        "tariff_min": format(fee.min, "f"),
        "tariff_max": format(fee.max, "f"),
    }


def _tariff_text(standard: CaseStandard) -> str:
    fee = standard.service.fee
    if fee.is_fixed:
        return f"the tariff IDR {_rupiah(fee.min)}"
    return f"the tariff IDR {_rupiah(fee.min)}-{_rupiah(fee.max)}"


def _assessment_off_tariff(event: Event, now: datetime, standard: CaseStandard) -> list[Alert]:
    """fee.mismatch of an assessment that the tariff does not allow."""
    try:
        amount = assessed_amount(event.attributes)
    except ValueError:
        return []  # not an amount: the intake refuses it, the case keeps it as unknown
    fee = standard.service.fee
    if amount is None or fee.allows(amount):
        return []
    return [
        _event_alert(
            Rule.FEE_MISMATCH,
            event,
            now,
            f"Fee assessed at IDR {_rupiah(amount)}, outside {_tariff_text(standard)}",
            evidence={"compared": "assessment", "assessed_amount": format(amount, "f")}
            | _tariff(standard),
        )
    ]


def _payment_mismatch(
    event: Event,
    payment: Payment,
    now: datetime,
    standard: CaseStandard,
    assessment: Assessment | None,
) -> list[Alert]:
    """fee.mismatch of a payment: against the case's assessment when its amount is known,
    else against the tariff; any payment on a free service."""
    fee = standard.service.fee
    amount = payment.amount
    paid = f"Payment of IDR {_rupiah(amount)}"
    evidence: dict[str, JsonValue] = {"compared": "payment", "amount": format(amount, "f")}
    event_ids: list[str] = []
    if fee.is_free:
        if amount == 0:
            return []
        message = f"{paid} on a free service"
        evidence |= _tariff(standard)
    elif assessment is not None and assessment.amount is not None:
        if amount == assessment.amount:
            return []
        assessed = _rupiah(assessment.amount)
        message = f"{paid} differs from the fee assessed for the case, IDR {assessed}"
        evidence |= {"compared_with": "assessment", **_assessed(assessment)}
        event_ids = [assessment.event_id]
    elif fee.allows(amount):
        return []
    else:
        verb = "differs from" if fee.is_fixed else "outside"
        message = f"{paid} {verb} {_tariff_text(standard)}"
        evidence |= _tariff(standard)
    return [
        _event_alert(Rule.FEE_MISMATCH, event, now, message, evidence=evidence, event_ids=event_ids)
    ]


def _rupiah(amount: Decimal) -> str:
    return format(amount.normalize(), ",f") if amount == amount.to_integral() else f"{amount:,}"


# --- time ---------------------------------------------------------------------------------------


def detect_time(
    state: CaseState | None, event: Event, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """backdated (live mode only), future, out_of_order."""
    policy = standard.policy
    alerts: list[Alert] = []
    lag = now - event.occurred_at
    if event.mode == "live" and lag > policy.backdated_tolerance:
        alerts.append(
            _event_alert(
                Rule.TIME_BACKDATED,
                event,
                now,
                f"Live event received {_hours(lag.total_seconds())} after it occurred",
                evidence={
                    "received_at": format_rfc3339(now),
                    "tolerance_seconds": int(policy.backdated_tolerance.total_seconds()),
                },
            )
        )
    if event.occurred_at - now > policy.future_tolerance:
        alerts.append(
            _event_alert(
                Rule.TIME_FUTURE,
                event,
                now,
                f"Event occurs {_hours(-lag.total_seconds())} after it was received",
                evidence={
                    "received_at": format_rfc3339(now),
                    "tolerance_seconds": int(policy.future_tolerance.total_seconds()),
                },
            )
        )
    if state is not None and is_out_of_order(state, event):
        alerts.append(
            _event_alert(
                Rule.TIME_OUT_OF_ORDER,
                event,
                now,
                f"Step {event.step} is earlier than the case's latest applied event",
                evidence={
                    "latest_seq": state.last_seq,
                    "latest_occurred_at": format_rfc3339(state.latest_occurred_at),
                    "seq": event.seq,
                },
                event_ids=[state.current_event_id],
            )
        )
    return alerts


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


# Which rule families judge each accepted event, in the order their alerts are published.
# The deadline rules are not here: they look at the state before any event (see tracking).
EVENT_DETECTORS: Mapping[str, Detector] = MappingProxyType(
    {
        "process": detect_process,
        "duty": detect_duty,
        "fee": detect_fee,
        "time": detect_time,
    }
)
