"""The fee of a case against its own assessment: an illegal levy within the tariff, an assessment
off the tariff, a bill paid twice or before it was assessed, a payment without a receipt, and
cash handed over where only the bank or an online channel may take it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import samples
from pantau.core.alerts import FEE_RULES, RULES, Alert, Rule, alert_id
from pantau.core.catalog import parse_catalog
from pantau.core.events import Event, canonical_bytes
from pantau.core.fast_events import checked_event
from pantau.history.records import event_columns, event_of_canonical
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.standards import CaseStandard, Standards
from pantau_tracker.domain.tracking import handle_event

WIB = timezone(timedelta(hours=7))
AGENCY = "kota-malang.dpmptsp"
CASE = "PBG-2026-0077"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=WIB)  # Monday, in office hours
ASSESSOR = {"id": "198903172014021002", "role": "assessor"}
VERIFIER = {"id": "198702142010011003", "role": "verifier"}
HEAD = {"id": "197512302000031001", "role": "head"}


def catalog(**service: Any) -> dict[str, Any]:
    """The contract's PBG service (its tariff of 100,000 to 50,000,000), paid at the bank or
    online, its fee assessed at a step of its own; no step limits, clock stops or order of
    steps, and a calendar without days off; `service` changes it further."""
    return samples.catalog_data(
        samples.pbg_service(
            **{
                "payment_channels": ["bank", "online"],
                "steps": [
                    {"code": "submitted", "start": True},
                    {"code": "verified", "roles": ["verifier"]},
                    {"code": "fee_assessed", "roles": ["assessor"], "assessment": True},
                    {"code": "paid", "payment": True},
                    {"code": "approved", "roles": ["head"]},
                    {"code": "issued", "terminal": True},
                ],
                "next": None,
                "mandatory": None,
                "separate": None,
                **service,
            }
        ),
        calendars={"id-gov": samples.id_gov_calendar(days_off=False)},
    )


def _standard(data: dict[str, Any]) -> CaseStandard:
    found = Standards(parse_catalog(data, "test-catalog")).for_case(AGENCY, "pbg")
    assert found is not None
    return found


PBG = _standard(catalog())


def event(step: str, hours: float, n: int, **extra: Any) -> Event:
    return samples.numbered_event(CASE, "pbg", step, T0 + timedelta(hours=hours), n, **extra)


def assessed(amount: str | None, n: int = 3, hours: float = 3) -> Event:
    attributes = {} if amount is None else {"assessed_amount": amount}
    return event("fee_assessed", hours, n, officer=ASSESSOR, attributes=attributes)


def paid(
    amount: str, n: int = 4, hours: float = 4, *, receipt: str | None = "KW-88121", **how: Any
) -> Event:
    payment = {"amount": amount, "receipt": receipt, **how}
    return event("paid", hours, n, payment={k: v for k, v in payment.items() if v is not None})


def opened() -> list[Event]:
    """Submitted and verified: the case waits for its fee to be assessed."""
    return [event("submitted", 0, 1), event("verified", 1, 2, officer=VERIFIER)]


def run(events: Iterable[Event], standard: CaseStandard = PBG) -> tuple[CaseState, list[Alert]]:
    return samples.fold_case(events, standard)


def rules(alerts: Iterable[Alert]) -> list[tuple[str, str | None]]:
    return [(alert.rule.value, alert.step) for alert in alerts]


def test_paying_the_assessed_fee_raises_nothing() -> None:
    """Assessed at 1,500,000 and paid 1,500,000 at the bank with a receipt: a clean case."""
    approved, issued = event("approved", 5, 5, officer=HEAD), event("issued", 6, 6)
    _, alerts = run(
        [*opened(), assessed("1500000"), paid("1500000.00", channel="bank"), approved, issued]
    )
    assert alerts == []


def test_a_levy_on_top_of_the_assessment_is_a_mismatch_though_within_the_tariff() -> None:
    """Assessed at 1,500,000, the applicant pays 1,750,000: well inside the tariff of 100,000 to
    50,000,000, but not what this case owes; the alert names the assessment it was compared with."""
    assessment = assessed("1500000")
    payment = paid("1750000", channel="online")
    _, alerts = run([*opened(), assessment, payment])
    assert rules(alerts) == [("fee.mismatch", "paid")]
    (alert,) = alerts
    assert alert.evidence == {
        "compared": "payment",
        "amount": "1750000",
        "compared_with": "assessment",
        "assessment_event_id": assessment.event_id,
        "assessed_amount": "1500000",
    }
    assert alert.event_ids == [assessment.event_id, payment.event_id]
    assert alert.alert_id == alert_id("fee.mismatch", AGENCY, CASE, payment.event_id)
    assert "differs from the fee assessed for the case, IDR 1,500,000" in alert.message


def test_paying_less_than_the_assessment_is_a_mismatch_too() -> None:
    """Paying 1,000,000 of an assessed 1,500,000 is not the fee of the case either."""
    _, alerts = run([*opened(), assessed("1500000"), paid("1000000")])
    assert rules(alerts) == [("fee.mismatch", "paid")]


def test_an_assessment_outside_the_tariff_is_a_mismatch_at_the_assessing_step() -> None:
    """Assessed at 60,000,000 where the tariff ends at 50,000,000: the assessment itself is
    off the tariff; paying exactly it then raises nothing more."""
    assessment = assessed("60000000")
    _, alerts = run([*opened(), assessment, paid("60000000")])
    assert rules(alerts) == [("fee.mismatch", "fee_assessed")]
    (alert,) = alerts
    assert alert.evidence == {
        "compared": "assessment",
        "assessed_amount": "60000000",
        "compared_with": "tariff",
        "tariff_min": "100000",
        "tariff_max": "50000000",
    }
    assert alert.officer_id == ASSESSOR["id"]
    assert alert.alert_id == alert_id("fee.mismatch", AGENCY, CASE, assessment.event_id)


def test_without_an_assessed_amount_a_payment_is_judged_against_the_tariff() -> None:
    """An assessing step that states no amount leaves only the tariff to compare with: a
    payment inside it raises nothing, one above it is a mismatch against the tariff."""
    _, within = run([*opened(), assessed(None), paid("1750000")])
    assert within == []
    _, above = run([*opened(), assessed(None), paid("55000000")])
    assert rules(above) == [("fee.mismatch", "paid")]
    assert above[0].evidence["compared_with"] == "tariff"


def test_a_second_payment_for_one_assessment_is_paid_twice() -> None:
    """The assessed fee is paid, then paid again a day later (out of the flow, too): the second
    payment is fee.paid_twice, naming the assessment and the first payment."""
    assessment, first = assessed("1500000"), paid("1500000")
    second = paid("1500000", n=5, hours=28, receipt="KW-88190")
    _, alerts = run([*opened(), assessment, first, second])
    assert rules(alerts) == [("process.invalid_transition", "paid"), ("fee.paid_twice", "paid")]
    twice = alerts[1]
    assert twice.evidence == {
        "amount": "1500000",
        "assessment_event_id": assessment.event_id,
        "assessed_amount": "1500000",
        "first_payment_event_id": first.event_id,
    }
    assert twice.event_ids == [assessment.event_id, first.event_id, second.event_id]


def test_a_new_assessment_is_paid_once_more_without_an_alert() -> None:
    """A fee assessed anew (after a changed design, say) is a new bill: paying it is no second
    payment of the first one, and it is compared with the new amount."""
    data = catalog(
        next={
            "submitted": ["verified"],
            "verified": ["fee_assessed"],
            "fee_assessed": ["paid"],
            "paid": ["fee_assessed", "approved"],
            "approved": ["issued"],
        }
    )
    standard = _standard(data)
    events = [
        *opened(),
        assessed("1500000"),
        paid("1500000"),
        assessed("2000000", n=5, hours=30),
        paid("2000000", n=6, hours=31, receipt="KW-88190"),
    ]
    _, alerts = run(events, standard)
    assert alerts == []


def test_a_payment_before_the_fee_was_assessed() -> None:
    """Paid right after verification, before any fee_assessed: the amount cannot have come
    from an assessment; it is still judged against the tariff, and within it that is all."""
    _, alerts = run([*opened(), paid("1500000", n=3, hours=2)])
    assert rules(alerts) == [
        ("process.invalid_transition", "paid"),
        ("fee.paid_before_assessment", "paid"),
    ]
    assert alerts[1].evidence == {"amount": "1500000", "assessment_steps": ["fee_assessed"]}


def test_a_service_without_an_assessing_step_is_paid_at_any_point() -> None:
    """Where the catalog names no assessing step, nothing is paid before an assessment."""
    steps = [dict(step) for step in catalog()["services"][0]["steps"]]
    steps[2].pop("assessment")
    _, alerts = run([*opened(), paid("1500000", n=3, hours=2)], _standard(catalog(steps=steps)))
    assert rules(alerts) == [("process.invalid_transition", "paid")]


@pytest.mark.parametrize("receipt", [None, "   "])
def test_a_payment_without_an_official_receipt_number(receipt: str | None) -> None:
    """A payment recorded without a receipt number (absent or blank) is fee.no_receipt."""
    _, alerts = run([*opened(), assessed("1500000"), paid("1500000", receipt=receipt)])
    assert rules(alerts) == [("fee.no_receipt", "paid")]
    assert alerts[0].evidence == {"amount": "1500000"}


def test_a_catalog_that_says_nothing_of_assessment_or_channels_is_judged_as_before() -> None:
    """Without an assessing step or payment channels, a payment without a receipt, in cash,
    before anything was assessed and paid twice raises only what the contract's rules say."""
    data = catalog()
    del data["services"][0]["payment_channels"]
    data["services"][0]["steps"][2].pop("assessment")
    first = paid("1500000", receipt=None, channel="cash")
    second = paid("1500000", n=5, hours=28, receipt=None, channel="cash")
    _, alerts = run([*opened(), assessed("1500000"), first, second], _standard(data))
    assert rules(alerts) == [("process.invalid_transition", "paid")]


