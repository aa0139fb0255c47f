"""Kafka records of the four history topics turned into ClickHouse rows (pure: no I/O, no clock).

Events and alerts are validated with the contract models; an invalid record is not history
(the tracker sends invalid events to the DLQ) and is skipped. Case states and alert actions are
written by other services whose formats may grow, so their parsers are tolerant: they take the
fields they know, accept a few spellings, fall back to the Kafka key and time, and keep the
whole record in a raw column.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, NamedTuple

import orjson
from pydantic import ValidationError

from pantau.core.alerts import Alert
from pantau.core.catalog import Catalog, CatalogError
from pantau.core.events import Event, canonical_bytes, case_of_key, parse_rfc3339
from pantau.core.fast_events import CheckedEvent, checked_event
from pantau.core.json_objects import json_object
from pantau.core.standards import StandardVersion
from pantau.core.standards import canonical_bytes as canonical_catalog
from pantau.history.chain import SEALED, CaseKey, ChainHead, Link, link_hash

# What an `events` column holds: a copy of a field of the hashed canonical event ("content",
# what `event_columns` gives and verify checks), a part of the receipt the link seals ("receipt":
# when and where the broker received the event, `receipt_columns`), the chain's link itself
# ("link"), or the time the row was written, which nothing seals ("stored").
EventColumnKind = Literal["content", "receipt", "link", "stored"]

# Every `events` column once, in the table's order, with what it holds.
EVENT_TABLE: tuple[tuple[str, EventColumnKind], ...] = (
    ("event_id", "content"),
    ("agency", "content"),
    ("service", "content"),
    ("case_id", "content"),
    ("step", "content"),
    ("seq", "content"),
    ("occurred_at", "content"),
    ("occurred_at_us", "content"),
    ("received_at", "receipt"),
    ("received_at_ms", "receipt"),
    ("officer_id", "content"),
    ("officer_role", "content"),
    ("applicant_ref", "content"),
    ("payment_amount", "content"),
    ("payment_currency", "content"),
    ("payment_receipt", "content"),
    ("reason", "content"),
    ("channel", "content"),
    ("mode", "content"),
    ("attributes", "content"),
    ("canonical", "link"),
    ("position", "link"),
    ("prev_hash", "link"),
    ("hash", "link"),
    ("source_partition", "receipt"),
    ("source_offset", "receipt"),
    ("stored_at", "stored"),
    ("chain_version", "link"),
    ("receipt", "link"),
)


def _holding(kind: EventColumnKind) -> tuple[str, ...]:
    """The `events` columns that hold one kind of value, in the table's order."""
    return tuple(name for name, held in EVENT_TABLE if held == kind)


EVENT_COLUMNS = tuple(name for name, _ in EVENT_TABLE)
# The columns that copy the hashed canonical event, `event_id` first.
CONTENT_COLUMNS = _holding("content")
# The columns the receipt seals (chain version 2).
RECEIPT_COLUMNS = _holding("receipt")
# The link: the canonical event, its position, the hashes, the chain version and the receipt.
LINK_COLUMNS = _holding("link")
ALERT_COLUMNS = (
    "alert_id",
    "rule",
    "category",
    "severity",
    "agency",
    "service",
    "case_id",
    "step",
    "officer_id",
    "occurred_at",
    "detected_at",
    "detected_at_ms",
    "message",
    "evidence",
    "event_ids",
    "alert",
    "stored_at",
)
ALERT_ACTION_COLUMNS = (
    "action_id",
    "alert_id",
    "action",
    "actor",
    "note",
    "at",
    "at_ms",
    "raw",
    "stored_at",
)
CASE_STATE_COLUMNS = (
    "agency",
    "service",
    "case_id",
    "version",
    "status",
    "current_step",
    "opened_at",
    "closed_at",
    "due_at",
    "breached",
    "state",
    "updated_at",
    "stored_at",
)
STANDARD_VERSION_COLUMNS = (
    "version",
    "content_hash",
    "valid_from",
    "published_by",
    "published_at",
    "catalog",
    "stored_at",
)
SERVICE_STANDARD_COLUMNS = (
    "agency",
    "service",
    "name",
    "sla",
    "fee_min",
    "fee_max",
    "loaded_at",
    "version",
    "valid_from",
)
SERVICE_STEP_COLUMNS = (
    "agency",
    "service",
    "step",
    "step_index",
    "sla",
    "roles",
    "mandatory",
    "terminal",
    "successful",
    "loaded_at",
    "version",
)
ERASURE_COLUMNS = (
    "erasure_id",
    "erased_at",
    "erased_by",
    "why",
    "scope",
    "applicant_key",
    "data_keys",
    "stored_at",
)

