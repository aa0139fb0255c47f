"""The alert of contract section 5: rule table, deterministic ids, the model and its JSON."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pantau.core.alerts import (
    RULES,
    Alert,
    Category,
    Rule,
    Severity,
    alert_id,
    format_detected_at,
    make_alert,
)
from pantau.core.events import describe_errors
from samples import CONTRACT_ALERT, contract_alert, sample_alert

WIB = timezone(timedelta(hours=7))
NOW = datetime(2026, 11, 27, 10, 2, 1, 120000, tzinfo=WIB)
AGENCY = "kota-malang.dpmptsp"
CASE = "PBG-2026-000123"

CONTRACT_RULES = {
    "sla.step_overdue": "undue_delay",
    "sla.case_overdue": "undue_delay",
    "process.invalid_transition": "procedure_deviation",
    "process.skipped_step": "procedure_deviation",
    "process.after_terminal": "procedure_deviation",
    "process.unknown_case": "procedure_deviation",
    "process.reason_missing": "impropriety",
    "duty.same_officer": "abuse_of_authority",
    "duty.role_not_allowed": "abuse_of_authority",
    "fee.mismatch": "improper_request",
    "time.backdated": "integrity",
    "time.future": "integrity",
    "time.out_of_order": "integrity",
    "integrity.conflicting_duplicate": "integrity",
}

# What every alert carries, whatever its rule.
REQUIRED_FIELDS = (
    "alert_id",
    "rule",
    "category",
    "severity",
    "agency",
    "service",
    "case_id",
    "detected_at",
    "message",
)

# The cross-case rules and the applicants' reports of docs/contract-extensions.md, added beside
# the contract's fourteen (a report's category follows its kind; the table holds the default).
EXTENSION_RULES = {
    "queue.jump": "discrimination",
    "speed.too_fast": "improper_request",
    "officer.burst": "procedure_deviation",
    "applicant.broker": "improper_request",
    "sla.clock_reset_abuse": "undue_delay",
    "time.off_hours": "impropriety",
    "citizen.report": "improper_request",
    "sla.deemed_approval_near": "undue_delay",
    "sla.deemed_approved": "undue_delay",
    "process.after_deemed_approval": "abuse_of_authority",
    "fee.paid_twice": "improper_request",
    "fee.paid_before_assessment": "improper_request",
    "fee.no_receipt": "improper_request",
    "fee.cash_to_officer": "improper_request",
}


def parse(data: dict[str, Any]) -> Alert:
    """Validate `data` as JSON bytes, the way consumers read alerts."""
    return Alert.from_json_bytes(json.dumps(data).encode())


def fee_alert(**changes: Any) -> Alert:
    """A fee.mismatch alert made by make_alert, with keyword `changes`."""
    arguments: dict[str, Any] = {
        "agency": AGENCY,
        "service": "pbg",
        "case_id": CASE,
        "trigger": f"{AGENCY}:{CASE}:4",
        "detected_at": NOW,
        "message": "Payment 200000.00 outside the tariff 100000-150000",
    }
    return make_alert("fee.mismatch", **(arguments | changes))


# --- the rule table ------------------------------------------------------------------------------


def test_rule_table_is_the_contracts() -> None:
    """RULES has the fourteen contract rules and the extensions, each with its category."""
    expected = CONTRACT_RULES | EXTENSION_RULES
    assert {rule: info.category.value for rule, info in RULES.items()} == expected
    assert {rule.value for rule in Rule} == set(expected)


def test_rule_table_rows_are_consistent() -> None:
    """Each row is keyed by its own rule id and says when it fires."""
    for rule_id, info in RULES.items():
        assert info.rule == rule_id
        assert info.fires_when


def test_rules_can_be_looked_up_by_enum_or_text() -> None:
    """RULES[Rule.X] and RULES["x"] give the same row."""
    assert RULES[Rule.FEE_MISMATCH] is RULES["fee.mismatch"]


def test_rule_table_is_read_only() -> None:
    """The rule table cannot be changed at run time."""
    with pytest.raises(TypeError):
        RULES["fee.mismatch"] = RULES["time.future"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("rule", "severity"),
    [
        ("integrity.conflicting_duplicate", Severity.CRITICAL),
        ("duty.same_officer", Severity.HIGH),
        ("fee.mismatch", Severity.HIGH),
        ("time.backdated", Severity.HIGH),
        ("sla.step_overdue", Severity.MEDIUM),
        ("sla.case_overdue", Severity.MEDIUM),
        ("process.invalid_transition", Severity.MEDIUM),
        ("fee.paid_twice", Severity.HIGH),
        ("fee.cash_to_officer", Severity.HIGH),
        ("fee.paid_before_assessment", Severity.MEDIUM),
        ("fee.no_receipt", Severity.MEDIUM),
    ],
)
def test_default_severities(rule: str, severity: Severity) -> None:
    """The default severities the operators were promised."""
    assert RULES[rule].severity is severity


def test_vocabularies_are_the_contracts() -> None:
    """Severities are low|medium|high|critical; discrimination is used by an extension rule."""
    assert [s.value for s in Severity] == ["low", "medium", "high", "critical"]
    assert set(CONTRACT_RULES.values()) | {"discrimination"} == {c.value for c in Category}
    assert set(CONTRACT_RULES.values()) | set(EXTENSION_RULES.values()) == {
        c.value for c in Category
    }


# --- alert ids -----------------------------------------------------------------------------------


def test_alert_id_is_32_hex_digits() -> None:
    """An alert id is 32 lowercase hex digits."""
    assert re.fullmatch(r"[0-9a-f]{32}", alert_id("fee.mismatch", AGENCY, CASE, "e1"))


def test_alert_id_is_pinned() -> None:
    """The id of a fixed occurrence is pinned: every process, worker and release computes it."""
    assert alert_id("duty.same_officer", AGENCY, CASE, f"{AGENCY}:{CASE}:5") == (
        "6b865044a18aa3c1814c03ceb7dd50b9"
    )


# Every code point but lone surrogates, which no UTF-8 text carries.
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]))


@settings(max_examples=500)
@given(st.lists(ANY_TEXT, min_size=3, max_size=3))
def test_alert_id_hashes_the_json_array_it_documents(texts: list[str]) -> None:
    """The id is SHA-256 over `json.dumps(["pantau.alert/v1", rule, agency, case_id, trigger],
    ensure_ascii=False, separators=(",", ":"))` in UTF-8, for any text (escapes included)."""
    agency, case_id, trigger = texts
    documented = json.dumps(
        ["pantau.alert/v1", "fee.mismatch", agency, case_id, trigger],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    expected = hashlib.sha256(documented).hexdigest()[:32]
    assert alert_id("fee.mismatch", agency, case_id, trigger) == expected


def test_alert_id_accepts_the_enum() -> None:
    """Rule.X and its text give the same id."""
    assert alert_id(Rule.FEE_MISMATCH, AGENCY, CASE, "e1") == alert_id(
        "fee.mismatch", AGENCY, CASE, "e1"
    )


@pytest.mark.parametrize(
    "other",
    [
        ("time.future", AGENCY, CASE, "e1"),
        ("fee.mismatch", "kota-batu.dpmptsp", CASE, "e1"),
        ("fee.mismatch", AGENCY, "PBG-2026-000124", "e1"),
        ("fee.mismatch", AGENCY, CASE, "e2"),
        ("fee.mismatch", AGENCY, CASE, "e1 "),
        ("fee.mismatch", AGENCY, CASE + "e", "1"),
        ("fee.mismatch", AGENCY, CASE + '","e', "1"),
    ],
)
def test_alert_id_differs_for_different_occurrences(other: tuple[str, str, str, str]) -> None:
    """Another rule, agency, case or trigger gives another id, also when the parts shift."""
    assert alert_id(*other) != alert_id("fee.mismatch", AGENCY, CASE, "e1")


def test_alert_id_rejects_an_unknown_rule() -> None:
    """Only rules of the table have ids."""
    with pytest.raises(ValueError, match=r"fee\.mismatched"):
        alert_id("fee.mismatched", AGENCY, CASE, "e1")


# --- make_alert ----------------------------------------------------------------------------------


def test_make_alert_fills_id_category_and_severity() -> None:
    """make_alert takes category and severity from the table and the id from alert_id."""
    alert = fee_alert()
    assert alert.alert_id == alert_id("fee.mismatch", AGENCY, CASE, f"{AGENCY}:{CASE}:4")
    assert alert.rule is Rule.FEE_MISMATCH
    assert alert.category is Category.IMPROPER_REQUEST
    assert alert.severity is Severity.HIGH
    assert alert.evidence == {}
    assert alert.event_ids == []
    assert (alert.step, alert.officer_id, alert.occurred_at) == (None, None, None)


def test_make_alert_takes_the_optional_fields() -> None:
    """Step, officer, occurred_at, evidence and event ids (any iterable) are carried over."""
    occurred = datetime(2026, 11, 27, 10, 0, tzinfo=WIB)
    alert = fee_alert(
        step="paid",
        officer_id="198702142010011003",
        occurred_at=occurred,
        evidence={"amount": "200000.00", "tariff": {"min": 100000, "max": 150000}},
        event_ids=(f"{AGENCY}:{CASE}:4",),
    )
    assert alert.step == "paid"
    assert alert.occurred_at == occurred
    assert alert.evidence["tariff"] == {"min": 100000, "max": 150000}
    assert alert.event_ids == [f"{AGENCY}:{CASE}:4"]


def test_make_alert_is_deterministic() -> None:
    """The same trigger detected twice gives equal alerts with equal bytes."""
    assert fee_alert().to_json_bytes() == fee_alert().to_json_bytes()


def test_make_alert_rejects_an_unknown_rule() -> None:
    """make_alert refuses a rule not in the table."""
    with pytest.raises(ValueError, match="not a valid Rule"):
        sample_alert("fee.unknown", case_id=CASE, detected_at=NOW)


def test_make_alert_validates_its_fields() -> None:
    """Invalid fields (here an upper-case agency) fail validation."""
    with pytest.raises(ValidationError):
        fee_alert(agency="KOTA")


# --- the model and its JSON ----------------------------------------------------------------------


def test_contract_example_is_a_valid_alert() -> None:
    """The example alert of contract section 5 validates."""
    alert = Alert.from_json_bytes(CONTRACT_ALERT.encode())
    assert alert.rule is Rule.DUTY_SAME_OFFICER
    assert alert.detected_at == datetime(2026, 11, 27, 3, 2, 1, 120000, tzinfo=UTC)
    assert alert.evidence == {"verified_by": "198702142010011003"}


def test_alert_json_round_trip_is_exact() -> None:
    """from_json_bytes(to_json_bytes(a)) == a, and the contract example survives byte for byte."""
    alert = Alert.from_json_bytes(CONTRACT_ALERT.encode())
    encoded = alert.to_json_bytes()
    assert Alert.from_json_bytes(encoded) == alert
    assert Alert.from_json_bytes(encoded).to_json_bytes() == encoded
    assert json.loads(encoded) == json.loads(CONTRACT_ALERT)


def test_alert_json_omits_absent_optional_fields() -> None:
    """step, officer_id and occurred_at are left out when absent; evidence and event_ids stay."""
    assert set(json.loads(fee_alert().to_json_bytes())) == {
        *REQUIRED_FIELDS,
        "evidence",
        "event_ids",
    }


@pytest.mark.parametrize(
    ("detected_at", "text"),
    [
        (datetime(2026, 11, 27, 10, 2, 1, 120000, tzinfo=WIB), "2026-11-27T03:02:01.120Z"),
        (datetime(2026, 11, 27, 10, 2, 1, 120999, tzinfo=WIB), "2026-11-27T03:02:01.120Z"),
        (datetime(2026, 11, 27, 3, 2, 1, tzinfo=UTC), "2026-11-27T03:02:01.000Z"),
        ("2026-11-27T10:02:01.12+07:00", "2026-11-27T03:02:01.120Z"),
        ("2026-11-27T03:02:01Z", "2026-11-27T03:02:01.000Z"),
        ("2026-11-26T23:02:01.999999-04:00", "2026-11-27T03:02:01.999Z"),
    ],
)
def test_detected_at_is_utc_with_milliseconds(detected_at: datetime | str, text: str) -> None:
    """detected_at is written in UTC with exactly three fraction digits and Z."""
    alert = Alert.model_validate(contract_alert(detected_at=detected_at))
    assert json.loads(alert.to_json_bytes())["detected_at"] == text
    assert alert.detected_at.tzinfo is UTC


def test_format_detected_at() -> None:
    """The helper gives the same form for any aware datetime."""
    assert format_detected_at(NOW) == "2026-11-27T03:02:01.120Z"


@pytest.mark.parametrize(
    "detected_at", ["2026-11-27T03:02:01.120", "2026-11-27 03:02:01Z", 1764212521, None]
)
def test_detected_at_must_be_rfc3339_with_offset(detected_at: Any) -> None:
    """Naive, space-separated or numeric detection times are rejected."""
    with pytest.raises(ValidationError):
        parse(contract_alert() | {"detected_at": detected_at})


def test_detected_at_from_python_must_be_aware() -> None:
    """A naive datetime cannot be a detection time."""
    with pytest.raises(ValidationError):
        fee_alert(detected_at=datetime(2026, 11, 27, 3, 2, 1))


def test_occurred_at_keeps_its_offset() -> None:
    """occurred_at of an alert is written with the event's own offset."""
    alert = parse(contract_alert(occurred_at="2026-11-27T10:02:00+07:00"))
    assert json.loads(alert.to_json_bytes())["occurred_at"] == "2026-11-27T10:02:00+07:00"


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_each_required_alert_field_is_required(field: str) -> None:
    """Leaving out any required field is an error naming that field."""
    with pytest.raises(ValidationError) as caught:
        parse(contract_alert(**{field: None}))
    assert describe_errors(caught.value) == [
        {"field": field, "message": "required field is missing"}
    ]


