"""Personal data sealed under a data key per applicant, so that destroying the key erases it.

An event that names its applicant carries the applicant's personal data in two places: the free
text `reason` and the agency's `attributes`. `seal` moves both into an envelope encrypted with
AES-256-GCM under a random data key of that applicant, and leaves in clear what the rules and
auditors need: the applicant's keyed pseudonym (`applicant.ref`), the attributes the rules read
(`CLEAR_ATTRIBUTES`: the assessed amount, the representative's pseudonym) and the fact that a
reason was given (`reason` reads `[sealed]`). The envelope is the attribute `pantau_sealed`:

    {"v": 1, "key": "<data key id>", "nonce": "<base64url>", "data": "<base64url>"}

`data` is the ciphertext (with its 16-byte tag) of the compact JSON
`{"attributes": {...}, "reason": "..."}`, authenticated together with
`<agency>|<case_id>|<event_id>|<data key id>`, so an envelope moved to another event does not
open. The event's hash chain covers the envelope as it covers every other field.

Data keys are kept wrapped (AES-256-GCM again) under a master key (`MasterKey`); a wrapped key
is a `KeyRecord`. Once every record of an applicant's data keys is destroyed, nothing can open
that applicant's envelopes: `open_sealed` then shows their fields as `[erased]`.

Pure: no I/O and no clock; new keys and nonces come from the operating system's randomness
unless a source is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pantau.core.events import ASSESSED_AMOUNT, format_rfc3339

__all__ = [
    "CLEAR_ATTRIBUTES",
    "ERASED",
    "SEALED_ATTRIBUTE",
    "SEALED_REASON",
    "ApplicantKeys",
    "DataKey",
    "KeyRecord",
    "KeyRefused",
    "MasterKey",
    "OpenedEvent",
    "applicant_key_id",
    "envelope_key",
    "open_sealed",
    "seal",
]

SEALED_ATTRIBUTE = "pantau_sealed"
SEALED_REASON = "[sealed]"
ERASED = "[erased]"
CLEAR_ATTRIBUTES = frozenset((ASSESSED_AMOUNT, "representative_ref"))
"""Attributes the rules read, which stay in clear: the amount the fee rules compare, and the
representative's keyed pseudonym the `applicant.broker` rule compares by equality."""

ENVELOPE_VERSION = 1
KEY_RECORD_FORMAT = "pantau.data-key/v1"
MIN_MASTER_KEY_BYTES = 32
_NONCE_BYTES = 12
_WRAP_INFO = b"pantau data-key wrapping v1"

RandomBytes = Callable[[int], bytes]


class KeyRefused(ValueError):
    """A wrapped key or an envelope did not open: another master key, or altered bytes."""


def applicant_key_id(ref: str) -> str:
    """The id under which an applicant's data keys are kept: `a1:` + SHA-256 hex of the ref.

    Derived from the keyed pseudonym alone, so every writer finds the same id for the same
    applicant and the key store never lists the refs themselves."""
    return "a1:" + hashlib.sha256(ref.encode("utf-8")).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class DataKey:
    """One applicant's data key: its id, the applicant's key id, and the AES-256 secret."""

    key_id: str
    applicant: str
    secret: bytes = field(repr=False)

    @classmethod
    def new(cls, applicant_ref: str, random_bytes: RandomBytes = secrets.token_bytes) -> DataKey:
        """A fresh random key for the applicant of `applicant_ref`."""
        return cls(
            "d1:" + random_bytes(16).hex(), applicant_key_id(applicant_ref), random_bytes(32)
        )

    @property
    def store_key(self) -> bytes:
        """The key of its record in the key store: `<applicant key id>|<data key id>`."""
        return f"{self.applicant}|{self.key_id}".encode("ascii")


@dataclass(frozen=True)
class KeyRecord:
    """A data key as the key store keeps it: wrapped under a master key."""

    key: bytes  # `DataKey.store_key`
    value: bytes  # JSON: format, ids, master key version, nonce, wrapped secret, created_at


