"""A fast reading of `pantau.events` records for bulk consumers (pure: no I/O, no clock).

`checked_event` parses a record with msgspec into a plain struct, which checks the shape, the
patterns, the bounds and the enumerations in compiled code while it parses, then applies the
rest of the rules of `Event.from_json_bytes` (the same validators), without building a pydantic
model. It only ever accepts: for a record it cannot vouch for (invalid, or using something it
does not check itself, such as very deep `attributes`) it returns None and the caller validates
with the model, which then decides. So an event it accepts is one the model accepts, with the
same values, and its canonical form is byte for byte `canonical_bytes` of the model's event.

The canonical form and the `attributes` text are written by orjson. For strings, integers,
booleans and null, orjson with sorted keys writes exactly what the standard library's compact
encoder writes (`ensure_ascii=False`); floats it may write differently (`1e-07` and `1e-7`),
and it refuses integers beyond 64 bits. So an event with a float or such an integer anywhere in
its `attributes` is left to the model too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
import orjson
from pydantic_core import PydanticCustomError

from pantau.core.events import (
    _AMOUNT,
    ATTRIBUTES_MAX_BYTES,
    ORJSON_PLAIN,
    REASON_MAX_CHARS,
    Applicant,
    Event,
    Officer,
    Payment,
    _built,
    _no_nik_in_text,
    _no_nik_run,
    _text,
    parse_rfc3339,
    right_sized,
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


def anchored(pattern: str) -> str:
    """A pattern msgspec applies (with `re.search`) to the whole text: `^...$` would also take a
    text ending in a line break."""
    return r"\A(?:" + pattern.removeprefix("^").removesuffix("$") + r")\Z"


_AMOUNT_MATCH = _AMOUNT.fullmatch
# The common spellings of an RFC 3339 time, which the C parser reads as `parse_rfc3339` does
# (whole, milli or micro seconds; `Z` or an offset below 24 hours); the rest goes to it.
COMMON_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-9]{2}(?:\.[0-9]{3}|\.[0-9]{6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
).fullmatch
_SEQ_MAX = 2**63 - 1
_CENT = Decimal("0.01")


class OfficerFields(msgspec.Struct, forbid_unknown_fields=True):
    """An event's `officer`, checked while it is parsed (also the intake's fast path)."""

    id: Annotated[str, msgspec.Meta(pattern=anchored(OFFICER_ID_PATTERN))]
    role: Annotated[str, msgspec.Meta(pattern=anchored(ROLE_PATTERN))]


class _Officer(msgspec.Struct, forbid_unknown_fields=True):
    """An event's `officer` as `_Event` reads it: the patterns are checked after (`_known`)."""

    id: str
    role: str


class _Applicant(msgspec.Struct, forbid_unknown_fields=True):
    ref: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class _Payment(msgspec.Struct, forbid_unknown_fields=True):
    amount: str
    currency: Literal["IDR"] = "IDR"
    receipt: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    channel: Literal["bank", "online", "cash"] | None = None


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    """The shape of an event, as msgspec checks it in compiled code while it parses; what
    it cannot express (printable text, raw-NIK runs, times, amounts) `_checked` checks after.

    The codes' patterns are checked after too: msgspec calls the regular expression for every
    value (0.4 µs each), while an event's agency, service, step and officer are a handful of
    values seen again and again, checked once each (`_known`)."""

    event_id: str
    agency: str
    service: str
    case_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    step: str
    occurred_at: str
    seq: Annotated[int, msgspec.Meta(ge=1, le=_SEQ_MAX)] | None = None
    officer: _Officer | None = None
    applicant: _Applicant | None = None
    payment: _Payment | None = None
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=REASON_MAX_CHARS)] | None = None
    channel: Literal["online", "counter", "mobile", "other"] | None = None
    mode: Literal["live", "backfill"] = "live"
    attributes: dict[str, Any] = {}


_DECODE = msgspec.json.Decoder(_Event).decode
_EVENT_ID = re.compile(anchored(EVENT_ID_PATTERN)).search
_AGENCY, _SERVICE, _STEP, _OFFICER_ID, _ROLE = (
    re.compile(anchored(pattern)).search
    for pattern in (AGENCY_PATTERN, SERVICE_PATTERN, STEP_PATTERN, OFFICER_ID_PATTERN, ROLE_PATTERN)
)
_Codes = tuple[str, str, str, str | None, str | None]  # agency, service, step, officer id, role
# Codes that matched their patterns; cleared when full, so that a stream of ever new officer
# ids cannot grow it without bound.
_KNOWN: set[_Codes] = set()
_KNOWN_MAX = 65_536


class CheckedEvent(NamedTuple):
    """A valid event as plain values: its fields (defaults filled in, absent optional fields
    None), the parsed `occurred_at` and its naive UTC wall time, the payment amount, its
    canonical form and the `attributes` column text."""

    event: _Event
    occurred_at: datetime
    occurred_utc: datetime  # naive
    amount: Decimal | None
    canonical: bytes
    attributes_text: str