Row = tuple[Any, ...]


def utc_naive(moment: datetime) -> datetime:
    """The UTC wall time of an aware datetime, naive, as ClickHouse DateTime columns hold it."""
    return moment.astimezone(UTC).replace(tzinfo=None)


# The range of ClickHouse's DateTime (UInt32 seconds since the epoch, UTC), on 18.16 and today.
DATETIME_MIN = datetime(1970, 1, 1, tzinfo=UTC).replace(tzinfo=None)
DATETIME_MAX = datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC).replace(tzinfo=None)


def datetime_column(moment: datetime) -> tuple[datetime, int]:
    """An aware instant as a `DateTime` column (whole seconds, UTC, naive) and its microseconds.

    ClickHouse's `DateTime` holds whole seconds between 1970 and 2106. An instant outside that
    range (the contract accepts any year) is stored as the nearest bound with 0 microseconds;
    the canonical event keeps the instant itself.
    """
    naive = utc_naive(moment)
    if naive < DATETIME_MIN:
        return DATETIME_MIN, 0
    if naive > DATETIME_MAX:
        return DATETIME_MAX, 0
    return naive.replace(microsecond=0), naive.microsecond


def seconds(moment: datetime) -> datetime:
    """An aware instant as a `DateTime` column value (see `datetime_column`)."""
    return datetime_column(moment)[0]


def from_millis(millis: int) -> datetime:
    """A Kafka timestamp (ms since the epoch) as an aware UTC datetime; a timestamp outside
    what `DateTime` holds (-1 when the producer set none) is the nearest bound."""
    low, high = 0, int(DATETIME_MAX.replace(tzinfo=UTC).timestamp()) * 1000 + 999
    return datetime.fromtimestamp(min(max(millis, low), high) / 1000, tz=UTC)


# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AcceptedEvent:
    """A valid event read from `pantau.events`, with where and when the broker received it."""

    event: Event
    canonical: bytes
    received_at: datetime
    partition: int
    offset: int


def accept_event(value: bytes, catalog: Catalog) -> Event | None:
    """The event in a record, or None when it is invalid (not JSON, not the contract, or an
    agency, service or step the catalog does not know)."""
    try:
        event = Event.from_json_bytes(value)
    except ValidationError:
        return None
    service = catalog.service(event.agency, event.service)
    if service is None or service.step(event.step) is None:
        return None
    return event


def event_columns(event: Event) -> dict[str, Any]:
    """The `events` columns that copy a field of the event, as ClickHouse returns them."""
    occurred, occurred_us = datetime_column(event.occurred_at)
    payment = event.payment
    return {
        "event_id": event.event_id,
        "agency": event.agency,
        "service": event.service,
        "case_id": event.case_id,
        "step": event.step,
        "seq": event.seq,
        "occurred_at": occurred,
        "occurred_at_us": occurred_us,
        "officer_id": event.officer.id if event.officer else "",
        "officer_role": event.officer.role if event.officer else "",
        "applicant_ref": event.applicant.ref if event.applicant else "",
        "payment_amount": payment.amount.quantize(Decimal("0.01")) if payment else None,
        "payment_currency": payment.currency if payment else "",
        "payment_receipt": (payment.receipt or "") if payment else "",
        "reason": event.reason or "",
        "channel": event.channel or "",
        "mode": event.mode,
        "attributes": _attributes_text(event.attributes),
    }


_CENT = Decimal("0.01")


