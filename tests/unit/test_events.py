"""The event models of contract section 2: validation, JSON, canonical form, pseudonymisation."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pantau.core.events import (
    ATTRIBUTES_MAX_BYTES,
    ORJSON_PLAIN,
    Applicant,
    Event,
    IncomingEvent,
    _compact_json,
    canonical_bytes,
    case_of_key,
    contains_raw_nik,
    content_digest,
    describe_errors,
    event_key,
    format_rfc3339,
    parse_rfc3339,
)
from pantau.core.pseudonym import pseudonymise_nik
from samples import CONTRACT_EVENT, REQUIRED_EVENT_FIELDS, changed, minimal_event
from samples import contract_event as full
from strategies import json_documents

KEY = b"unit-test-pseudonym-key-32-bytes"
NIK = "3507123456780001"
NIP = "198702142010011003"


def minimal(**changes: Any) -> dict[str, Any]:
    """The required fields of a valid event, with `changes` applied (None deletes a field)."""
    return changed(minimal_event("PBG-2026-000123"), changes)


def parse(data: dict[str, Any], model: type[Event] | type[IncomingEvent] = Event) -> Any:
    """Validate `data` as JSON bytes, the way the services receive events."""
    return model.model_validate_json(json.dumps(data, ensure_ascii=False).encode("utf-8"))


def errors_of(
    data: dict[str, Any], model: type[Event] | type[IncomingEvent] = Event
) -> dict[str, str]:
    """The friendly errors of invalid `data`, as {field: message}."""
    with pytest.raises(ValidationError) as caught:
        parse(data, model)
    return {error["field"]: error["message"] for error in describe_errors(caught.value)}


def accepts(field: str, value: Any) -> bool:
    """Whether an otherwise valid full event accepts `value` in top-level `field`."""
    try:
        parse(full(**{field: value}))
    except ValidationError:
        return False
    return True


# --- the contract example and required fields ----------------------------------------------------


def test_contract_example_is_a_valid_event() -> None:
    """The example event of contract section 2 validates, field for field."""
    event = Event.from_json_bytes(CONTRACT_EVENT.encode())
    assert event.event_id == "kota-malang.dpmptsp:PBG-2026-000123:3"
    assert event.occurred_at == datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(hours=7)
    assert event.seq == 3
    assert event.officer is not None
    assert event.officer.id == NIP
    assert event.applicant == Applicant(ref="k1:3f9a...")
    assert event.payment is not None
    assert event.payment.amount == Decimal("150000.00")
    assert event.channel == "counter"
    assert event.mode == "live"
    assert event.attributes == {}


def test_minimal_event_gets_defaults() -> None:
    """Only the six required fields are needed; mode defaults to live, attributes to {}."""
    event = parse(minimal())
    assert event.mode == "live"
    assert event.attributes == {}
    assert (event.seq, event.officer, event.applicant, event.payment) == (None, None, None, None)
    assert (event.reason, event.channel) == (None, None)


@pytest.mark.parametrize("field", REQUIRED_EVENT_FIELDS)
def test_each_required_field_is_required(field: str) -> None:
    """Leaving out any required field is an error naming that field."""
    assert errors_of(minimal(**{field: None})) == {field: "required field is missing"}


def test_optional_fields_accept_null_as_absent() -> None:
    """An explicit null in an optional field means the same as leaving it out."""
    explicit = parse(minimal(seq=None) | {"seq": None, "officer": None, "reason": None})
    assert explicit == parse(minimal())


# --- unknown fields and strict types -------------------------------------------------------------


def test_unknown_top_level_field_is_rejected() -> None:
    """A field the contract does not define is rejected at the top level."""
    assert errors_of(full(priority="high")) == {"priority": "unknown field"}


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("officer", {"id": NIP, "role": "verifier", "name": "Budi"}, "officer.name"),
        ("payment", {"amount": "1.00", "method": "qris"}, "payment.method"),
        ("applicant", {"ref": "k1:ab", "name": "Siti"}, "applicant.name"),
    ],
)
def test_unknown_nested_field_is_rejected(field: str, value: Any, path: str) -> None:
    """Unknown fields are rejected inside officer, payment and applicant too."""
    assert errors_of(full(**{field: value})) == {path: "unknown field"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("event_id", 123), ("case_id", 123), ("step", ["verified"]), ("agency", True)],
)
def test_strings_are_not_coerced(field: str, value: Any) -> None:
    """A number, list or boolean where the contract wants a string is an error, not coerced."""
    assert not accepts(field, value)


def test_events_are_immutable() -> None:
    """An event cannot be changed after validation."""
    event = parse(minimal())
    with pytest.raises(ValidationError):
        event.step = "verified"


# --- bounds of the identifiers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("event_id", "a", True),
        ("event_id", "A" * 128, True),
        ("event_id", "A" * 129, False),
        ("event_id", "", False),
        ("event_id", "agency:case/1", False),
        ("event_id", "with space", False),
        ("event_id", "abc\n", False),
        ("agency", "abc", True),
        ("agency", "a" * 64, True),
        ("agency", "a" * 65, False),
        ("agency", "ab", False),
        ("agency", "Kota-malang", False),
        ("agency", "-kota", False),
        ("agency", "kota_malang", False),
        ("agency", "kota|malang", False),
        ("service", "pb", True),
        ("service", "p" * 64, True),
        ("service", "p" * 65, False),
        ("service", "p", False),
        ("service", "pbg.2", False),
        ("service", "_pbg", False),
        ("step", "a", True),
        ("step", "s" * 64, True),
        ("step", "s" * 65, False),
        ("step", "", False),
        ("step", "Verified", False),
        ("step", "verified\n", False),
        ("case_id", "x", True),
        ("case_id", "Kasus 12/2026 Ñ", True),
        ("case_id", "c" * 128, True),
        ("case_id", "c" * 129, False),
        ("case_id", "", False),
        ("case_id", "PBG\x00", False),
        ("case_id", "PBG\n1", False),
        ("case_id", "PBG\x7f", False),
        ("case_id", "PBG\u200b1", False),
        ("reason", "r" * 2000, True),
        ("reason", "r" * 2001, False),
        ("reason", "", False),
        ("reason", "berkas lengkap\nmenunggu\tverifikasi\r\n", True),
        ("reason", "bad\x00byte", False),
        ("channel", "online", True),
        ("channel", "counter", True),
        ("channel", "mobile", True),
        ("channel", "other", True),
        ("channel", "email", False),
        ("mode", "backfill", True),
        ("mode", "replay", False),
        ("mode", None, True),
    ],
)
def test_string_field_bounds(field: str, value: str | None, ok: bool) -> None:
    """Each string field accepts exactly its contract format and length."""
    assert accepts(field, value) is ok


def test_mode_null_is_rejected() -> None:
    """mode has a default but no null: null is an error, not live."""
    assert "mode" in errors_of(full() | {"mode": None})


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (1, True),
        (2**63 - 1, True),
        (0, False),
        (-1, False),
        (2**63, False),
        (True, False),
        (3.0, False),
        ("3", False),
    ],
)
def test_seq_is_a_positive_integer(value: Any, ok: bool) -> None:
    """seq is an integer >= 1 (and fits 64 bits); booleans, floats and strings are rejected."""
    assert accepts("seq", value) is ok


@pytest.mark.parametrize(
    ("officer", "ok"),
    [
        ({"id": NIP, "role": "verifier"}, True),
        ({"id": "budi@kota-malang.go.id", "role": "head"}, True),
        ({"id": "x" * 64, "role": "r" * 64}, True),
        ({"id": "x" * 65, "role": "verifier"}, False),
        ({"id": NIP, "role": "r" * 65}, False),
        ({"id": "", "role": "verifier"}, False),
        ({"id": "budi santoso", "role": "verifier"}, False),
        ({"id": NIP}, False),
        ({"role": "verifier"}, False),
        ({"id": NIP, "role": "Verifier"}, False),
        ({"id": 198702142010011003, "role": "verifier"}, False),
    ],
)
def test_officer_bounds(officer: dict[str, Any], ok: bool) -> None:
    """An officer needs a bounded token id (an 18-digit NIP fits) and a role code."""
    assert accepts("officer", officer) is ok


# --- payment -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", ["150000.00", "150000", "0", "0.5", "0.05", "999999999999999.99"]
)
def test_payment_accepts_decimal_strings(amount: str) -> None:
    """Non-negative decimal strings with at most 2 decimals and 15 integer digits are accepted."""
    event = parse(full(payment={"amount": amount}))
    assert event.payment.amount == Decimal(amount)
    assert event.payment.currency == "IDR"


@pytest.mark.parametrize(
    "amount",
    [
        "-1",
        "-0",
        "+1",
        "01",
        "1.234",
        "1e5",
        " 1",
        "1 ",
        "1,000",
        "1.000,00",
        "",
        "1.",
        ".5",
        "1000000000000000",
        "NaN",
        "Infinity",
        150000,
        150000.0,
        True,
        None,
    ],
)
def test_payment_rejects_other_amounts(amount: Any) -> None:
    """Signs, exponents, separators, >2 decimals, 16+ digits and JSON numbers are rejected."""
    assert "payment.amount" in errors_of(full(payment={"amount": amount}))


def test_payment_amount_keeps_its_written_form() -> None:
    """The amount serialises as written ("150000.00" stays "150000.00", "150000" stays)."""
    for written in ("150000.00", "150000", "0.5"):
        event = parse(full(payment={"amount": written}))
        assert json.loads(event.to_json_bytes())["payment"]["amount"] == written


def test_payment_accepts_decimal_from_python() -> None:
    """Code may build a payment from a Decimal; it serialises without exponent."""
    event = Event.model_validate(full(payment={"amount": Decimal("1E+5")}))
    assert json.loads(event.to_json_bytes())["payment"]["amount"] == "100000"


@pytest.mark.parametrize(
    "amount", [Decimal("-1"), Decimal("1.001"), Decimal("NaN"), Decimal("1E+15"), 1.5]
)
def test_payment_rejects_bad_python_amounts(amount: Any) -> None:
    """Negative, over-precise, non-finite, too large or float amounts are rejected from code too."""
    with pytest.raises(ValidationError):
        Event.model_validate(full(payment={"amount": amount}))


@pytest.mark.parametrize(
    ("payment", "ok"),
    [
        ({"amount": "1", "currency": "IDR"}, True),
        ({"amount": "1", "currency": "USD"}, False),
        ({"amount": "1", "currency": "idr"}, False),
        ({"amount": "1", "receipt": "R" * 128}, True),
        ({"amount": "1", "receipt": "R" * 129}, False),
        ({"amount": "1", "receipt": ""}, False),
        ({"amount": "1", "receipt": "KW\n1"}, False),
        ({"currency": "IDR"}, False),
    ],
)
def test_payment_currency_and_receipt(payment: dict[str, Any], ok: bool) -> None:
    """Currency is IDR only (the default); the receipt is 1-128 printable characters."""
    assert accepts("payment", payment) is ok


# --- attributes ----------------------------------------------------------------------------------


def attributes_of_size(size: int, char: str = "x") -> dict[str, Any]:
    """An attributes object whose compact UTF-8 JSON is exactly `size` bytes."""
    overhead = len(b'{"k":""}')
    width = len(char.encode())
    assert (size - overhead) % width == 0
    value = {"k": char * ((size - overhead) // width)}
    assert len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()) == size
    return value


def test_attributes_of_exactly_8_kib_are_accepted() -> None:
    """An attributes object of exactly 8192 bytes as compact JSON is accepted."""
    assert ATTRIBUTES_MAX_BYTES == 8192
    assert accepts("attributes", attributes_of_size(8192))


def test_attributes_one_byte_over_8_kib_are_rejected() -> None:
    """8193 bytes is one too many, and the message states the limit."""
    message = errors_of(full(attributes=attributes_of_size(8193)))["attributes"]
    assert "8192" in message


def test_attributes_size_counts_utf8_bytes() -> None:
    """The bound is in UTF-8 bytes, not characters: 3-byte characters count three times."""
    assert accepts("attributes", attributes_of_size(8192, "€"))  # 2728 characters
    assert not accepts("attributes", attributes_of_size(8195, "€"))  # 2729 characters


@pytest.mark.parametrize("value", [[], "x", 1, None])
def test_attributes_must_be_an_object(value: Any) -> None:
    """attributes is a JSON object; arrays, strings, numbers and null are rejected."""
    assert "attributes" in errors_of(full() | {"attributes": value})


def test_attributes_hold_any_json() -> None:
    """Nested objects, arrays, numbers, booleans and null are fine inside attributes."""
    nested = {"a": [1, 2.5, True, None, {"b": "c"}], "loket": 3}
    assert parse(full(attributes=nested)).attributes == nested


def test_attributes_reject_nan_from_python() -> None:
    """NaN has no JSON form, so it is rejected even when code builds the event."""
    with pytest.raises(ValidationError):
        Event.model_validate(full(attributes={"x": float("nan")}))


@pytest.mark.parametrize(
    "attributes",
    [{"nik": NIK}, {"pemohon": {"NIK": NIK}}, {"applicant": {"no": NIK}}, {"list": [{"nik": 1}]}],
)
def test_attributes_cannot_smuggle_a_nik(attributes: dict[str, Any]) -> None:
    """A nik key anywhere in attributes, or a NIK under an applicant key, is rejected."""
    assert "attributes" in errors_of(full(attributes=attributes))


# --- occurred_at ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc", "offset"),
    [
        ("2026-11-27T09:15:00+07:00", datetime(2026, 11, 27, 2, 15, tzinfo=UTC), 7 * 60),
        ("2026-11-27T02:15:00Z", datetime(2026, 11, 27, 2, 15, tzinfo=UTC), 0),
        ("2026-11-27t02:15:00z", datetime(2026, 11, 27, 2, 15, tzinfo=UTC), 0),
        ("2026-11-27T02:15:00+00:00", datetime(2026, 11, 27, 2, 15, tzinfo=UTC), 0),
        ("2026-11-26T22:45:00-03:30", datetime(2026, 11, 27, 2, 15, tzinfo=UTC), -210),
        ("2026-11-27T10:15:00.5+08:00", datetime(2026, 11, 27, 2, 15, 0, 500000, tzinfo=UTC), 480),
        (
            "2026-11-27T02:15:00.123456789Z",
            datetime(2026, 11, 27, 2, 15, 0, 123456, tzinfo=UTC),
            0,
        ),
    ],
)
def test_occurred_at_accepts_rfc3339_with_offset(text: str, utc: datetime, offset: int) -> None:
    """RFC 3339 with Z or ±HH:MM parses to the right instant, keeping the offset."""
    event = parse(full(occurred_at=text))
    assert event.occurred_at == utc
    assert event.occurred_at.utcoffset() == timedelta(minutes=offset)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27 09:15",
        "2026-11-27T09:15:00",
        "2026-11-27 09:15:00+07:00",
        "2026-11-27T09:15+07:00",
        "2026-11-27",
        "2026-11-27T09:15:00+0700",
        "2026-11-27T09:15:00+07",
        "2026-11-27T09:15:00 +07:00",
        "2026-11-27T09:15:00.+07:00",
        "2026-11-27T09:15:00.1234567890Z",
        "2026-02-30T09:15:00+07:00",
        "2026-11-27T24:00:00Z",
        "2026-11-27T23:59:60Z",
        "2026-11-27T09:15:00+24:00",
        "2026-11-27T09:15:00+07:60",
        "0001-01-01T00:00:00+01:00",
        "2026-11-27T09:15:00+07:00\n",
        "２０２６-11-27T09:15:00Z",
        "",
    ],
)
def test_occurred_at_rejects_other_forms(text: str) -> None:
    """Naive, space-separated, minute-only, date-only and impossible times are rejected."""
    assert "occurred_at" in errors_of(full(occurred_at=text))


@pytest.mark.parametrize("value", [1764209700, 1764209700.0, None, True])
def test_occurred_at_is_text_not_a_number(value: Any) -> None:
    """Unix timestamps are not RFC 3339 and are rejected."""
    assert "occurred_at" in errors_of(full() | {"occurred_at": value})


def test_occurred_at_from_python_must_be_aware() -> None:
    """Code may pass an aware datetime; a naive one is rejected."""
    aware = datetime(2026, 11, 27, 9, 15, tzinfo=timezone(timedelta(hours=7)))
    assert Event.model_validate(full(occurred_at=aware)).occurred_at == aware
    with pytest.raises(ValidationError):
        Event.model_validate(full(occurred_at=datetime(2026, 11, 27, 9, 15)))


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27T09:15:00+07:00",
        "2026-11-27T02:15:00Z",
        "2026-11-26T22:45:00-03:30",
        "2026-11-27T09:15:00.120+07:00",
        "2026-11-27T09:15:00.123456+07:00",
    ],
)
def test_occurred_at_serialises_with_its_original_offset(text: str) -> None:
    """The JSON form of occurred_at is the text that came in, for these canonical spellings."""
    event = parse(full(occurred_at=text))
    assert json.loads(event.to_json_bytes())["occurred_at"] == text


def test_rfc3339_helpers_round_trip() -> None:
    """format_rfc3339(parse_rfc3339(t)) == t, and +00:00 is written Z."""
    assert format_rfc3339(parse_rfc3339("2026-11-27T09:15:00+07:00")) == "2026-11-27T09:15:00+07:00"
    assert format_rfc3339(parse_rfc3339("2026-11-27T02:15:00+00:00")) == "2026-11-27T02:15:00Z"
    with pytest.raises(ValueError, match="naive"):
        format_rfc3339(datetime(2026, 11, 27))


# --- applicant and NIK ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nik", "ok"),
    [
        (NIK, True),
        ("350712345678000", False),
        ("35071234567800012", False),
        ("35071234567800a1", False),
        ("3507-1234-5678-01", False),
        (" 3507123456780001", False),
        ("３５０７１２３４５６７８０００１", False),
        (3507123456780001, False),
        ("", False),
    ],
)
def test_incoming_nik_is_exactly_16_digits(nik: Any, ok: bool) -> None:
    """The intake accepts a NIK of exactly 16 ASCII digits as a string; 15 or 17 are errors."""
    data = full(applicant={"nik": nik})
    if ok:
        assert parse(data, IncomingEvent).applicant.nik == nik
    else:
        assert "applicant.nik" in errors_of(data, IncomingEvent)


def test_incoming_nik_error_says_16_digits() -> None:
    """A malformed NIK gets a message that says what a NIK is."""
    errors = errors_of(full(applicant={"nik": "350712345678000"}), IncomingEvent)
    assert errors == {"applicant.nik": "a NIK is exactly 16 digits (0-9)"}


def test_incoming_applicant_rejects_nik_and_ref_together() -> None:
    """nik and ref together are ambiguous, so the applicant is rejected."""
    errors = errors_of(full(applicant={"nik": NIK, "ref": "k1:ab"}), IncomingEvent)
    assert errors == {"applicant": "give either nik or ref, not both"}


def test_incoming_applicant_needs_nik_or_ref() -> None:
    """An empty applicant object is rejected."""
    assert errors_of(full(applicant={}), IncomingEvent) == {"applicant": "give nik or ref"}


def test_event_rejects_a_raw_nik() -> None:
    """The Kafka event has no applicant.nik: a NIK there is an error that points to the intake."""
    errors = errors_of(full(applicant={"nik": NIK}))
    assert "HTTP intake" in errors["applicant.nik"]


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("k1:" + "a" * 64, True),
        ("k1:" + "1234567890123456" + "ab" * 24, True),
        ("REG/2026/001", True),
        (NIP, True),
        ("r" * 128, True),
        ("r" * 129, False),
        ("", False),
        (NIK, False),
        ("NIK " + NIK, False),
        ("ref\n1", False),
    ],
)
def test_applicant_ref_bounds(ref: str, ok: bool) -> None:
    """A ref is 1-128 printable characters and must not hold a standalone 16-digit run."""
    assert accepts("applicant", {"ref": ref}) is ok


def test_error_output_never_echoes_the_nik() -> None:
    """Neither str(ValidationError) nor describe_errors contain the rejected NIK."""
    nik = "35071234567800129"
    with pytest.raises(ValidationError) as caught:
        parse(full(applicant={"nik": nik}), IncomingEvent)
    assert nik not in str(caught.value)
    assert nik not in json.dumps(describe_errors(caught.value))
    with pytest.raises(ValidationError) as caught:
        parse(full(applicant={"nik": NIK}))
    assert NIK not in str(caught.value)


# --- pseudonymisation ----------------------------------------------------------------------------


def test_pseudonymised_replaces_the_nik_by_its_keyed_hash() -> None:
    """The intake's NIK becomes applicant.ref = k1:<HMAC>, and the NIK is gone from the bytes."""
    incoming = parse(full(applicant={"nik": NIK}), IncomingEvent)
    event = incoming.pseudonymised(KEY, "k1")
    assert isinstance(event, Event)
    assert event.applicant == Applicant(ref=pseudonymise_nik(NIK, KEY, "k1"))
    encoded = event.to_json_bytes()
    assert NIK.encode() not in encoded
    assert not contains_raw_nik(encoded)


