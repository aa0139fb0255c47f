"""The alert of the contract (section 5): the rule table, deterministic ids and the alert record."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, NotRequired, TypedDict, Unpack

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    PlainValidator,
    Strict,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from pantau.core.events import (
    AgencyCode,
    CaseId,
    EventId,
    FreeText,
    OfficerId,
    ServiceCode,
    StepCode,
    Timestamp,
    json_object,
    parse_rfc3339,
)
from pantau.core.rule_table import RULES, Category, Rule, RuleInfo, Severity, Table, rules_of

__all__ = [
    "EVIDENCE_MAX_BYTES",
    "RULES",
    "Alert",
    "AlertFields",
    "Category",
    "Rule",
    "RuleInfo",
    "Severity",
    "alert_id",
    "detector_alert",
    "format_detected_at",
    "make_alert",
]

EVIDENCE_MAX_BYTES = 16 * 1024
MESSAGE_MAX_CHARS = 2000
EVENT_IDS_MAX = 1000
_ALERT_ID_DOMAIN = "pantau.alert/v1"
_ALERT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


CROSS_CASE_RULES: frozenset[str] = frozenset(rules_of(Table.CROSS_CASE))
"""The rules that extend the contract's table (docs/contract-extensions.md)."""

DEEMED_APPROVAL_RULES: frozenset[str] = frozenset(rules_of(Table.DEEMED_APPROVAL))
"""The rules of services with deemed approval (docs/contract-extensions.md)."""

FEE_RULES: frozenset[str] = frozenset(rules_of(Table.FEE))
"""The rules on how a case's fee is assessed and paid (docs/contract-extensions.md)."""


def alert_id(rule: str, agency: str, case_id: str, trigger: str) -> str:
    """The deterministic id of the alert of `rule` on a case for one occurrence.

    `trigger` is the rule-specific identity of the occurrence, chosen so that the same occurrence
    always gives the same trigger however often it is detected (replays, restarts, several
    workers): usually the event_id of the triggering event; for a deadline noticed by a timer,
    the step whose deadline passed (so the timer and a late arrival of that step agree).

    The id is the first 32 hex digits of SHA-256 over the JSON array
    `["pantau.alert/v1", rule, agency, case_id, trigger]`, which no two different tuples share.
    Raises ValueError for a rule not in the table.
    """
    parts = [_ALERT_ID_DOMAIN, Rule(rule).value, agency, case_id, trigger]
    # orjson writes an array of strings exactly as `json.dumps(parts, ensure_ascii=False,
    # separators=(",", ":"))` encoded in UTF-8 (a property test holds them together), in a
    # twentieth of the time: detectors raise an alert on many steps.
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:32]


def format_detected_at(moment: datetime) -> str:
    """UTC with milliseconds and `Z`, e.g. `2026-11-27T03:02:01.120Z`."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def _to_detected_at(value: object) -> datetime:
    """Any RFC 3339 time with an offset (or an aware datetime), as UTC truncated to milliseconds.

    Truncating on input makes the value exactly what its JSON form says, so alerts round-trip.
    """
    if isinstance(value, str):
        try:
            value = parse_rfc3339(value)
        except ValueError as error:
            raise PydanticCustomError("rfc3339", str(error)) from None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise PydanticCustomError(
            "rfc3339", "must be an RFC 3339 timestamp with an offset, e.g. 2026-11-27T03:02:01.120Z"
        )
    utc = value.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


DetectedAt = Annotated[
    datetime,
    PlainValidator(_to_detected_at),
    PlainSerializer(format_detected_at, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "When Pantau detected it: UTC with milliseconds, e.g. "
            "2026-11-27T03:02:01.120Z.",
        }
    ),
]


def _alert_id_format(value: str) -> str:
    if _ALERT_ID.fullmatch(value) is None:
        raise PydanticCustomError(
            "string_pattern_mismatch", "must be 1-128 characters of A-Z a-z 0-9 . _ : -"
        )
    return value


AlertId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        description="Deterministic id: 32 hex digits when made by `alert_id`.",
        json_schema_extra={"pattern": _ALERT_ID.pattern},
    ),
    AfterValidator(_alert_id_format),
]
Message = Annotated[
    FreeText,
    Field(min_length=1, max_length=MESSAGE_MAX_CHARS, description="For the operator to read."),
]
Evidence = Annotated[
    dict[str, JsonValue],
    AfterValidator(json_object(EVIDENCE_MAX_BYTES)),
    Field(description="What the rule saw: a JSON object of at most 16 KiB as compact JSON."),
]


class Alert(BaseModel):
    """A suspected maladministration on one case, as published on `pantau.alerts`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)

    alert_id: AlertId
    rule: Annotated[Rule, Strict(False)]
    category: Annotated[Category, Strict(False)]
    severity: Annotated[Severity, Strict(False)]
    agency: AgencyCode
    service: ServiceCode
    case_id: CaseId
    step: StepCode | None = None
    officer_id: OfficerId | None = None
    occurred_at: Timestamp | None = None
    detected_at: DetectedAt
    message: Message
    evidence: Evidence = Field(default_factory=dict)
    event_ids: list[EventId] = Field(default_factory=list, max_length=EVENT_IDS_MAX)
    standard_version: int | None = Field(
        default=None,
        ge=1,
        description="The published version of the service standards the case was judged by "
        "(docs/contract-extensions.md); absent when the standards were never published.",
    )

    @field_validator("category")
    @classmethod
    def _category_of_rule(cls, category: Category, info: ValidationInfo) -> Category:
        rule = info.data.get("rule")
        if rule is not None and not RULES[rule].allows(category):
            raise PydanticCustomError(
                "category_mismatch",
                "rule {rule} has category {expected}",
                {"rule": rule.value, "expected": RULES[rule].category.value},
            )
        return category

    def to_json_bytes(self) -> bytes:
        """Compact UTF-8 JSON without the absent optional fields."""
        return self.model_dump_json(exclude_none=True).encode("utf-8")

    @classmethod
    def from_json_bytes(cls, data: bytes | str) -> Alert:
        """Parse and validate one alert; raises pydantic.ValidationError."""
        return cls.model_validate_json(data)