@dataclass(frozen=True)
class MasterKey:
    """The secret that wraps every data key (from PANTAU_MASTER_KEY), with its version."""

    secret: bytes = field(repr=False)
    version: str = "m1"

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_MASTER_KEY_BYTES:
            raise ValueError(f"the master key must be at least {MIN_MASTER_KEY_BYTES} bytes")

    def _aead(self) -> AESGCM:
        derived = HKDF(hashes.SHA256(), 32, salt=None, info=_WRAP_INFO).derive(self.secret)
        return AESGCM(derived)

    def wrap(
        self, key: DataKey, created_at: datetime, random_bytes: RandomBytes = secrets.token_bytes
    ) -> KeyRecord:
        """The key store record of `key`, its secret encrypted under this master key."""
        nonce = random_bytes(_NONCE_BYTES)
        wrapped = self._aead().encrypt(nonce, key.secret, key.store_key)
        document = {
            "format": KEY_RECORD_FORMAT,
            "applicant": key.applicant,
            "key_id": key.key_id,
            "master": self.version,
            "nonce": _b64(nonce),
            "wrapped": _b64(wrapped),
            "created_at": format_rfc3339(created_at),
        }
        return KeyRecord(key.store_key, json.dumps(document, sort_keys=True).encode("utf-8"))

    def unwrap(self, record: KeyRecord) -> DataKey:
        """The data key of a record; KeyRefused for another master key or altered bytes."""
        try:
            document = json.loads(record.value)
            key_id, applicant, master = (
                document["key_id"],
                document["applicant"],
                document["master"],
            )
            nonce, wrapped = _unb64(document["nonce"]), _unb64(document["wrapped"])
            valid = document.get("format") == KEY_RECORD_FORMAT
        except (ValueError, KeyError, TypeError, AttributeError):
            valid = False
        if not valid:
            raise KeyRefused("not a data key record")
        key = DataKey(key_id, applicant, b"")
        if key.store_key != record.key:
            raise KeyRefused("the record's key does not name its data key")
        if master != self.version:
            raise KeyRefused(f"wrapped under master key {master}, not {self.version}")
        try:
            secret = self._aead().decrypt(nonce, wrapped, record.key)
        except InvalidTag:
            raise KeyRefused("the data key does not open under this master key") from None
        return DataKey(key_id, applicant, secret)


def _associated(document: Mapping[str, Any], key_id: str) -> bytes:
    parts = (document["agency"], document["case_id"], document["event_id"], key_id)
    return "|".join(parts).encode("utf-8")