def test_pseudonymised_keeps_everything_else() -> None:
    """Pseudonymising changes the applicant and nothing else."""
    incoming = parse(full(applicant={"nik": NIK}), IncomingEvent)
    event = incoming.pseudonymised(KEY, "k2")
    expected = parse(full(applicant={"ref": pseudonymise_nik(NIK, KEY, "k2")}))
    assert event.to_json_bytes() == expected.to_json_bytes()


def test_pseudonymised_keeps_an_existing_ref() -> None:
    """An applicant given by ref keeps that ref."""
    incoming = parse(full(applicant={"ref": "REG/2026/001"}), IncomingEvent)
    assert incoming.pseudonymised(KEY, "k1").applicant == Applicant(ref="REG/2026/001")


def test_pseudonymised_without_applicant() -> None:
    """An event without applicant stays without applicant."""
    incoming = parse(minimal(), IncomingEvent)
    assert incoming.pseudonymised(KEY, "k1") == parse(minimal())


def test_pseudonymised_is_deterministic_per_key() -> None:
    """The same NIK under the same key gives the same ref; another key gives another."""
    incoming = parse(full(applicant={"nik": NIK}), IncomingEvent)
    first = incoming.pseudonymised(KEY, "k1").applicant
    assert first == incoming.pseudonymised(KEY, "k1").applicant
    assert first != incoming.pseudonymised(b"another-key-of-sufficient-size", "k1").applicant


