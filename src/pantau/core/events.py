"""The event of the contract (section 2): what the intake accepts and what travels on Kafka.

Two models share every field but the applicant. `IncomingEvent` is what the HTTP intake accepts:
its applicant may carry a raw NIK. `Event` is the record on `pantau.events`: its applicant carries
only the pseudonymous `ref`, so a raw NIK cannot be represented there at all. The intake turns one
into the other with `IncomingEvent.pseudonymised`.

Both are strict: no type coercion, unknown fields rejected at every level, every string bounded,
timestamps RFC 3339 with an offset. Validation errors never echo the input (a NIK must not reach
a log through an error message); use `describe_errors` to turn them into field/message pairs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    PlainValidator,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from pantau.core.identifiers import (
    AGENCY_PATTERN,
    EVENT_ID_PATTERN,
    OFFICER_ID_PATTERN,
    ROLE_PATTERN,
    SERVICE_PATTERN,
    STEP_PATTERN,
)
from pantau.core.pseudonym import (
    PseudonymKey,
    contains_raw_nik,
    document_contains_raw_nik,
    has_standalone_nik_run,
    pseudonymise_nik,
    redact_nik,
)

__all__ = [
    "ASSESSED_AMOUNT",
    "ATTRIBUTES_MAX_BYTES",
    "ORJSON_PLAIN",
    "AgencyCode",
    "Applicant",
    "Attributes",
    "CaseId",
    "Channel",
    "Event",
    "EventId",
    "FreeText",
    "IncomingApplicant",
    "IncomingEvent",
    "Mode",
    "Officer",
    "OfficerId",
    "Payment",
    "PaymentChannel",
    "ServiceCode",
    "StepCode",
    "Timestamp",
    "assessed_amount",
    "canonical_bytes",
    "canonical_digest",
    "case_key",
    "contains_raw_nik",
    "content_digest",
    "describe_errors",
    "document_contains_raw_nik",
    "event_key",
    "format_rfc3339",
    "json_object",
    "parse_rfc3339",
    "plain_values",
    "redact_nik",
    "right_sized",
    "service_key",
]

ATTRIBUTES_MAX_BYTES = 8 * 1024
REASON_MAX_CHARS = 2000
AMOUNT_MAX_INTEGER_DIGITS = 15  # a quadrillion rupiah: far above any official tariff


# --- strings -------------------------------------------------------------------------------------


def _matching(pattern: str, message: str) -> AfterValidator:
    """Check a full match in Python so that the error message can say what is expected."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if regex.fullmatch(value) is None:
            raise PydanticCustomError("string_pattern_mismatch", message)
        return value

    return AfterValidator(check)


def _printable(value: str) -> str:
    if not value.isprintable():
        raise PydanticCustomError(
            "string_not_printable",
            "must contain only printable characters (no control characters or line breaks)",
        )
    return value


def _text(value: str) -> str:
    for char in value:
        if char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cs"):
            raise PydanticCustomError(
                "string_control_character",
                "must not contain control characters other than tab and line breaks",
            )
    return value


_PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"  # the schema's approximation of isprintable()


def _code(
    pattern: str, min_length: int, max_length: int, description: str, message: str
) -> tuple[FieldInfo, AfterValidator]:
    """What an identifier or a catalog code is: its bounds, description and pattern in the
    schema, and a full match of `pattern`, refused with `message` (which says what it expects)."""
    return (
        Field(
            min_length=min_length,
            max_length=max_length,
            description=description,
            json_schema_extra={"pattern": pattern},
        ),
        _matching(pattern, message),
    )


def _printable_text(max_length: int, description: str) -> tuple[FieldInfo, AfterValidator]:
    """What a bounded printable text is: 1 to `max_length` characters with no control character
    or line break."""
    return (
        Field(
            min_length=1,
            max_length=max_length,
            description=description,
            json_schema_extra={"pattern": _PRINTABLE_PATTERN},
        ),
        AfterValidator(_printable),
    )


# What the identifier fields must fully match: `pantau.core.identifiers`, shared with the
# catalog and with `event_documents`' fast check.