def seal(
    document: Mapping[str, Any], key: DataKey, random_bytes: RandomBytes = secrets.token_bytes
) -> dict[str, Any]:
    """The event document with its personal fields sealed under the applicant's data key.

    Only an event naming its applicant (`applicant.ref`, by which `key` was chosen) and carrying
    a reason or attributes beyond `CLEAR_ATTRIBUTES` is changed; anything else is returned as a
    copy. Raises ValueError when the key belongs to another applicant or the event is sealed
    already."""
    sealed = dict(document)
    applicant = document.get("applicant")
    if not isinstance(applicant, Mapping) or not isinstance(applicant.get("ref"), str):
        return sealed
    if applicant_key_id(applicant["ref"]) != key.applicant:
        raise ValueError("the data key belongs to another applicant")
    attributes = dict(document.get("attributes") or {})
    if SEALED_ATTRIBUTE in attributes:
        raise ValueError(f"the event is sealed already ({SEALED_ATTRIBUTE} is present)")
    personal = {name: value for name, value in attributes.items() if name not in CLEAR_ATTRIBUTES}
    reason = document.get("reason")
    if not personal and reason is None:
        return sealed
    plain: dict[str, Any] = {"attributes": personal}
    if reason is not None:
        plain["reason"] = reason
        sealed["reason"] = SEALED_REASON
    text = json.dumps(plain, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    nonce = random_bytes(_NONCE_BYTES)
    data = AESGCM(key.secret).encrypt(
        nonce, text.encode("utf-8"), _associated(document, key.key_id)
    )
    clear = {name: value for name, value in attributes.items() if name in CLEAR_ATTRIBUTES}
    clear[SEALED_ATTRIBUTE] = {
        "v": ENVELOPE_VERSION,
        "key": key.key_id,
        "nonce": _b64(nonce),
        "data": _b64(data),
    }
    sealed["attributes"] = clear
    return sealed


def envelope_key(document: Mapping[str, Any]) -> str | None:
    """The data key id an event's envelope names; None for an event without an envelope."""
    attributes = document.get("attributes")
    envelope = attributes.get(SEALED_ATTRIBUTE) if isinstance(attributes, Mapping) else None
    if isinstance(envelope, Mapping) and isinstance(envelope.get("key"), str):
        return str(envelope["key"])
    return None


@dataclass(frozen=True)
class OpenedEvent:
    """An event as a reader shows it: `clear` (nothing sealed), `open` (the sealed fields
    restored) or `erased` (the key is destroyed: the fields read `[erased]`)."""

    document: dict[str, Any]
    state: Literal["clear", "open", "erased"]


def open_sealed(
    document: Mapping[str, Any], find_key: Callable[[str], DataKey | None]
) -> OpenedEvent:
    """The event with its envelope opened by the data key `find_key` returns for its id, or,
    when it returns None (the key was destroyed), with the sealed fields shown as `[erased]`.

    Raises KeyRefused when a key is found but does not open the envelope (altered bytes, or an
    envelope moved from another event)."""
    key_id = envelope_key(document)
    opened = dict(document)
    if key_id is None:
        return OpenedEvent(opened, "clear")
    attributes = dict(document["attributes"])
    envelope = attributes.pop(SEALED_ATTRIBUTE)
    key = find_key(key_id)
    if key is None:
        attributes[SEALED_ATTRIBUTE] = ERASED
        opened["attributes"] = attributes
        if document.get("reason") == SEALED_REASON:
            opened["reason"] = ERASED
        return OpenedEvent(opened, "erased")
    try:
        text = AESGCM(key.secret).decrypt(
            _unb64(envelope["nonce"]), _unb64(envelope["data"]), _associated(document, key_id)
        )
    except (InvalidTag, KeyError, TypeError, ValueError):
        raise KeyRefused(f"the envelope of {document.get('event_id')} does not open") from None
    plain = json.loads(text)
    attributes.update(plain.get("attributes", {}))
    opened["attributes"] = attributes
    if "reason" in plain:
        opened["reason"] = plain["reason"]
    return OpenedEvent(opened, "open")


class ApplicantKeys:
    """A writer's data keys, one per applicant at a time, each used for at most `lifetime`.

    `seal_events` seals a batch and returns the key records the writer must store (and have
    acknowledged) before it publishes the events. A key is replaced once it is `lifetime` old,
    so an erasure, which destroys every key of the applicant stored so far, leaves a writer
    sealing with a destroyed key for at most that long. At most `max_applicants` keys are kept;
    the oldest goes first (a later event of its applicant gets a new key)."""

    def __init__(
        self,
        master: MasterKey,
        lifetime: timedelta = timedelta(hours=1),
        max_applicants: int = 100_000,
        random_bytes: RandomBytes = secrets.token_bytes,
    ) -> None:
        self.master = master
        self.lifetime = lifetime
        self.max_applicants = max_applicants
        self._random = random_bytes
        self._keys: dict[str, tuple[DataKey, datetime]] = {}
        self._lock = threading.Lock()  # the intake seals large requests on worker threads

    def key_for(self, ref: str, now: datetime) -> tuple[DataKey, KeyRecord | None]:
        """The applicant's current key, and its record when it is new."""
        applicant = applicant_key_id(ref)
        with self._lock:
            found = self._keys.get(applicant)
            if found is not None and now - found[1] < self.lifetime:
                return found[0], None
            key = DataKey.new(ref, self._random)
            self._keys.pop(applicant, None)
            while len(self._keys) >= self.max_applicants:
                del self._keys[next(iter(self._keys))]
            self._keys[applicant] = (key, now)
        return key, self.master.wrap(key, now, self._random)

    def holds(self, applicant: str) -> bool:
        """True while a key of the applicant (by key id) is current for this writer."""
        with self._lock:
            return applicant in self._keys

    def forget(self, applicant: str) -> None:
        """Drop the current key of an applicant (by key id), e.g. when it was destroyed."""
        with self._lock:
            self._keys.pop(applicant, None)

    def seal_events(
        self, documents: Sequence[Mapping[str, Any]], now: datetime
    ) -> tuple[list[dict[str, Any]], list[KeyRecord]]:
        """The documents with their personal fields sealed, and the new key records. A document
        that carries an envelope already (its writer sealed it) is left as it is."""
        sealed: list[dict[str, Any]] = []
        records: list[KeyRecord] = []
        for document in documents:
            applicant = document.get("applicant")
            ref = applicant.get("ref") if isinstance(applicant, Mapping) else None
            if (
                not isinstance(ref, str)
                or not _has_personal_fields(document)
                or envelope_key(document) is not None  # sealed by its writer already
            ):
                sealed.append(dict(document))
                continue
            key, record = self.key_for(ref, now)
            if record is not None:
                records.append(record)
            sealed.append(seal(document, key, self._random))
        return sealed, records


def _has_personal_fields(document: Mapping[str, Any]) -> bool:
    attributes = document.get("attributes") or {}
    return document.get("reason") is not None or any(
        name not in CLEAR_ATTRIBUTES for name in attributes
    )