def test_valid_event_bytes_never_look_like_a_raw_nik() -> None:
    """Whatever passes Event validation passes the downstream raw-NIK check."""
    event = parse(full(attributes={"loket": "1234567890123456", "x": [NIP]}))
    assert not contains_raw_nik(event.to_json_bytes())


# --- JSON encoding -------------------------------------------------------------------------------


def test_json_round_trip_is_exact() -> None:
    """from_json_bytes(to_json_bytes(e)) == e, and encoding again gives the same bytes."""
    event = parse(full(attributes={"loket": 3, "catatan": "ruang tunggu ✓"}))
    encoded = event.to_json_bytes()
    again = Event.from_json_bytes(encoded)
    assert again == event
    assert again.to_json_bytes() == encoded


def test_json_is_compact_utf8_without_absent_fields() -> None:
    """The Kafka value is compact UTF-8 JSON; absent optional fields are left out."""
    encoded = parse(minimal(case_id="Kasus-Ñ")).to_json_bytes()
    assert b" " not in encoded
    assert "Kasus-Ñ".encode() in encoded
    assert set(json.loads(encoded)) == {*REQUIRED_EVENT_FIELDS, "mode", "attributes"}


def test_from_json_bytes_rejects_malformed_json() -> None:
    """Bytes that are not JSON give a validation error for the whole event (field "")."""
    with pytest.raises(ValidationError) as caught:
        Event.from_json_bytes(b'{"event_id": ')
    assert [error["field"] for error in describe_errors(caught.value)] == [""]