EventId = Annotated[
    str,
    *_code(
        EVENT_ID_PATTERN,
        1,
        128,
        "The idempotency key of the event.",
        "must be 1-128 characters of A-Z a-z 0-9 . _ : -",
    ),
]
AgencyCode = Annotated[
    str,
    *_code(
        AGENCY_PATTERN,
        3,
        64,
        "The agency's catalog code.",
        "must be 3-64 characters of a-z 0-9 . - starting with a letter or digit",
    ),
]
ServiceCode = Annotated[
    str,
    *_code(
        SERVICE_PATTERN,
        2,
        64,
        "The service's catalog code, unique within its agency.",
        "must be 2-64 characters of a-z 0-9 _ - starting with a letter or digit",
    ),
]
StepCode = Annotated[
    str,
    *_code(
        STEP_PATTERN,
        1,
        64,
        "A step code of the service in the catalog.",
        "must be 1-64 characters of a-z 0-9 _ - starting with a letter or digit",
    ),
]
RoleCode = Annotated[
    str,
    *_code(
        ROLE_PATTERN,
        1,
        64,
        "The officer's role, as the catalog names roles.",
        "must be 1-64 characters of a-z 0-9 _ . - starting with a letter or digit",
    ),
]
OfficerId = Annotated[
    str,
    *_code(
        OFFICER_ID_PATTERN,
        1,
        64,
        "The officer's id, e.g. an 18-digit NIP.",
        "must be 1-64 characters of A-Z a-z 0-9 . _ : @ -",
    ),
]
CaseId = Annotated[
    str, *_printable_text(128, "The case's id at the agency: 1-128 printable characters.")
]
Receipt = Annotated[str, *_printable_text(128, "The receipt number of the payment.")]


def _no_nik_in_text(value: str) -> str:
    if has_standalone_nik_run(value):
        raise PydanticCustomError(
            "text_looks_like_nik",
            "holds what looks like a raw NIK (16 digits); an applicant's NIK goes only in "
            "applicant.nik, and free text must not repeat it",
        )
    return value


FreeText = Annotated[str, AfterValidator(_text)]
"""Text that may span lines but holds no other control characters; bound it where used."""
Reason = Annotated[
    FreeText,
    Field(
        min_length=1,
        max_length=REASON_MAX_CHARS,
        description="Free text; required on steps with reason_required.",
    ),
    AfterValidator(_no_nik_in_text),
]


def _no_nik_run(value: str) -> str:
    if has_standalone_nik_run(value):
        raise PydanticCustomError(
            "ref_looks_like_nik",
            "looks like a raw NIK (16 digits); send a pseudonymous reference instead",
        )
    return value


ApplicantRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        description=(
            "A pseudonymous reference to the applicant: `<key version>:<hex HMAC>` when the "
            "intake made it from a NIK, or the agency's own opaque reference. "
            "A standalone 16-digit run is rejected as a probable raw NIK."
        ),
        json_schema_extra={"pattern": _PRINTABLE_PATTERN},
    ),
    AfterValidator(_printable),
    AfterValidator(_no_nik_run),
]


def _nik(value: str) -> str:
    if re.fullmatch(r"[0-9]{16}", value) is None:
        raise PydanticCustomError("nik_format", "a NIK is exactly 16 digits (0-9)")
    return value


Nik = Annotated[
    str,
    Field(
        description="The applicant's NIK (16 digits); the intake replaces it by `ref`.",
        # Lengths only in the schema: in validation one message covers every malformed NIK.
        json_schema_extra={"pattern": r"^[0-9]{16}$", "minLength": 16, "maxLength": 16},
    ),
    AfterValidator(_nik),
]

# --- timestamps ----------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
_RFC3339_SCHEMA_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset into an aware datetime keeping that offset.

    Fractions beyond microseconds (up to nanoseconds) are accepted and truncated. Raises
    ValueError for anything else: a missing offset, a space instead of `T`, missing seconds.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            "must be an RFC 3339 timestamp with an offset, e.g. 2026-11-27T09:15:00+07:00"
        )
    fraction, zulu, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10, 11)
    microsecond = int(fraction[:6].ljust(6, "0")) if fraction else 0
    if zulu:
        tz: tzinfo = UTC
    else:
        tz = _offset(sign, offset_hours, offset_minutes)
    # The pattern puts the date and time digits at fixed places.
    year = int(text[0:4])
    try:
        moment = datetime(
            year,
            int(text[5:7]),
            int(text[8:10]),
            int(text[11:13]),
            int(text[14:16]),
            int(text[17:19]),
            microsecond,
            tzinfo=tz,
        )
        if year in (1, 9999):  # only there can the instant fall outside datetime's range
            moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("is not a valid date and time") from None
    return moment


