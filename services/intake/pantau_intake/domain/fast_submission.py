"""The common valid request decided in compiled code: body to Kafka records in one pass.

`FastSubmission.records` parses a body with msgspec into plain structs, which check the shape,
the patterns, the bounds and the enumerations of `IncomingEvent` while they parse, then applies
the rest of the rules (printable text, raw-NIK runs, times, the catalog) with the very
validators the models use, and writes each record as `submission.kafka_value` writes it.

It only ever accepts. For a body it cannot vouch for (anything invalid, a duplicate member, an
event of another agency, a float or a huge integer in `attributes`, a `\\u003a` escape, ...) it
returns None, and the caller goes the way of `decode_body`, `check_agency`, `validate_events` and
`to_records`, which then decides, with its status codes and messages. So what it accepts is what
that way accepts, with the same record bytes; the pydantic models stay the definition of the
contract (tests/unit/test_intake_fast_submission.py holds the two against each other).

A member given twice is refused by the standard library's decoder (through
`decode_body`); msgspec keeps the last one instead. So the fast path counts: every member of
the body has exactly one `:` outside strings, and every `:` inside a string stays a `:` when the
decoded document is written again, unless it was escaped (`\\u003a`, for which the fast path
steps aside). Written again, the document has one `:` per member it kept; if the body has more,
a member was given twice, and the body goes the slow way (a 400 there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType
from pydantic_core import PydanticCustomError

from pantau.core.catalog import Catalog
from pantau.core.events import (
    _AMOUNT,
    ATTRIBUTES_MAX_BYTES,
    REASON_MAX_CHARS,
    _text,
    assessed_amount,
    format_rfc3339,
    json_object,
    parse_rfc3339,
    plain_values,
)
from pantau.core.fast_events import COMMON_TIME, OfficerFields, anchored
from pantau.core.identifiers import (
    AGENCY_PATTERN,
    EVENT_ID_PATTERN,
    SERVICE_PATTERN,
    STEP_PATTERN,
)
from pantau.core.pseudonym import PseudonymKey, has_standalone_nik_run
from pantau_intake.domain.publishing import OutgoingRecord
from pantau_intake.settings import MAX_BATCH_EVENTS


def _matching(pattern: str) -> Meta:
    return Meta(pattern=anchored(pattern))


_Bounded = Annotated[str, Meta(min_length=1, max_length=128)]

# --- what a body may hold, as msgspec checks it while it parses ---------------------------------
# Optional members default to UNSET, not None, so that writing the document again gives exactly
# the members it had (an explicit null included), for the duplicate-member count.


class _Applicant(Struct, forbid_unknown_fields=True):
    ref: _Bounded | UnsetType | None = UNSET
    nik: str | UnsetType | None = UNSET  # checked by `PseudonymKey.pseudonymise`


class _Payment(Struct, forbid_unknown_fields=True):
    amount: Annotated[str, Meta(pattern=r"\A(?:" + _AMOUNT.pattern + r")\Z")]
    currency: Literal["IDR"] | UnsetType = UNSET
    receipt: _Bounded | UnsetType | None = UNSET
    channel: Literal["bank", "online", "cash"] | UnsetType | None = UNSET


class _Event(Struct, forbid_unknown_fields=True):
    # `agency`, `service` and `step` are checked by lookup: the key's agency, and a service and
    # step of the catalog (only those whose codes match the models' patterns are looked up).
    event_id: Annotated[str, _matching(EVENT_ID_PATTERN)]
    agency: str
    service: str
    case_id: _Bounded
    step: str
    occurred_at: str
    seq: Annotated[int, Meta(ge=1, le=2**63 - 1)] | UnsetType | None = UNSET
    officer: OfficerFields | UnsetType | None = UNSET
    applicant: _Applicant | UnsetType | None = UNSET
    payment: _Payment | UnsetType | None = UNSET
    reason: Annotated[str, Meta(min_length=1, max_length=REASON_MAX_CHARS)] | UnsetType | None = (
        UNSET
    )
    channel: Literal["online", "counter", "mobile", "other"] | UnsetType | None = UNSET
    mode: Literal["live", "backfill"] | UnsetType = UNSET
    attributes: dict[str, Any] | UnsetType = UNSET


class _Batch(Struct, forbid_unknown_fields=True):
    events: Annotated[list[_Event], Meta(min_length=1, max_length=MAX_BATCH_EVENTS)]


# --- the record, as `kafka_value` writes it ------------------------------------------------------
# The model's fields in their order; absent optional fields omitted (exclude_none), `mode` and
# `attributes` always written, `payment.currency` always written.


class _Ref(Struct):
    ref: str


class _Paid(Struct, kw_only=True, omit_defaults=True):
    amount: str
    currency: str
    receipt: str | None = None
    channel: str | None = None


class _Record(Struct, omit_defaults=True):
    # Built positionally (cheaper than keywords); `mode` and `attributes` are always given, so
    # their None defaults are never what is written.
    event_id: str
    agency: str
    service: str
    case_id: str
    step: str
    occurred_at: str
    seq: int | None = None
    officer: OfficerFields | None = None
    applicant: _Ref | None = None
    payment: _Paid | None = None
    reason: str | None = None
    channel: str | None = None
    mode: str | None = None
    attributes: dict[str, Any] | None = None


_DECODE_EVENT = msgspec.json.Decoder(_Event).decode
_DECODE_BATCH = msgspec.json.Decoder(_Batch).decode
_ENCODER = msgspec.json.Encoder()
_ENCODE = _ENCODER.encode
_ENCODE_LINES = _ENCODER.encode_lines
_ESCAPED_COLON = re.compile(rb"\\u003[aA]").search

_from_iso = datetime.fromisoformat
# Integers beyond 64 bits (signed) and deeper `attributes` are left to the model.
_plain = plain_values(2**63 - 1)
_ATTRIBUTES_CHECK = json_object(ATTRIBUTES_MAX_BYTES)  # the model's own check
_UNSURE = (msgspec.MsgspecError, ValueError, TypeError, OverflowError, PydanticCustomError)


@dataclass(frozen=True)
class _StepRule:
    officer: bool  # the step names roles: an officer is required
    reason: bool
    assessment: bool


def _step_rules(catalog: Catalog) -> dict[tuple[str, str, str], _StepRule]:
    """The catalog's steps by (agency, service, step), for codes the models' patterns accept."""
    agency, service_code, step_code = (
        re.compile(p).fullmatch for p in (AGENCY_PATTERN, SERVICE_PATTERN, STEP_PATTERN)
    )
    return {
        (service.agency, service.code, step.code): _StepRule(
            bool(step.roles), step.reason_required, step.assessment
        )
        for service in catalog.services.values()
        for step in service.steps
        if agency(service.agency) and service_code(service.code) and step_code(step.code)
    }


def _formatted_time(text: str) -> str:
    """`format_rfc3339(parse_rfc3339(text))`, remembered for the texts seen last."""
    found = _TIMES.get(text)
    if found is None:
        if COMMON_TIME(text) and text[:4] not in ("0001", "9999"):
            found = format_rfc3339(_from_iso(text))
        else:
            found = format_rfc3339(parse_rfc3339(text))
        if len(_TIMES) >= _TIMES_MAX:
            _TIMES.clear()
        _TIMES[text] = found
    return found


_TIMES: dict[str, str] = {}
_TIMES_MAX = 65_536


@dataclass
class FastSubmission:
    """The fast path for one catalog and pseudonym key (rebuilt when the catalog changes)."""

    catalog: Catalog
    key: PseudonymKey
    _rules: dict[tuple[str, str, str], _StepRule] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rules = _step_rules(self.catalog)

    def records(self, body: bytes, agency: str) -> list[OutgoingRecord] | None:
        """The Kafka records of a body of `agency`'s events when the body is surely valid (as
        `to_records(validate_events(decode_body(body)))` would give them); None when the models
        have to decide."""
        try:
            return self._records(body, agency)
        except _UNSURE:
            return None

    def _records(self, body: bytes, agency: str) -> list[OutgoingRecord] | None:
        document: _Event | _Batch
        events: list[_Event]
        try:
            document = _DECODE_EVENT(body)
            events = [document]
        except msgspec.MsgspecError:
            document = _DECODE_BATCH(body)
            events = document.events
        if _ESCAPED_COLON(body) is not None or body.count(b":") != _ENCODE(document).count(b":"):
            return None  # a member given twice (or a colon the count cannot see)
        written = []
        for event in events:
            record = self._record(event, agency)
            if record is None:
                return None
            written.append(record)
        # One line per record: compact JSON never holds a raw line break.
        values = _ENCODE_LINES(written).split(b"\n")[:-1]
        return [
            OutgoingRecord(f"{event.agency}|{event.case_id}".encode(), value, event.event_id)
            for event, value in zip(events, values, strict=True)
        ]

    def _record(self, event: _Event, agency: str) -> _Record | None:
        if event.agency != agency:
            return None  # a 403 or a 422: the slow way says which
        rule = self._rules.get((agency, event.service, event.step))
        case_id = event.case_id
        if rule is None or not case_id.isprintable():
            return None
        occurred_at = _formatted_time(event.occurred_at)
        officer = event.officer
        if officer is UNSET:
            officer = None
        if rule.officer and officer is None:
            return None
        applicant = event.applicant
        ref = None if applicant is None or applicant is UNSET else self._applicant(applicant)
        payment = event.payment
        paid = None if payment is None or payment is UNSET else _paid(payment)
        reason = event.reason
        if reason is UNSET or reason is None:
            if rule.reason:
                return None
            reason = None
        elif has_standalone_nik_run(_text(reason)):
            return None
        attributes = event.attributes
        if attributes is UNSET:
            attributes = {}
        elif attributes:
            if not _plain(attributes, 0):
                return None
            _ATTRIBUTES_CHECK(attributes)
        if rule.assessment:
            assessed_amount(attributes)
        seq, channel, mode = event.seq, event.channel, event.mode
        return _Record(
            event.event_id,
            agency,
            event.service,
            case_id,
            event.step,
            occurred_at,
            None if seq is UNSET else seq,
            officer,
            ref,
            paid,
            reason,
            None if channel is UNSET else channel,
            "live" if mode is UNSET else mode,
            attributes,
        )

    def _applicant(self, applicant: _Applicant) -> _Ref:
        ref, nik = applicant.ref, applicant.nik
        if ref is UNSET:
            ref = None
        if nik is UNSET:
            nik = None
        if (ref is None) == (nik is None):
            raise ValueError("both or neither of nik and ref: the model says which")
        if nik is not None:
            return _Ref(self.key.pseudonymise(nik))  # refuses a malformed NIK
        assert ref is not None
        if not ref.isprintable() or has_standalone_nik_run(ref):
            raise ValueError("not a ref the model accepts")
        return _Ref(ref)


def _paid(payment: _Payment) -> _Paid:
    receipt = payment.receipt
    if receipt is UNSET:
        receipt = None
    if receipt is not None and not receipt.isprintable():
        raise ValueError("not a receipt the model accepts")
    channel = payment.channel
    return _Paid(
        amount=payment.amount,
        currency="IDR",
        receipt=receipt,
        channel=None if channel is UNSET else channel,
    )