def test_from_json_bytes_rejects_a_non_object() -> None:
    """A JSON array or string is not an event."""
    for payload in (b"[]", b'"x"', b"null"):
        with pytest.raises(ValidationError):
            Event.from_json_bytes(payload)


def test_event_key_is_agency_bar_case_id() -> None:
    """The Kafka key is `<agency>|<case_id>` in UTF-8."""
    assert event_key("kota-malang.dpmptsp", "PBG-2026-000123") == (
        b"kota-malang.dpmptsp|PBG-2026-000123"
    )
    assert event_key("abc", "Kasus Ñ|2") == "abc|Kasus Ñ|2".encode()


def test_case_of_key_reads_back_what_event_key_wrote() -> None:
    """The agency is up to the first `|`; a case id may hold `|` of its own."""
    assert case_of_key(event_key("abc", "Kasus Ñ|2")) == ("abc", "Kasus Ñ|2")
    assert case_of_key("kota-malang.dpmptsp|PBG-1") == ("kota-malang.dpmptsp", "PBG-1")
    assert case_of_key(b"no-bar") == ("no-bar", "")


# --- canonical form ------------------------------------------------------------------------------


def test_canonical_form_is_sorted_compact_json_in_utc() -> None:
    """Canonical bytes: sorted keys, no whitespace, UTC microsecond time, two-decimal amount."""
    event = parse(full(payment={"amount": "150000", "receipt": "KW-88121"}))
    canonical = canonical_bytes(event)
    document = json.loads(canonical)
    assert list(document) == sorted(document)
    assert b" " not in canonical.replace(b"berkas lengkap", b"")
    assert document["occurred_at"] == "2026-11-27T02:15:00.000000Z"
    assert document["payment"] == {"amount": "150000.00", "currency": "IDR", "receipt": "KW-88121"}


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (minimal(), minimal(mode="live")),
        (minimal(), minimal(attributes={})),
        (minimal(), minimal() | {"seq": None, "reason": None}),
        (
            minimal(occurred_at="2026-11-27T09:15:00+07:00"),
            minimal(occurred_at="2026-11-27T02:15:00Z"),
        ),
        (
            minimal(occurred_at="2026-11-27T02:15:00Z"),
            minimal(occurred_at="2026-11-27T02:15:00.000Z"),
        ),
        (full(payment={"amount": "150000"}), full(payment={"amount": "150000.00"})),
        (full(payment={"amount": "0.5"}), full(payment={"amount": "0.50", "currency": "IDR"})),
        (
            full(attributes={"a": 1, "b": {"c": 2, "d": 3}}),
            full(attributes={"b": {"d": 3, "c": 2}, "a": 1}),
        ),
    ],
)
def test_canonical_form_ignores_presentation(left: dict[str, Any], right: dict[str, Any]) -> None:
    """Defaults, key order, offsets and amount spelling do not change the canonical bytes."""
    assert canonical_bytes(parse(left)) == canonical_bytes(parse(right))
    assert content_digest(parse(left)) == content_digest(parse(right))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (minimal(), minimal(step="verified")),
        (minimal(), minimal(mode="backfill")),
        (minimal(), minimal(seq=1)),
        (minimal(), minimal(attributes={"x": None})),
        (
            minimal(occurred_at="2026-11-27T02:15:00Z"),
            minimal(occurred_at="2026-11-27T02:15:00.000001Z"),
        ),
        (
            minimal(occurred_at="2026-11-27T09:15:00+07:00"),
            minimal(occurred_at="2026-11-27T09:15:00Z"),
        ),
        (full(payment={"amount": "150000"}), full(payment={"amount": "150000.01"})),
        (full(), full(reason="berkas lengkap ")),
        (full(attributes={"a": 1}), full(attributes={"a": "1"})),
        (full(attributes={"a": [1, 2]}), full(attributes={"a": [2, 1]})),
    ],
)
def test_canonical_form_sees_content(left: dict[str, Any], right: dict[str, Any]) -> None:
    """Any difference in content gives different canonical bytes and digests."""
    assert canonical_bytes(parse(left)) != canonical_bytes(parse(right))
    assert content_digest(parse(left)) != content_digest(parse(right))