@functools.lru_cache(maxsize=4096)
def _offset(sign: str, offset_hours: str, offset_minutes: str) -> tzinfo:
    hours, minutes = int(offset_hours), int(offset_minutes)
    if hours > 23 or minutes > 59:
        raise ValueError("has an offset outside -23:59..+23:59")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if sign == "-" else offset) if offset else UTC


_FORMATTED: dict[tuple[datetime, timezone | timedelta | None], str] = {}
_FORMATTED_MAX = 200_000  # instants kept formatted; states are written with the same ones


def format_rfc3339(moment: datetime) -> str:
    """RFC 3339 keeping the datetime's own offset; `Z` for UTC; fraction only when non-zero."""
    # Equal instants in other offsets are equal datetimes: the offset is part of the key. A
    # fixed-offset zone (UTC among them) stands for its offset and is cheaper to take than
    # `utcoffset()`; another zone's offset depends on the instant and its fold.
    zone = moment.tzinfo
    key = (moment, zone if type(zone) is timezone else moment.utcoffset())
    found = _FORMATTED.get(key)
    if found is None:
        if len(_FORMATTED) >= _FORMATTED_MAX:
            _FORMATTED.clear()
        found = _FORMATTED[key] = _format_rfc3339(moment)
    return found


def _format_rfc3339(moment: datetime) -> str:
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("a naive datetime has no RFC 3339 form")
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond % 1000:
        text += f".{moment.microsecond:06d}"
    elif moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _to_timestamp(value: object) -> datetime:
    if isinstance(value, str):
        try:
            return parse_rfc3339(value)
        except ValueError as error:
            raise PydanticCustomError("rfc3339", str(error)) from None
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            raise PydanticCustomError(
                "rfc3339", "must carry a UTC offset (a naive time is ambiguous)"
            )
        if offset.total_seconds() % 60:
            raise PydanticCustomError("rfc3339", "must have an offset of whole minutes")
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise PydanticCustomError("rfc3339", "is not a valid date and time") from None
        return value
    raise PydanticCustomError(
        "rfc3339",
        "must be an RFC 3339 timestamp string with an offset, e.g. 2026-11-27T09:15:00+07:00",
    )


Timestamp = Annotated[
    datetime,
    PlainValidator(_to_timestamp),
    PlainSerializer(format_rfc3339, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": _RFC3339_SCHEMA_PATTERN,
            "description": "RFC 3339 with an offset, e.g. 2026-11-27T09:15:00+07:00.",
        }
    ),
]
"""An aware datetime from RFC 3339 text with an offset; serialised keeping that offset."""

# --- money ---------------------------------------------------------------------------------------

_AMOUNT = re.compile(rf"(?:0|[1-9][0-9]{{0,{AMOUNT_MAX_INTEGER_DIGITS - 1}}})(?:\.[0-9]{{1,2}})?")
_AMOUNT_MESSAGE = (
    'must be a decimal string like "150000.00": digits without sign or leading zeros, '
    f"at most {AMOUNT_MAX_INTEGER_DIGITS} before the point and 2 after it"
)


def _to_amount(value: object) -> Decimal:
    if isinstance(value, str):
        if _AMOUNT.fullmatch(value) is None:
            raise PydanticCustomError("amount_format", _AMOUNT_MESSAGE)
        return Decimal(value)
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if (
            not value.is_finite()
            or value.is_signed()
            or not isinstance(exponent, int)
            or exponent < -2
            or value >= Decimal(10) ** AMOUNT_MAX_INTEGER_DIGITS
        ):
            raise PydanticCustomError("amount_format", _AMOUNT_MESSAGE)
        return value
    raise PydanticCustomError(
        "amount_type", 'must be a string like "150000.00" (a JSON number could lose precision)'
    )


Amount = Annotated[
    Decimal,
    PlainValidator(_to_amount),
    PlainSerializer(lambda amount: format(amount, "f"), return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^(0|[1-9][0-9]{{0,{AMOUNT_MAX_INTEGER_DIGITS - 1}}})(\.[0-9]{{1,2}})?$",
            "description": 'Rupiah as a decimal string, e.g. "150000.00".',
        }
    ),
]

ASSESSED_AMOUNT = "assessed_amount"
"""The attribute in which an event of an assessing step carries the amount assessed."""