def _attributes_text(attributes: Mapping[str, Any]) -> str:
    """The `attributes` column: compact JSON with sorted keys, unicode unescaped."""
    return json.dumps(attributes, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def receipt_columns(accepted: AcceptedEvent) -> dict[str, Any]:
    """The `events` columns that say when and where the broker received the event."""
    received, received_us = datetime_column(accepted.received_at)
    return {
        "received_at": received,
        "received_at_ms": received_us // 1000,
        "source_partition": accepted.partition,
        "source_offset": accepted.offset,
    }


def receipt_text(columns: Mapping[str, Any]) -> str:
    """The sealed receipt of an event as stored: compact JSON of the receive time (UTC, ms),
    partition and offset, from the receipt columns (so verify can rebuild it from a row)."""
    received: datetime = columns["received_at"]
    at = f"{received:%Y-%m-%dT%H:%M:%S}.{int(columns['received_at_ms']):03d}Z"
    return (
        f'{{"offset":{int(columns["source_offset"])},'
        f'"partition":{int(columns["source_partition"])},"received_at":"{at}"}}'
    )


def receipt_of_text(text: str) -> dict[str, Any]:
    """The receipt columns a stored receipt describes; raises ValueError when it is not one."""
    document = json.loads(text)
    at = document["received_at"]
    if not (isinstance(at, str) and len(at) == 24 and at.endswith("Z")):
        raise ValueError("not a receipt time")
    moment = datetime.strptime(at[:19], "%Y-%m-%dT%H:%M:%S")  # noqa: DTZ007 (UTC, naive)
    return {
        "received_at": moment,
        "received_at_ms": int(at[20:23]),
        "source_partition": int(document["partition"]),
        "source_offset": int(document["offset"]),
    }


def receipt_bytes(accepted: AcceptedEvent) -> bytes:
    """The receipt an accepted event's link seals (chain version 2)."""
    return receipt_text(receipt_columns(accepted)).encode("ascii")


def event_row(accepted: AcceptedEvent, link: Link, stored_at: datetime) -> Row:
    """The `events` row of an accepted event at its place in the chain."""
    receipt = receipt_bytes(accepted).decode("ascii") if link.version >= SEALED else ""
    return event_row_at(accepted, link, seconds(stored_at), receipt)


def event_row_at(accepted: AcceptedEvent, link: Link, stored_at: datetime, receipt: str) -> Row:
    """`event_row` with `stored_at` already a DateTime column value (one per batch) and the
    receipt text the link sealed ("" for a legacy link)."""
    event = accepted.event
    occurred, occurred_us = datetime_column(event.occurred_at)
    received, received_us = datetime_column(accepted.received_at)
    officer, payment = event.officer, event.payment
    attributes = event.attributes
    return (
        event.event_id,
        event.agency,
        event.service,
        event.case_id,
        event.step,
        event.seq,
        occurred,
        occurred_us,
        received,
        received_us // 1000,
        officer.id if officer else "",
        officer.role if officer else "",
        event.applicant.ref if event.applicant else "",
        payment.amount.quantize(_CENT) if payment else None,
        payment.currency if payment else "",
        (payment.receipt or "") if payment else "",
        event.reason or "",
        event.channel or "",
        event.mode,
        _attributes_text(attributes) if attributes else "{}",
        accepted.canonical.decode("utf-8"),
        link.position,
        link.prev_hash,
        link.hash,
        accepted.partition,
        accepted.offset,
        stored_at,
        link.version,
        receipt,
    )


# --- events in bulk: what the sink does per record and per batch ----------------------------------


class TakenEvent(NamedTuple):
    """A valid event taken from `pantau.events`, ready to be chained: its case, id, canonical
    form, the receipt its link will seal, and its `events` columns up to `attributes` (the
    columns before the chain's, receive columns included)."""

    case: CaseKey
    event_id: str
    canonical: bytes
    receipt: str
    columns: Row
    partition: int
    offset: int


_RECEIVED: dict[int, tuple[datetime, str]] = {}
_RECEIVED_MAX = 4096  # distinct receive seconds kept formatted; a batch spans a few


def _received_second(second: int) -> tuple[datetime, str]:
    found = _RECEIVED.get(second)
    if found is None:
        if len(_RECEIVED) >= _RECEIVED_MAX:
            _RECEIVED.clear()
        moment = datetime.fromtimestamp(second, tz=UTC).replace(tzinfo=None)
        found = _RECEIVED[second] = (moment, f"{moment:%Y-%m-%dT%H:%M:%S}")
    return found


_MILLIS_MAX = int(DATETIME_MAX.replace(tzinfo=UTC).timestamp()) * 1000 + 999


def receive_columns(timestamp_ms: int, partition: int, offset: int) -> tuple[datetime, int, str]:
    """`received_at`, `received_at_ms` and the receipt text of a record, from its Kafka
    timestamp: the same values as `receipt_columns` and `receipt_bytes` of an `AcceptedEvent`
    received `from_millis(timestamp_ms)`."""
    second, millis = divmod(min(max(timestamp_ms, 0), _MILLIS_MAX), 1000)
    if second == _MILLIS_MAX // 1000:  # the last second DateTime holds: its start, as clamped
        millis = 0
    received, text = _received_second(second)
    receipt = f'{{"offset":{offset},"partition":{partition},"received_at":"{text}.{millis:03d}Z"}}'
    return received, millis, receipt


def take_event(
    value: bytes, catalog: Catalog, timestamp_ms: int, partition: int, offset: int
) -> TakenEvent | None:
    """The event of a `pantau.events` record, or None when it is invalid (as `accept_event`
    judges). Most records are read by the fast check; the rest by the contract model."""
    checked = checked_event(value)
    if checked is None:
        event = accept_event(value, catalog)
        return None if event is None else taken_of_event(event, timestamp_ms, partition, offset)
    fast = checked.event
    service = catalog.service(fast.agency, fast.service)
    if service is None or service.step(fast.step) is None:
        return None
    return taken_of_checked(checked, timestamp_ms, partition, offset)


def taken_of_checked(
    checked: CheckedEvent, timestamp_ms: int, partition: int, offset: int
) -> TakenEvent:
    """`taken_of_event` of an event read by the fast check (the same values)."""
    event, utc = checked.event, checked.occurred_utc
    if DATETIME_MIN <= utc <= DATETIME_MAX:
        occurred_us = utc.microsecond
        occurred = (
            datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)  # noqa: DTZ001 (naive UTC)
            if occurred_us
            else utc
        )
    else:
        occurred, occurred_us = datetime_column(checked.occurred_at)
    received, received_ms, receipt = receive_columns(timestamp_ms, partition, offset)
    officer = event.officer
    applicant = event.applicant
    payment = event.payment
    amount = checked.amount
    agency, case_id, event_id = event.agency, event.case_id, event.event_id
    columns = (
        event_id,
        agency,
        event.service,
        case_id,
        event.step,
        event.seq,
        occurred,
        occurred_us,
        received,
        received_ms,
        officer.id if officer else "",
        officer.role if officer else "",
        applicant.ref if applicant else "",
        amount.quantize(_CENT) if amount is not None else None,
        "IDR" if payment else "",
        (payment.receipt or "") if payment else "",
        event.reason or "",
        event.channel or "",
        event.mode,
        checked.attributes_text,
    )
    return TakenEvent(
        (agency, case_id), event_id, checked.canonical, receipt, columns, partition, offset
    )