def test_content_digest_is_sha256_of_canonical_bytes() -> None:
    """content_digest is the SHA-256 hex of canonical_bytes."""
    event = parse(full())
    assert content_digest(event) == hashlib.sha256(canonical_bytes(event)).hexdigest()


def test_content_digest_is_stable() -> None:
    """The digest of the contract example is pinned: changing it breaks stored hash chains."""
    assert content_digest(parse(full())) == (
        "57d54831655c4bb0dfcfecefefacf4198359bab7bfad47699cae8eb27cbb230e"
    )


def test_canonical_bytes_survive_a_json_round_trip() -> None:
    """An event read back from its Kafka bytes has the same canonical form."""
    event = parse(full(occurred_at="2026-11-27T09:15:00.5+07:00"))
    assert canonical_bytes(Event.from_json_bytes(event.to_json_bytes())) == canonical_bytes(event)


def _standard_json(value: object, sort_keys: bool) -> bytes:
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=sort_keys
    ).encode("utf-8")


# Any character but a lone surrogate: control characters, quotes, backslashes, U+2028, astral.
ANY_CHARACTER = st.characters(exclude_categories=["Cs"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_documents(ANY_CHARACTER, ['"', "\\", "\u2028", "\x7f", "\x1f"]))
def test_compact_json_writes_the_standard_librarys_bytes(value: Any) -> None:
    """Canonical forms and the attributes' size are written by orjson where it writes what the
    standard library writes; the bytes are the standard library's either way, keys sorted or
    not, floats and integers beyond 64 bits included (those take the standard library)."""
    for sort_keys in (False, True):
        assert _compact_json(value, sort_keys=sort_keys) == _standard_json(value, sort_keys)


def test_compact_json_takes_orjson_only_for_plain_values() -> None:
    """The fast writer is used for what it writes alike, and never for a float (orjson writes
    1e-07 as 1e-7) or an integer beyond 64 bits (orjson refuses it)."""
    assert ORJSON_PLAIN({"a": ["x", 1, True, None, {"b": -(2**63)}]}, 0)
    assert not ORJSON_PLAIN({"a": [1e-07]}, 0)
    assert not ORJSON_PLAIN({"a": 2**64}, 0)
    assert not ORJSON_PLAIN(Decimal("1"), 0)
    assert _compact_json({"a": 1e-07, "b": 2**64}) == b'{"a":1e-07,"b":18446744073709551616}'


def test_compact_json_refuses_what_the_standard_library_refuses() -> None:
    """NaN, and a lone surrogate (orjson refuses it; the standard library's text is not UTF-8)."""
    with pytest.raises(ValueError, match="JSON compliant"):
        _compact_json({"a": float("nan")})
    with pytest.raises(UnicodeEncodeError):
        _compact_json({"a": "\ud800"})


# --- friendly errors -----------------------------------------------------------------------------


def test_describe_errors_lists_every_problem_with_its_path() -> None:
    """All problems are reported at once, each with a dotted path and a message."""
    data = full(
        agency="X",
        occurred_at="2026-11-27 09:15",
        officer={"id": NIP},
        payment={"amount": 1},
        colour="blue",
    )
    errors = errors_of(data)
    assert set(errors) == {"agency", "occurred_at", "officer.role", "payment.amount", "colour"}
    assert errors["officer.role"] == "required field is missing"
    assert errors["colour"] == "unknown field"
    assert "RFC 3339" in errors["occurred_at"]