def assessed_amount(attributes: Mapping[str, JsonValue]) -> Decimal | None:
    """The amount an event's `attributes.assessed_amount` states, None when it states none.

    Written like `payment.amount`: a decimal string of rupiah, never negative. Raises
    ValueError, with a message for the sender, when the value is not such a string.
    """
    value = attributes.get(ASSESSED_AMOUNT)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError('must be a string like "150000.00" (a JSON number could lose precision)')
    if _AMOUNT.fullmatch(value) is None:
        raise ValueError(_AMOUNT_MESSAGE)
    return Decimal(value)


# --- JSON objects --------------------------------------------------------------------------------


def json_object(max_bytes: int) -> Callable[[dict[str, JsonValue]], dict[str, JsonValue]]:
    """A validator bounding a JSON object's compact UTF-8 size and refusing a raw NIK in it.

    "Raw NIK" is judged by `contains_raw_nik`, so an event that passes never trips the
    downstream check.
    """

    def check(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        try:
            encoded = _compact_json(value)
        except (ValueError, RecursionError):
            raise PydanticCustomError(
                "json_value", "must hold only JSON values (no NaN or Infinity)"
            ) from None
        if len(encoded) > max_bytes:
            raise PydanticCustomError(
                "json_too_large",
                "must be at most {limit} bytes as compact UTF-8 JSON, not {size}",
                {"limit": max_bytes, "size": len(encoded)},
            )
        if document_contains_raw_nik(value):
            raise PydanticCustomError(
                "raw_nik_forbidden",
                "must not carry a raw NIK (a key named nik, or 16 digits under an applicant key)",
            )
        return value

    return check


# Deeper JSON is left to the standard library (and `attributes` to the model, whose JSON
# parser has its own nesting limit).
MAX_DEPTH = 16


def plain_values(int_max: int) -> Callable[[object, int], bool]:
    """A check that a JSON value (at a depth) holds only strings, integers from -2**63 to
    `int_max`, booleans and null in lists and objects nested at most `MAX_DEPTH` levels: what
    orjson writes byte for byte as the standard library's compact encoder does
    (`ensure_ascii=False`). Floats it may write differently (`1e-07` and `1e-7`)."""

    def plain(value: object, depth: int) -> bool:
        kind = type(value)
        if kind is str:  # the most common value: decided first
            return True
        if kind is dict:
            return depth < MAX_DEPTH and all(
                plain(child, depth + 1)
                for child in value.values()  # type: ignore[attr-defined]
            )
        if kind is list:
            return depth < MAX_DEPTH and all(
                plain(child, depth + 1)
                for child in value  # type: ignore[attr-defined]
            )
        if kind is int:
            return -(2**63) <= value <= int_max  # type: ignore[operator]
        return value is None or kind is bool

    return plain


# orjson writes integers up to 2**64 - 1.
ORJSON_PLAIN = plain_values(2**64 - 1)


def right_sized(data: bytes) -> bytes:
    """`data` in an allocation of its own size, for bytes kept after the call that made them.

    orjson (from 3.12) returns its output in the buffer it wrote into, at least 4 KiB and
    grown by doubling, never shrunk: a 300-byte canonical event holds 4 KiB of memory, a
    3 KB document 32 KiB. The copy costs about 0.2 µs; bytes about to be sent or hashed and
    dropped do not need it."""
    return bytes(memoryview(data))


def _compact_json(value: object, *, sort_keys: bool = False) -> bytes:
    """Compact UTF-8 JSON as the standard library writes it (`ensure_ascii=False`; ValueError
    for NaN and Infinity). Plain values (`ORJSON_PLAIN`) are written by orjson, which gives the
    same bytes several times faster; anything else, or anything orjson refuses (a lone
    surrogate, a key that is not a string), by the standard library, as before."""
    if ORJSON_PLAIN(value, 0):
        try:
            return right_sized(orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0))
        except orjson.JSONEncodeError:
            pass
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=sort_keys
    ).encode("utf-8")


Attributes = Annotated[
    dict[str, JsonValue],
    AfterValidator(json_object(ATTRIBUTES_MAX_BYTES)),
    Field(description="Agency-specific data: a JSON object of at most 8 KiB as compact JSON."),
]

Channel = Literal["online", "counter", "mobile", "other"]
PaymentChannel = Literal["bank", "online", "cash"]
Mode = Literal["live", "backfill"]
Seq = Annotated[int, Field(ge=1, le=2**63 - 1, description="The source's per-case counter.")]

# --- models --------------------------------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)


class Officer(_Record):
    """The officer who did the step."""

    id: OfficerId
    role: RoleCode