def checked_event(value: bytes) -> CheckedEvent | None:
    """The event in a record when it is surely valid; None when the model has to decide."""
    try:
        return _checked(value)
    except (ValueError, OverflowError, TypeError, KeyError, AttributeError, PydanticCustomError):
        return None


def _known(codes: _Codes) -> bool:
    """True when each code matches its pattern (officer id and role None: no officer)."""
    if codes in _KNOWN:
        return True
    agency, service, step, officer_id, role = codes
    if not (_AGENCY(agency) and _SERVICE(service) and _STEP(step)):
        return False
    if officer_id is not None and not (
        _OFFICER_ID(officer_id) and role is not None and _ROLE(role)
    ):
        return False
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()
    _KNOWN.add(codes)
    return True


def _checked(value: bytes) -> CheckedEvent | None:
    event = _DECODE(value)
    case_id = event.case_id
    officer = event.officer
    if (
        not case_id.isprintable()
        or not _EVENT_ID(event.event_id)
        or not _known(
            (event.agency, event.service, event.step, officer.id, officer.role)
            if officer is not None
            else (event.agency, event.service, event.step, None, None)
        )
    ):
        return None
    occurred_text = event.occurred_at
    occurred_at = (
        datetime.fromisoformat(occurred_text)
        if COMMON_TIME(occurred_text)
        else parse_rfc3339(occurred_text)
    )
    canonical: dict[str, Any] = {
        "event_id": event.event_id,
        "agency": event.agency,
        "service": event.service,
        "case_id": case_id,
        "step": event.step,
        "mode": event.mode,
    }
    if event.seq is not None:
        canonical["seq"] = event.seq
    if officer is not None:
        canonical["officer"] = {"id": officer.id, "role": officer.role}
    applicant = event.applicant
    if applicant is not None:
        ref = applicant.ref
        if not ref.isprintable():
            return None
        _no_nik_run(ref)
        canonical["applicant"] = {"ref": ref}
    payment = event.payment
    amount = None
    if payment is not None:
        amount_text = payment.amount
        receipt = payment.receipt
        if not _AMOUNT_MATCH(amount_text) or (receipt is not None and not receipt.isprintable()):
            return None
        amount = Decimal(amount_text)
        paid = {"amount": format(amount.quantize(_CENT), "f"), "currency": "IDR"}
        if receipt is not None:
            paid["receipt"] = receipt
        if payment.channel is not None:
            paid["channel"] = payment.channel
        canonical["payment"] = paid
    reason = event.reason
    if reason is not None:
        _no_nik_in_text(_text(reason))
        canonical["reason"] = reason
    if event.channel is not None:
        canonical["channel"] = event.channel
    attributes = event.attributes
    if attributes:
        if not ORJSON_PLAIN(attributes, 0):
            return None
        text = orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)
        if len(text) > ATTRIBUTES_MAX_BYTES or document_contains_raw_nik(attributes):
            return None
        attributes_text = text.decode()
    else:
        attributes_text = "{}"
    canonical["attributes"] = attributes
    # The naive UTC wall time and its canonical text, by the cheapest calls there are
    # (`replace(tzinfo=None)` and `isoformat(timespec=...)` parse keywords: 1.4 µs of 2).
    aware = occurred_at.astimezone(UTC)
    utc = datetime.combine(aware.date(), aware.time())
    wall = utc.isoformat()
    canonical["occurred_at"] = wall + "Z" if utc.microsecond else wall + ".000000Z"
    # The sink keeps a batch's canonical forms until its insert: kept right-sized.
    encoded = right_sized(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS))
    return CheckedEvent(event, occurred_at, utc, amount, encoded, attributes_text)


def model_event(checked: CheckedEvent) -> Event:
    """The contract model's event of a checked record, built from its checked values without
    validating them again: equal to what `Event.model_validate` makes of the same record."""
    fields = checked.event
    officer = fields.officer
    applicant = fields.applicant
    payment = fields.payment
    return _built(
        Event,
        {
            "event_id": fields.event_id,
            "agency": fields.agency,
            "service": fields.service,
            "case_id": fields.case_id,
            "step": fields.step,
            "occurred_at": checked.occurred_at,
            "seq": fields.seq,
            "officer": None
            if officer is None
            else _built(Officer, {"id": officer.id, "role": officer.role}),
            "applicant": None if applicant is None else _built(Applicant, {"ref": applicant.ref}),
            "payment": None
            if payment is None
            else _built(
                Payment,
                {
                    "amount": checked.amount,
                    "currency": payment.currency,
                    "receipt": payment.receipt,
                    "channel": payment.channel,
                },
            ),
            "reason": fields.reason,
            "channel": fields.channel,
            "mode": fields.mode,
            "attributes": fields.attributes,
        },
    )