@pytest.mark.parametrize("field", ["step", "officer_id", "occurred_at", "evidence", "event_ids"])
def test_optional_alert_fields(field: str) -> None:
    """step, officer_id, occurred_at, evidence and event_ids may be left out."""
    parse(contract_alert(**{field: None}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rule", "duty.other_officer"),
        ("category", "integrity"),
        ("category", "unknown"),
        ("severity", "urgent"),
        ("severity", "High"),
        ("alert_id", ""),
        ("alert_id", "a" * 129),
        ("alert_id", "9c1e 7"),
        ("agency", "Kota"),
        ("step", "Approved"),
        ("officer_id", "budi santoso"),
        ("occurred_at", "2026-11-27T10:02:00"),
        ("message", ""),
        ("message", "m" * 2001),
        ("message", "bad\x00"),
        ("evidence", []),
        ("evidence", {"applicant": {"nik": "3507123456780001"}}),
        ("evidence", {"blob": "x" * 16 * 1024}),
        ("event_ids", "e1"),
        ("event_ids", ["e 1"]),
        ("event_ids", ["e"] * 1001),
        ("surprise", 1),
    ],
)
def test_invalid_alert_fields_are_rejected(field: str, value: Any) -> None:
    """Unknown rules, mismatched categories, bad formats and unknown fields are rejected."""
    with pytest.raises(ValidationError) as caught:
        parse(contract_alert() | {field: value})
    assert any(error["field"].startswith(field) for error in describe_errors(caught.value))