_NO_LINK = Link(0, "", "")


def taken_of_event(event: Event, timestamp_ms: int, partition: int, offset: int) -> TakenEvent:
    """A valid event received at a Kafka timestamp, partition and offset, ready to be chained."""
    accepted = AcceptedEvent(
        event, canonical_bytes(event), from_millis(timestamp_ms), partition, offset
    )
    columns = event_row_at(accepted, _NO_LINK, DATETIME_MIN, "")[: EVENT_COLUMNS.index("canonical")]
    receipt = receipt_bytes(accepted).decode("ascii")
    case = (event.agency, event.case_id)
    return TakenEvent(case, event.event_id, accepted.canonical, receipt, columns, partition, offset)


def chain_rows(
    batch: list[TakenEvent], heads: Mapping[CaseKey, ChainHead], stored_at: datetime
) -> tuple[list[Row], dict[CaseKey, ChainHead], int]:
    """The `events` rows of a batch chained after the given heads (one for each case in the
    batch), the new heads, and how many events were already chained (duplicates, no row).

    The same links as `ChainHead.extended` event after event, sealing each receipt; the heads
    are built once per case, not once per event. `stored_at` is a DateTime column value.
    """
    state: dict[CaseKey, tuple[int, str, set[str]]] = {}
    rows: list[Row] = []
    duplicates = 0
    for taken in batch:
        case = taken.case
        found = state.get(case)
        if found is None:
            head = heads[case]
            position, prev_hash, ids = head.position, head.hash, set(head.event_ids)
        else:
            position, prev_hash, ids = found
        if taken.event_id in ids:
            duplicates += 1
            state[case] = (position, prev_hash, ids)
            continue
        receipt = taken.receipt
        new_hash = link_hash(prev_hash, taken.canonical, receipt.encode("ascii"))
        position += 1
        ids.add(taken.event_id)
        state[case] = (position, new_hash, ids)
        rows.append(
            (
                *taken.columns,
                taken.canonical.decode("utf-8"),
                position,
                prev_hash,
                new_hash,
                taken.partition,
                taken.offset,
                stored_at,
                SEALED,
                receipt,
            )
        )
    new_heads = {
        case: ChainHead(position, last_hash, tuple(ids))
        for case, (position, last_hash, ids) in state.items()
    }
    return rows, new_heads, duplicates


