"""The rules of a case's fee: the tariff, the case's assessment, and how it is paid."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from pydantic import JsonValue

from pantau.core.alerts import Alert, Rule
from pantau.core.events import Event, Payment, assessed_amount
from pantau_tracker.domain.case import Assessment, CaseState
from pantau_tracker.domain.rulebook.event_alerts import event_alert, names
from pantau_tracker.domain.rulebook.family import Family, Stage
from pantau_tracker.domain.standards import CaseStandard


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
        event_alert(
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
        event_alert(
            Rule.FEE_PAID_BEFORE_ASSESSMENT,
            event,
            now,
            f"Payment of IDR {_rupiah(payment.amount)} before the fee was assessed "
            f"({', '.join(sorted(assessing))})",
            evidence={"amount": format(payment.amount, "f"), "assessment_steps": names(assessing)},
        )
    ]


def _no_receipt(
    state: CaseState | None, event: Event, payment: Payment, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """fee.no_receipt: no receipt number, where the catalog says how the fee is paid."""
    if not standard.service.describes_payment or (payment.receipt or "").strip():
        return []
    return [
        event_alert(
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
        event_alert(
            Rule.FEE_CASH_TO_OFFICER,
            event,
            now,
            f"Payment of IDR {_rupiah(payment.amount)} in cash{officer}; the service is paid "
            f"only through {', '.join(sorted(channels))}",
            evidence={
                "amount": format(payment.amount, "f"),
                "channel": payment.channel,
                "payment_channels": names(channels),
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
        event_alert(
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
        event_alert(Rule.FEE_MISMATCH, event, now, message, evidence=evidence, event_ids=event_ids)
    ]


def _rupiah(amount: Decimal) -> str:
    return format(amount.normalize(), ",f") if amount == amount.to_integral() else f"{amount:,}"


FAMILY = Family(
    "fee",
    Stage.EVENT,
    (
        Rule.FEE_MISMATCH,
        Rule.FEE_PAID_TWICE,
        Rule.FEE_PAID_BEFORE_ASSESSMENT,
        Rule.FEE_NO_RECEIPT,
        Rule.FEE_CASH_TO_OFFICER,
    ),
    detect_fee,
)
