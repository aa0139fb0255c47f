"""Reading a record of `pantau.events`: what is trusted, and why a record is dead-lettered.

Agency backends may publish to Kafka directly, so nothing read is trusted: the bytes must be an
event of the contract, for a service and step of the catalog, under the key of its case, and
without a raw NIK. A rejected record goes to the DLQ with an error code and a detail that never
carries a NIK.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

import orjson
from pydantic import ValidationError

from pantau.core.catalog import Catalog
from pantau.core.events import (
    Event,
    canonical_digest,
    contains_raw_nik,
    content_digest,
    describe_errors,
    document_contains_raw_nik,
    event_key,
    redact_nik,
)
from pantau.core.fast_events import checked_event, model_event
from pantau.core.pseudonym import has_standalone_nik_run


@dataclass(frozen=True)
class Rejection:
    """Why a record is not an acceptable event: a stable `code` and a NIK-free `detail`."""

    code: str
    detail: str

    @property
    def detail_bytes(self) -> bytes:
        return redact_nik(self.detail.encode("utf-8"))


def read_event(key: bytes | None, value: bytes | None, catalog: Catalog) -> Event | Rejection:
    """The event in a record, or why it is rejected.

    Codes: `malformed` (not a UTF-8 JSON object), `raw_nik`, `schema` (not an event of the
    contract), `unknown_agency`, `unknown_service`, `unknown_step`, `key_mismatch` (the record
    key is not `<agency>|<case_id>`, so it may sit on another partition than its case).
    """
    found = read_record(key, value, catalog)
    return found if isinstance(found, Rejection) else found.event


class ReadEvent(NamedTuple):
    """A record's valid event, the record's bytes (that event's JSON) and the event's
    `content_digest`."""

    event: Event
    raw: bytes
    digest: str


def read_record(key: bytes | None, value: bytes | None, catalog: Catalog) -> ReadEvent | Rejection:
    """`read_event`, also giving the record's bytes and the event's content digest.

    A record the fast reading vouches for (`checked_event`: no raw NIK, valid, and its
    canonical form made while parsing) is not validated again. Anything else is parsed once
    and judged by the raw-NIK scan and the contract model, which name what is wrong.
    """
    if value is None:
        return Rejection("malformed", "the record has no value")
    checked = checked_event(value)
    if checked is not None:
        event = model_event(checked)
        return _placed(key, value, event, canonical_digest(checked.canonical), catalog)
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        document = _lenient(value)
        if document is None:
            return Rejection("malformed", "the value is not UTF-8 JSON")
    if not isinstance(document, dict):
        return Rejection("malformed", "the value is JSON but not an object")
    if document_contains_raw_nik(document):
        return Rejection(
            "raw_nik", "the event carries a raw NIK; only the HTTP intake may receive NIKs"
        )
    try:
        event = Event.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{p['field'] or '(event)'}: {p['message']}" for p in describe_errors(error)
        )
        return Rejection("schema", problems[:2000])
    return _placed(key, value, event, content_digest(event), catalog)


def _placed(
    key: bytes | None, value: bytes, event: Event, digest: str, catalog: Catalog
) -> ReadEvent | Rejection:
    """The valid `event` when the catalog knows its agency, service and step and the record
    sits under its case's key."""
    if catalog.agency(event.agency) is None:
        return Rejection("unknown_agency", f"agency {event.agency} is not in the catalog")
    service = catalog.service(event.agency, event.service)
    if service is None:
        return Rejection(
            "unknown_service", f"service {event.service} is not a service of {event.agency}"
        )
    if service.step(event.step) is None:
        return Rejection(
            "unknown_step", f"step {event.step} is not a step of {event.agency}/{event.service}"
        )
    if key != event_key(event.agency, event.case_id):
        return Rejection("key_mismatch", "the record key is not <agency>|<case_id> of the event")
    return ReadEvent(event, value, digest)


def _lenient(value: bytes) -> object | None:
    """What the standard parser makes of JSON the fast one refuses (integers beyond 64 bits,
    NaN): such a document is judged by the schema, as before, not called malformed."""
    try:
        document: object = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return document


def dlq_value(value: bytes | None) -> bytes:
    """The bytes to dead-letter: the original, with any raw NIK redacted: a `nik` member, or
    16 standalone digits anywhere (in a reason, say, which the schema refuses for that)."""
    if value is None:
        return b""
    return redact_nik(value) if contains_raw_nik(value) or has_standalone_nik_run(value) else value