def event_of_canonical(canonical: str) -> Event:
    """The event a stored canonical form describes; raises ValidationError when it is not one."""
    return Event.from_json_bytes(canonical.encode("utf-8"))


# --- alerts --------------------------------------------------------------------------------------


def alert_row(value: bytes, stored_at: datetime) -> Row | None:
    """The `alerts` row of an alert record, or None when it is not a valid alert."""
    try:
        alert = Alert.from_json_bytes(value)
    except ValidationError:
        return None
    detected, detected_us = datetime_column(alert.detected_at)
    return (
        alert.alert_id,
        alert.rule.value,
        alert.category.value,
        alert.severity.value,
        alert.agency,
        alert.service,
        alert.case_id,
        alert.step or "",
        alert.officer_id or "",
        seconds(alert.occurred_at) if alert.occurred_at else None,
        detected,
        detected_us // 1000,
        alert.message,
        json.dumps(alert.evidence, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
        list(alert.event_ids),
        alert.to_json_bytes().decode("utf-8"),
        seconds(stored_at),
    )


# --- tolerant parsing of other services' records -----------------------------------------------


def _object(value: bytes) -> dict[str, Any] | None:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        # what orjson refuses and the standard library reads: NaN, integers beyond 64 bits
        return json_object(value)
    return document if isinstance(document, dict) else None


def _text(document: Mapping[str, Any], *names: str) -> str:
    for name in names:
        found = document.get(name)
        if isinstance(found, str) and found:
            return found
        if isinstance(found, Mapping):  # e.g. {"current_step": {"code": "verified", ...}}
            code = found.get("code") or found.get("step")
            if isinstance(code, str) and code:
                return code
    return ""


def _time(document: Mapping[str, Any], *names: str) -> datetime | None:
    for name in names:
        found = document.get(name)
        if isinstance(found, str):
            try:
                return parse_rfc3339(found)
            except ValueError:
                continue
        if isinstance(found, int | float) and not isinstance(found, bool) and found > 0:
            # epoch seconds or milliseconds; nothing in Pantau's lifetime is before 2001 in ms
            return from_millis(int(found)) if found > 1e12 else from_millis(int(found * 1000))
    return None


def _flag(document: Mapping[str, Any], *names: str) -> bool:
    for name in names:
        found = document.get(name)
        if isinstance(found, bool):
            return found
        if isinstance(found, int | float):
            return bool(found)
        if isinstance(found, str):
            return found.lower() in ("true", "yes", "1", "breached")
    return False


def _key_parts(key: bytes | None) -> tuple[str, str]:
    if not key:
        return "", ""
    return case_of_key(key)


def case_state_row(
    value: bytes, key: bytes | None, timestamp_ms: int, offset: int, stored_at: datetime
) -> Row | None:
    """The `case_states` row of the tracker's latest-state record, or None when it is unusable
    (not a JSON object, or no agency and case id in it nor in its key).

    Without a `version` in the record, its Kafka offset orders the states of a case: all records
    of a case share its key, hence one partition, where offsets only grow (compaction keeps them).
    """
    document = _object(value)
    if document is None:
        return None
    nested = document.get("case")
    merged: dict[str, Any] = {**(nested if isinstance(nested, dict) else {}), **document}
    key_agency, key_case = _key_parts(key)
    agency = _text(merged, "agency") or key_agency
    case_id = _text(merged, "case_id") or key_case
    if not agency or not case_id:
        return None
    updated = from_millis(timestamp_ms)
    version = merged.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        version = offset + 1
    opened = _time(merged, "opened_at", "submitted_at", "started_at")
    closed = _time(merged, "closed_at", "terminated_at", "finished_at")
    due = _time(merged, "due_at", "deadline", "sla_due_at")
    return (
        agency,
        _text(merged, "service"),
        case_id,
        version,
        _text(merged, "status", "state"),
        _text(merged, "current_step", "step", "last_step"),
        seconds(opened) if opened else None,
        seconds(closed) if closed else None,
        seconds(due) if due else None,
        int(_flag(merged, "breached", "sla_breached", "case_overdue_fired")),
        value.decode("utf-8", errors="replace"),
        seconds(updated),
        seconds(stored_at),
    )


def alert_action_row(
    value: bytes, key: bytes | None, timestamp_ms: int, stored_at: datetime
) -> Row | None:
    """The `alert_actions` row of an operator action `{action_id, alert_id, action, actor, note,
    at}`, or None when it names no alert or no action. A missing `action_id` is derived from the
    action's content, so a replayed record keeps its id; a missing `at` is the Kafka time."""
    document = _object(value)
    if document is None:
        return None
    alert_id = _text(document, "alert_id") or (key or b"").decode("utf-8", errors="replace")
    action = _text(document, "action", "type", "kind")
    if not alert_id or not action:
        return None
    actor = _text(document, "actor", "operator", "user", "by")
    note = _text(document, "note", "comment", "text")
    at = _time(document, "at", "occurred_at", "created_at", "timestamp") or from_millis(
        timestamp_ms
    )
    at_utc = at.astimezone(UTC)
    at_seconds, at_us = datetime_column(at_utc)
    action_id = _text(document, "action_id", "id")
    if not action_id:
        identity = json.dumps([alert_id, action, actor, note, at_utc.isoformat()])
        action_id = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
    return (
        action_id,
        alert_id,
        action,
        actor,
        note,
        at_seconds,
        at_us // 1000,
        value.decode("utf-8", errors="replace"),
        seconds(stored_at),
    )


# --- the catalog's service standards -----------------------------------------------------------


@dataclass(frozen=True)
class TakenVersion:
    """A version of the service standards read from the standards topic, as its rows: the
    `standards` row and the rows of its services and steps (`service_standards`,
    `service_steps`)."""

    row: Row
    services: list[Row]
    steps: list[Row]


def taken_version(value: bytes, stored_at: datetime) -> TakenVersion | None:
    """The rows of a record of the standards topic, or None when it is not a valid version
    (not one, a content hash that does not match, a catalog that does not validate)."""
    try:
        version = StandardVersion.from_record(value)
    except (ValueError, KeyError, TypeError, CatalogError):
        return None
    row = (
        version.number,
        version.content_hash,
        seconds(version.valid_from),
        version.published_by,
        seconds(version.published_at),
        canonical_catalog(version.document).decode("utf-8"),
        seconds(stored_at),
    )
    services, steps = standard_rows(
        version.catalog, stored_at, version=version.number, valid_from=version.valid_from
    )
    return TakenVersion(row, services, steps)


def standard_version_row(value: bytes, stored_at: datetime) -> Row | None:
    """The `standards` row of a record of the standards topic, or None when it is not a valid
    version."""
    taken = taken_version(value, stored_at)
    return None if taken is None else taken.row


def standard_rows(
    catalog: Catalog, loaded_at: datetime, version: int = 0, valid_from: datetime | None = None
) -> tuple[list[Row], list[Row]]:
    """Rows of `service_standards` and `service_steps` for one catalog: version `version` of
    the published standards (valid from `valid_from`), or version 0 for the catalog a process
    was started with when no version is published."""
    services: list[Row] = []
    steps: list[Row] = []
    loaded = seconds(loaded_at)
    valid = seconds(valid_from) if valid_from is not None else DATETIME_MIN
    for service in catalog.services.values():
        services.append(
            (
                service.agency,
                service.code,
                service.name,
                str(service.sla) if service.sla else "",
                service.fee.min.quantize(Decimal("0.01")),
                service.fee.max.quantize(Decimal("0.01")),
                loaded,
                version,
                valid,
            )
        )
        for index, step in enumerate(service.steps, start=1):
            steps.append(
                (
                    service.agency,
                    service.code,
                    step.code,
                    index,
                    str(step.sla) if step.sla else "",
                    sorted(step.roles),
                    int(step.code in service.mandatory),
                    int(step.terminal),
                    int(step.is_success),
                    loaded,
                    version,
                )
            )
    return services, steps