def test_cash_handed_to_an_officer_on_a_service_paid_only_at_the_bank_or_online() -> None:
    """The retribution is paid only at the bank or online; an officer taking it in cash is
    fee.cash_to_officer, with the officer on the alert, even for the right amount."""
    cashier = {"id": "199001012015031004", "role": "assessor"}
    payment = paid("1500000", channel="cash")
    taken = Event.model_validate({**payment.model_dump(mode="json"), "officer": cashier})
    _, alerts = run([*opened(), assessed("1500000"), taken])
    assert rules(alerts) == [("fee.cash_to_officer", "paid")]
    (alert,) = alerts
    assert alert.officer_id == cashier["id"]
    assert alert.evidence == {
        "amount": "1500000",
        "channel": "cash",
        "payment_channels": ["bank", "online"],
    }
    assert f"in cash to officer {cashier['id']}" in alert.message


@pytest.mark.parametrize("channel", ["bank", "online", None])
def test_the_bank_online_or_an_unstated_channel_raise_nothing(channel: str | None) -> None:
    """A payment at the bank, online, or without its channel stated is not judged cash."""
    _, alerts = run([*opened(), assessed("1500000"), paid("1500000", channel=channel)])
    assert alerts == []


def test_cash_is_allowed_where_the_catalog_restricts_no_channel() -> None:
    """A service without `payment_channels` may be paid in cash."""
    data = catalog()
    del data["services"][0]["payment_channels"]
    standard = _standard(data)
    _, alerts = run([*opened(), assessed("1500000"), paid("1500000", channel="cash")], standard)
    assert alerts == []