class Payment(_Record):
    """A payment made at this step, in rupiah."""

    amount: Amount
    currency: Literal["IDR"] = "IDR"
    receipt: Receipt | None = None
    channel: PaymentChannel | None = Field(
        default=None,
        description="How it was paid: at a bank, online (virtual account, QRIS) or in cash.",
    )


class Applicant(_Record):
    """The applicant as Kafka carries it: a pseudonymous reference, never a raw NIK."""

    ref: ApplicantRef


class IncomingApplicant(_Record):
    """The applicant as the intake accepts it: exactly one of `nik` or `ref`.

    Both at once is rejected as ambiguous: the intake would have to pick one and silently drop
    the other, and a ref that disagrees with the NIK would link the case to the wrong person.
    """

    ref: ApplicantRef | None = None
    nik: Nik | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if self.ref is not None and self.nik is not None:
            raise PydanticCustomError("applicant_ambiguous", "give either nik or ref, not both")
        if self.ref is None and self.nik is None:
            raise PydanticCustomError("applicant_empty", "give nik or ref")
        return self

    @model_serializer(mode="wrap")
    def _serialised(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        # With a PseudonymKey as the context's `pseudonym`, a NIK is written as its ref: the
        # intake serialises a validated event straight into its Kafka record, without a copy.
        context = info.context
        key = context.get("pseudonym") if isinstance(context, dict) else None
        if isinstance(key, PseudonymKey) and self.nik is not None:
            return {"ref": key.pseudonymise(self.nik)}
        return handler(self)


ApplicantT = TypeVar("ApplicantT", bound=_Record)


class _EventFields(_Record, Generic[ApplicantT]):
    event_id: EventId
    agency: AgencyCode
    service: ServiceCode
    case_id: CaseId
    step: StepCode
    occurred_at: Timestamp
    seq: Seq | None = None
    officer: Officer | None = None
    applicant: ApplicantT | None = None
    payment: Payment | None = None
    reason: Reason | None = None
    channel: Channel | None = None
    mode: Mode = "live"
    attributes: Attributes = Field(default_factory=dict)


class Event(_EventFields[Applicant]):
    """A step of a case as recorded on `pantau.events` (contract section 2), without raw NIK."""

    def to_json_bytes(self) -> bytes:
        """Compact UTF-8 JSON without the absent optional fields; `occurred_at` keeps its offset."""
        return self.model_dump_json(exclude_none=True).encode("utf-8")

    @classmethod
    def from_json_bytes(cls, data: bytes | str) -> Event:
        """Parse and validate one event; raises pydantic.ValidationError."""
        return cls.model_validate_json(data)

    @classmethod
    def trusted(cls, document: Mapping[str, Any]) -> Event:
        """The event of a document this system validated before (`to_json_bytes` output or a
        record `read_event` accepted), built without validating it again.

        For internal topics only: the result equals `Event.model_validate(document)` for every
        valid event; on anything else it raises KeyError, TypeError or ValueError, or builds
        nonsense. Never use it on input from outside.
        """
        unknown = document.keys() - _EVENT_FIELDS
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        officer = document.get("officer")
        applicant = document.get("applicant")
        payment = document.get("payment")
        return _built(
            cls,
            {
                "event_id": document["event_id"],
                "agency": document["agency"],
                "service": document["service"],
                "case_id": document["case_id"],
                "step": document["step"],
                "occurred_at": trusted_time(document["occurred_at"]),
                "seq": document.get("seq"),
                "officer": None
                if officer is None
                else _built(Officer, {"id": officer["id"], "role": officer["role"]}),
                "applicant": None
                if applicant is None
                else _built(Applicant, {"ref": applicant["ref"]}),
                "payment": None
                if payment is None
                else _built(
                    Payment,
                    {
                        "amount": Decimal(payment["amount"]),
                        "currency": payment.get("currency", "IDR"),
                        "receipt": payment.get("receipt"),
                        "channel": payment.get("channel"),
                    },
                ),
                "reason": document.get("reason"),
                "channel": document.get("channel"),
                "mode": document.get("mode", "live"),
                "attributes": document.get("attributes", {}),
            },
        )


_EVENT_FIELDS = frozenset(Event.model_fields)


def trusted_time(text: str) -> datetime:
    """`parse_rfc3339` of a time it accepted before (or `format_rfc3339` wrote), by the C
    parser where that agrees: several times faster."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:  # fractions beyond microseconds
        return parse_rfc3339(text)
    if moment.tzinfo is None or len(text) < 20 or text[10] not in "Tt":
        return parse_rfc3339(text)
    return moment


_ModelT = TypeVar("_ModelT", bound=BaseModel)


def _built(cls: type[_ModelT], values: dict[str, Any]) -> _ModelT:
    """A model instance holding `values` (every field, in declaration order), unvalidated.

    What `model_construct` does without its per-field default handling, which costs more than
    validating; only for `Event.trusted`.
    """
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


class IncomingEvent(_EventFields[IncomingApplicant]):
    """An event as the HTTP intake accepts it: the applicant may be given by NIK."""

    def pseudonymised(self, key: bytes, key_version: str) -> Event:
        """The Kafka record: a NIK replaced by its versioned keyed hash, an existing ref kept."""
        applicant = None
        if self.applicant is not None:
            ref, nik = self.applicant.ref, self.applicant.nik
            if nik is not None:
                ref = pseudonymise_nik(nik, key, key_version)
            if ref is not None:  # always, since an IncomingApplicant has exactly one of the two
                applicant = Applicant.model_construct(ref=ref)
        # Every field was validated on the way in and the pseudonym is a valid ref by
        # construction, so the fields are moved over, not validated a second time.
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        fields["applicant"] = applicant
        return Event.model_construct(**fields)


# --- encodings -----------------------------------------------------------------------------------


def case_key(agency: str, case_id: str) -> str:
    """A case's key as text: `<agency>|<case_id>`.

    Agency codes cannot contain `|`, so the first `|` always separates the two parts.
    """
    return f"{agency}|{case_id}"


def case_of_key(key: bytes | str) -> tuple[str, str]:
    """The (agency, case_id) a case key names (`case_key`, or `event_key` in UTF-8; a byte that
    is not UTF-8 is replaced). A key without `|` is all agency and no case id."""
    text = key.decode("utf-8", errors="replace") if isinstance(key, bytes) else key
    agency, _, case_id = text.partition("|")
    return agency, case_id


def service_key(agency: str, service: str) -> str:
    """A service's key as text: `<agency>|<service>`, the key of state kept per service."""
    return f"{agency}|{service}"


def event_key(agency: str, case_id: str) -> bytes:
    """The Kafka key of a case's records: `case_key` in UTF-8."""
    return case_key(agency, case_id).encode()


def canonical_bytes(event: Event) -> bytes:
    """The canonical form of an event, for hashing and for duplicate/conflict comparison.

    Compact JSON with sorted keys, UTF-8 without escaping; absent optional fields omitted and
    defaults (`mode`, `attributes`, `payment.currency`) always present, so sending a default
    explicitly or not gives the same bytes. `occurred_at` is the UTC instant as
    `YYYY-MM-DDTHH:MM:SS.ffffffZ` (the same instant in another offset is the same content);
    `payment.amount` has exactly two decimals ("150000" equals "150000.00").
    """
    document = event.model_dump(mode="json", exclude_none=True)
    utc = event.occurred_at.astimezone(UTC)
    document["occurred_at"] = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond:06d}Z"
    )
    if event.payment is not None:
        document["payment"]["amount"] = format(event.payment.amount.quantize(Decimal("0.01")), "f")
    return _compact_json(document, sort_keys=True)


def content_digest(event: Event) -> str:
    """SHA-256 hex of `canonical_bytes(event)`."""
    return canonical_digest(canonical_bytes(event))


def canonical_digest(canonical: bytes) -> str:
    """The `content_digest` of an event whose canonical form is `canonical`, for a reading that
    made that form already."""
    return hashlib.sha256(canonical).hexdigest()


# --- errors --------------------------------------------------------------------------------------

_MESSAGES: Mapping[str, str] = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
}


def describe_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Friendly `{"field", "message"}` pairs; the field is the dotted path (`payment.amount`).

    List positions are written `[i]` (`attributes.items[2]`); an empty field means the whole
    event. Inputs are never included, so the result is safe to log and to return to callers.
    """
    return [
        {"field": _field_path(error), "message": _message(error)}
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def _field_path(error: ErrorDetails) -> str:
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _message(error: ErrorDetails) -> str:
    loc = error["loc"]
    if error["type"] == "extra_forbidden" and loc and str(loc[-1]).lower() == "nik":
        return (
            "a raw NIK is not accepted here; send it through the HTTP intake, "
            "which replaces it by applicant.ref"
        )
    return _MESSAGES.get(error["type"], error["msg"])