def test_category_must_match_the_rule() -> None:
    """An alert whose category is not its rule's says which category the rule has."""
    with pytest.raises(ValidationError) as caught:
        parse(contract_alert(category="integrity"))
    assert describe_errors(caught.value) == [
        {"field": "category", "message": "rule duty.same_officer has category abuse_of_authority"}
    ]


def test_severity_may_differ_from_the_default() -> None:
    """Severity is the table's default, not fixed: an alert may carry another."""
    assert parse(contract_alert(severity="critical")).severity is Severity.CRITICAL


def test_list_positions_appear_in_error_paths() -> None:
    """A bad event id in event_ids is reported as event_ids[i]."""
    with pytest.raises(ValidationError) as caught:
        parse(contract_alert(event_ids=["ok", "not ok"]))
    assert [error["field"] for error in describe_errors(caught.value)] == ["event_ids[1]"]


def test_alerts_are_immutable() -> None:
    """An alert cannot be changed after validation."""
    alert = fee_alert()
    with pytest.raises(ValidationError):
        alert.severity = Severity.LOW  # type: ignore[misc]


def test_alert_id_of_made_alert_is_reproducible_from_its_fields() -> None:
    """alert_id is SHA-256 over a JSON array of domain, rule, agency, case and trigger."""
    parts = ["pantau.alert/v1", "fee.mismatch", AGENCY, CASE, "e1"]
    digest = hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()
    assert alert_id("fee.mismatch", AGENCY, CASE, "e1") == digest[:32]