def test_an_unreadable_assessed_amount_from_kafka_is_an_assessment_of_unknown_amount() -> None:
    """The intake refuses a malformed amount; one published straight to Kafka leaves the case
    assessed for an amount not known, so its payment is judged against the tariff."""
    state, alerts = run([*opened(), assessed("1.500.000"), paid("1750000")])
    assert alerts == []
    assert state.assessment is not None
    assert state.assessment.amount is None
    assert state.assessment.paid_by == f"{CASE}:4"


def test_the_assessment_survives_the_state_store() -> None:
    """The case state keeps its assessment and its payment through storage; a state stored
    before assessments were known reads as one without."""
    state, _ = run([*opened(), assessed("1500000.50"), paid("1500000.50")])
    document = state.to_document()
    assert document["assessment"] == {
        "event_id": f"{CASE}:3",
        "assessed_at": "2026-11-23T12:00:00+07:00",
        "amount": "1500000.50",
        "paid_by": f"{CASE}:4",
    }
    assert CaseState.from_document(document) == state
    del document["assessment"]
    assert CaseState.from_document(document).assessment is None


def test_a_redelivered_payment_gives_the_same_alerts_and_no_second_payment() -> None:
    """At-least-once delivery: the same payment event twice is one payment, its alerts repeated
    byte for byte, never a fee.paid_twice."""
    state, first = run([*opened(), assessed("1500000"), paid("1750000")])
    again = handle_event(state, paid("1750000"), T0 + timedelta(hours=5), PBG)
    assert again.duplicate
    assert [a.to_json_bytes() for a in again.alerts] == [a.to_json_bytes() for a in first]


def test_the_documented_rule_table_is_the_code_s() -> None:
    """docs/contract-extensions.md section 7 lists fee.mismatch and the four fee rules with the
    category and severity of the rule table, each triggered by its event."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "contract-extensions.md"
    section = doc.read_text(encoding="utf-8").split("## 7.")[1]
    rows = re.findall(
        r"^\| `(fee\.[a-z_]+)` \| .* \| ([a-z_]+) \| ([a-z]+) \| event_id \|$", section, re.M
    )
    assert {rule for rule, _, _ in rows} == {Rule.FEE_MISMATCH, *FEE_RULES}
    for rule, category, severity in rows:
        assert (RULES[rule].category.value, RULES[rule].severity.value) == (category, severity)


def test_the_history_of_record_keeps_the_channel_and_the_assessed_amount() -> None:
    """The hashed canonical form of an event carries its payment channel and assessed amount,
    reads back as the same event, and the sink's fast reading of the record agrees with it."""
    for item in (assessed("1500000.00"), paid("1500000", channel="cash")):
        canonical = canonical_bytes(item)
        assert event_of_canonical(canonical.decode("utf-8")) == item
        assert event_columns(event_of_canonical(canonical.decode("utf-8"))) == event_columns(item)
        fast = checked_event(item.to_json_bytes())
        assert fast is not None
        assert fast.canonical == canonical
    assert b'"channel":"cash"' in canonical_bytes(paid("1500000", channel="cash"))
