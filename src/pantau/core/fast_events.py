"""A fast reading of `pantau.events` records for bulk consumers (pure: no I/O, no clock).

`checked_event` parses a record with orjson and checks it against the same rules as
`Event.from_json_bytes` (the same patterns, bounds and validators), without building a pydantic
model. It only ever accepts: for a record it cannot vouch for (invalid, or using something it
does not check itself, such as very deep `attributes`) it returns None and the caller validates
with the model, which then decides. So an event it accepts is one the model accepts, with the
same values, and its canonical form is byte for byte `canonical_bytes` of the model's event.

The canonical form and the `attributes` text are written by orjson. For strings, integers,
booleans and null, orjson with sorted keys writes exactly what the standard library's compact
encoder writes (`ensure_ascii=False`); floats it may write differently (`1e-07` and `1e-7`),
and it reads integers beyond 64 bits as floats. So an event with a float anywhere in its
`attributes` is left to the model too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
from pydantic_core import PydanticCustomError

from pantau.core.events import (
    _AMOUNT,
    ATTRIBUTES_MAX_BYTES,
    REASON_MAX_CHARS,
    _no_nik_in_text,
    _no_nik_run,
    _text,
    parse_rfc3339,
)
from pantau.core.identifiers import (
    AGENCY_PATTERN,
    EVENT_ID_PATTERN,
    OFFICER_ID_PATTERN,
    ROLE_PATTERN,
    SERVICE_PATTERN,
    STEP_PATTERN,
)
from pantau.core.pseudonym import document_contains_raw_nik

_EVENT_ID = re.compile(EVENT_ID_PATTERN).fullmatch
_AGENCY = re.compile(AGENCY_PATTERN).fullmatch
_SERVICE = re.compile(SERVICE_PATTERN).fullmatch
_CODE = re.compile(STEP_PATTERN).fullmatch
_ROLE = re.compile(ROLE_PATTERN).fullmatch
_OFFICER_ID = re.compile(OFFICER_ID_PATTERN).fullmatch
_AMOUNT_MATCH = _AMOUNT.fullmatch
# The common spellings of an RFC 3339 time, which the C parser reads as `parse_rfc3339` does
# (whole, milli or micro seconds; `Z` or an offset below 24 hours); the rest goes to it.
_COMMON_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-9]{2}(?:\.[0-9]{3}|\.[0-9]{6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
).fullmatch

_FIELDS = frozenset(
    (
        "event_id",
        "agency",
        "service",
        "case_id",
        "step",
        "occurred_at",
        "seq",
        "officer",
        "applicant",
        "payment",
        "reason",
        "channel",
        "mode",
        "attributes",
    )
)
_OFFICER_FIELDS = frozenset(("id", "role"))
_APPLICANT_FIELDS = frozenset(("ref",))
_PAYMENT_FIELDS = frozenset(("amount", "currency", "receipt", "channel"))
_PAYMENT_CHANNELS = frozenset(("bank", "online", "cash"))
_CHANNELS = frozenset(("online", "counter", "mobile", "other"))
_MODES = frozenset(("live", "backfill"))
_SEQ_MAX = 2**63 - 1
_CENT = Decimal("0.01")
# Deeper `attributes` are left to the model, whose JSON parser has its own nesting limit.
_MAX_DEPTH = 16


class CheckedEvent(NamedTuple):
    """A valid event as plain values: its document (defaults filled in, absent optional fields
    None), the parsed `occurred_at` and its naive UTC wall time, the payment amount, its
    canonical form and the `attributes` column text."""

    document: dict[str, Any]
    occurred_at: datetime
    occurred_utc: datetime  # naive
    amount: Decimal | None
    canonical: bytes
    attributes_text: str


def _printable(value: object, longest: int) -> bool:
    return type(value) is str and 0 < len(value) <= longest and value.isprintable()


def _plain(value: object, depth: int) -> bool:
    """True when `value` holds no float and nests at most `_MAX_DEPTH` levels."""
    kind = type(value)
    if kind is dict:
        return depth < _MAX_DEPTH and all(
            _plain(child, depth + 1)
            for child in value.values()  # type: ignore[attr-defined]
        )
    if kind is list:
        return depth < _MAX_DEPTH and all(
            _plain(child, depth + 1)
            for child in value  # type: ignore[attr-defined]
        )
    return kind is not float


def checked_event(value: bytes) -> CheckedEvent | None:
    """The event in a record when it is surely valid; None when the model has to decide."""
    try:
        return _checked(value)
    except (ValueError, OverflowError, TypeError, KeyError, AttributeError, PydanticCustomError):
        return None


def _checked(value: bytes) -> CheckedEvent | None:
    document = orjson.loads(value)
    if type(document) is not dict or not document.keys() <= _FIELDS:
        return None
    event_id = document["event_id"]
    agency = document["agency"]
    service = document["service"]
    case_id = document["case_id"]
    step = document["step"]
    if not (
        type(event_id) is str
        and type(agency) is str
        and type(service) is str
        and type(step) is str
        and _EVENT_ID(event_id)
        and _AGENCY(agency)
        and _SERVICE(service)
        and _CODE(step)
        and _printable(case_id, 128)
    ):
        return None
    occurred_text = document["occurred_at"]
    if type(occurred_text) is not str:
        return None
    occurred_at = (
        datetime.fromisoformat(occurred_text)
        if _COMMON_TIME(occurred_text)
        else parse_rfc3339(occurred_text)
    )
    canonical: dict[str, Any] = {
        "event_id": event_id,
        "agency": agency,
        "service": service,
        "case_id": case_id,
        "step": step,
    }
    seq = document.get("seq")
    if seq is not None:
        if type(seq) is not int or not 1 <= seq <= _SEQ_MAX:
            return None
        canonical["seq"] = seq
    officer = document.get("officer")
    if officer is not None:
        if type(officer) is not dict or officer.keys() != _OFFICER_FIELDS:
            return None
        officer_id, role = officer["id"], officer["role"]
        if not (
            type(officer_id) is str
            and type(role) is str
            and _OFFICER_ID(officer_id)
            and _ROLE(role)
        ):
            return None
        canonical["officer"] = {"id": officer_id, "role": role}
    applicant = document.get("applicant")
    if applicant is not None:
        if type(applicant) is not dict or applicant.keys() != _APPLICANT_FIELDS:
            return None
        ref = applicant["ref"]
        if not _printable(ref, 128):
            return None
        _no_nik_run(ref)
        canonical["applicant"] = {"ref": ref}
    payment = document.get("payment")
    amount = None
    if payment is not None:
        if type(payment) is not dict or not payment.keys() <= _PAYMENT_FIELDS:
            return None
        amount_text = payment["amount"]
        currency = payment.get("currency", "IDR")
        receipt = payment.get("receipt")
        if type(amount_text) is not str or not _AMOUNT_MATCH(amount_text) or currency != "IDR":
            return None
        if receipt is not None and not _printable(receipt, 128):
            return None
        paid_through = payment.get("channel")
        if paid_through is not None and (
            type(paid_through) is not str or paid_through not in _PAYMENT_CHANNELS
        ):
            return None
        amount = Decimal(amount_text)
        paid = {"amount": format(amount.quantize(_CENT), "f"), "currency": "IDR"}
        if receipt is not None:
            paid["receipt"] = receipt
        if paid_through is not None:
            paid["channel"] = paid_through
        canonical["payment"] = paid
    reason = document.get("reason")
    if reason is not None:
        if type(reason) is not str or not 0 < len(reason) <= REASON_MAX_CHARS:
            return None
        _no_nik_in_text(_text(reason))
        canonical["reason"] = reason
    channel = document.get("channel")
    if channel is not None:
        if type(channel) is not str or channel not in _CHANNELS:
            return None
        canonical["channel"] = channel
    mode = document.setdefault("mode", "live")
    if type(mode) is not str or mode not in _MODES:
        return None
    canonical["mode"] = mode
    attributes = document.setdefault("attributes", {})
    if type(attributes) is not dict:
        return None
    if attributes:
        if not _plain(attributes, 0):
            return None
        text = orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)
        if len(text) > ATTRIBUTES_MAX_BYTES or document_contains_raw_nik(attributes):
            return None
        attributes_text = text.decode()
    else:
        attributes_text = "{}"
    canonical["attributes"] = attributes
    utc = occurred_at.astimezone(UTC).replace(tzinfo=None)
    canonical["occurred_at"] = utc.isoformat(timespec="microseconds") + "Z"
    encoded = orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)
    return CheckedEvent(document, occurred_at, utc, amount, encoded, attributes_text)