class AlertFields(TypedDict):
    """What an alert says beyond its rule (see `make_alert`): where it is, what it is about,
    when it was raised and why, with the events it rests on."""

    agency: str
    service: str
    case_id: str
    trigger: str
    detected_at: datetime
    message: str
    step: NotRequired[str | None]
    officer_id: NotRequired[str | None]
    occurred_at: NotRequired[datetime | None]
    evidence: NotRequired[Mapping[str, JsonValue] | None]
    event_ids: NotRequired[Iterable[str]]


def make_alert(
    rule: str, *, category: Category | None = None, **fields: Unpack[AlertFields]
) -> Alert:
    """An alert of `rule` with its category and default severity from the rule table.

    `category` overrides the table's only for a rule that allows several (`citizen.report`).

    The id comes from `alert_id(rule, agency, case_id, trigger)`; see there for `trigger`.
    Raises ValueError for an unknown rule and pydantic.ValidationError for invalid fields.
    """
    return Alert.model_validate(_alert_values(rule, fields, fields["detected_at"], category))


def _alert_values(
    rule: str, fields: AlertFields, detected_at: datetime, category: Category | None
) -> dict[str, object]:
    """The fields of an alert in declaration order, its id, category and severity filled in."""
    info = RULES[Rule(rule).value]
    agency, case_id = fields["agency"], fields["case_id"]
    return {
        "alert_id": alert_id(rule, agency, case_id, fields["trigger"]),
        "rule": info.rule,
        "category": info.category if category is None else category,
        "severity": info.severity,
        "agency": agency,
        "service": fields["service"],
        "case_id": case_id,
        "step": fields.get("step"),
        "officer_id": fields.get("officer_id"),
        "occurred_at": fields.get("occurred_at"),
        "detected_at": detected_at,
        "message": fields["message"],
        "evidence": dict(fields.get("evidence") or {}),
        "event_ids": list(fields.get("event_ids", ())),
        "standard_version": None,
    }


_ALERT_FIELDS = tuple(Alert.model_fields)


def detector_alert(rule: str, **fields: Unpack[AlertFields]) -> Alert:
    """`make_alert` for Pantau's own detectors, built without validating it again.

    A detector makes its alert from an event that was validated when it was read (its codes,
    ids and aware times) and from its own text and evidence, so validation would only repeat
    itself; it cost more than the detection on a step that raises alerts. The result equals
    `make_alert` with the same arguments (a unit test holds them together): the rule's category
    and severity from the table and `detected_at` in UTC truncated to milliseconds. Input from
    outside (a citizen's report, an operator) goes through `make_alert`.
    """
    detected_at, occurred_at = fields["detected_at"], fields.get("occurred_at")
    if detected_at.utcoffset() is None or (
        occurred_at is not None and occurred_at.utcoffset() is None
    ):
        raise ValueError("an alert's times must be aware")
    utc = detected_at.astimezone(UTC)
    values = _alert_values(
        rule, fields, utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000), None
    )
    alert = Alert.__new__(Alert)
    object.__setattr__(alert, "__dict__", values)
    object.__setattr__(alert, "__pydantic_fields_set__", set(_ALERT_FIELDS))
    object.__setattr__(alert, "__pydantic_extra__", None)
    object.__setattr__(alert, "__pydantic_private__", None)
    return alert
