"""The sealing of personal data: envelopes under a data key per applicant, wrapped keys, erasure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pantau.core.erasure import Erasure
from pantau.core.events import Event, canonical_bytes
from pantau.core.sealing import (
    ERASED,
    SEALED_ATTRIBUTE,
    SEALED_REASON,
    ApplicantKeys,
    DataKey,
    KeyRecord,
    KeyRefused,
    MasterKey,
    applicant_key_id,
    envelope_key,
    open_sealed,
    seal,
)
from samples import minimal_event

REF = "k1:" + "ab" * 32
OTHER = "k1:" + "cd" * 32
NOW = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)

_NO_KEYS: dict[str, DataKey] = {}  # a key store holding no key


def _event(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        **minimal_event("PBG-1", "rejected"),
        "event_id": "km:PBG-1:2",
        "applicant": {"ref": REF},
        "reason": "Ibu Siti Rahayu, Jl. Kawi 12: sertifikat tanah tidak sah",
        "attributes": {
            "assessed_amount": "150000.00",
            "representative_ref": "k1:" + "ef" * 32,
            "address": "Jl. Kawi 12, Malang",
            "phone": "0812-3456-7890",
        },
    }
    document.update(changes)
    return document


def test_a_sealed_event_opens_to_the_original_fields() -> None:
    """Round trip: the reason and the personal attributes come back exactly; the event stays a
    valid contract event whose canonical form holds none of the plaintext."""
    key = DataKey.new(REF)
    original = _event()
    sealed = seal(original, key)
    canonical = canonical_bytes(Event.model_validate(sealed)).decode()
    for plaintext in ("Siti", "Kawi", "0812"):
        assert plaintext not in canonical
    assert sealed["reason"] == SEALED_REASON
    assert sealed["attributes"]["assessed_amount"] == "150000.00"
    assert (
        sealed["attributes"]["representative_ref"] == original["attributes"]["representative_ref"]
    )
    assert sealed["applicant"] == {"ref": REF}
    assert envelope_key(sealed) == key.key_id
    opened = open_sealed(sealed, {key.key_id: key}.get)
    assert opened.state == "open"
    assert opened.document == original


def test_an_envelope_does_not_open_under_another_key_or_on_another_event() -> None:
    """A wrong data key, or the envelope copied onto another event, is refused."""
    key = DataKey.new(REF)
    sealed = seal(_event(), key)
    impostor = DataKey(key.key_id, key.applicant, DataKey.new(REF).secret)
    with pytest.raises(KeyRefused):
        open_sealed(sealed, {key.key_id: impostor}.get)
    moved = {**sealed, "event_id": "km:PBG-1:3"}
    with pytest.raises(KeyRefused):
        open_sealed(moved, {key.key_id: key}.get)


def test_a_destroyed_key_shows_the_fields_as_erased() -> None:
    """Without its key (a tombstone in the store) the sealed fields read `[erased]`, and what the
    rules need stays."""
    key = DataKey.new(REF)
    opened = open_sealed(seal(_event(), key), _NO_KEYS.get)
    assert opened.state == "erased"
    assert opened.document["reason"] == ERASED
    assert opened.document["attributes"] == {
        "assessed_amount": "150000.00",
        "representative_ref": "k1:" + "ef" * 32,
        SEALED_ATTRIBUTE: ERASED,
    }


def test_events_without_applicant_or_personal_fields_stay_as_they_are() -> None:
    """No applicant, or nothing beyond the clear attributes: nothing is sealed."""
    key = DataKey.new(REF)
    without_applicant = _event()
    del without_applicant["applicant"]
    assert seal(without_applicant, key) == without_applicant
    plain = _event(attributes={"assessed_amount": "1.00"})
    del plain["reason"]
    assert seal(plain, key) == plain
    assert open_sealed(plain, _NO_KEYS.get).state == "clear"


def test_a_key_of_another_applicant_is_refused_when_sealing() -> None:
    """Sealing under another applicant's key would let the wrong erasure destroy the data."""
    with pytest.raises(ValueError, match="another applicant"):
        seal(_event(), DataKey.new(OTHER))


def test_a_wrapped_key_opens_only_under_its_master_key() -> None:
    """Round trip through the key store record; another master key, a record moved under another
    applicant's store key, and altered bytes are refused."""
    master = MasterKey(b"m" * 32)
    key = DataKey.new(REF)
    record = master.wrap(key, NOW)
    assert key.secret.hex() not in record.value.decode()
    assert master.unwrap(record) == key
    with pytest.raises(KeyRefused):
        MasterKey(b"n" * 32).unwrap(record)
    other = DataKey.new(OTHER)
    with pytest.raises(KeyRefused):
        master.unwrap(KeyRecord(f"{other.applicant}|{key.key_id}".encode(), record.value))
    document = json.loads(record.value)
    document["wrapped"] = document["wrapped"][::-1]
    with pytest.raises(KeyRefused):
        master.unwrap(KeyRecord(record.key, json.dumps(document).encode()))


def test_a_short_master_key_is_refused() -> None:
    """A master key under 32 bytes could be guessed."""
    with pytest.raises(ValueError, match="at least 32 bytes"):
        MasterKey(b"short")


def test_applicant_key_ids_are_stable_and_distinct() -> None:
    """The same ref gives the same id (every writer finds the same keys); refs differ, ids
    differ; the id does not spell the ref."""
    assert applicant_key_id(REF) == applicant_key_id(REF)
    assert applicant_key_id(REF) != applicant_key_id(OTHER)
    assert REF[3:] not in applicant_key_id(REF)


def test_a_writer_keeps_one_key_per_applicant_for_its_lifetime() -> None:
    """Within a key's lifetime one key (and one key record) per applicant; after it, a new key;
    events without personal fields need none."""
    keys = ApplicantKeys(MasterKey(b"m" * 32), lifetime=timedelta(hours=1))
    first = _event()
    second = _event(event_id="km:PBG-2:1", case_id="PBG-2")
    other = _event(event_id="km:PBG-3:1", case_id="PBG-3", applicant={"ref": OTHER})
    bare = _event(event_id="km:PBG-4:1", case_id="PBG-4", attributes={})
    del bare["reason"]
    sealed, records = keys.seal_events([first, second, other, bare], NOW)
    assert len(records) == 2
    assert envelope_key(sealed[0]) == envelope_key(sealed[1]) != envelope_key(sealed[2])
    assert sealed[3] == bare
    later, renewed = keys.seal_events([first], NOW + timedelta(hours=1))
    assert len(renewed) == 1
    assert envelope_key(later[0]) != envelope_key(sealed[0])
    ring = {k.key_id: k for k in map(MasterKey(b"m" * 32).unwrap, records + renewed)}
    assert open_sealed(later[0], ring.get).document == first


def test_an_erasure_record_names_the_request_not_the_person() -> None:
    """Who and why are required, bounded, and refused when they look like a raw NIK; the record
    holds the key ids and nothing else of the applicant."""
    erasure = Erasure("e-1", NOW, "ppid", "PDP-7", "applicant", applicant_key_id(REF), ("d1:ab",))
    record = json.loads(erasure.to_record())
    assert record["applicant_key"] == applicant_key_id(REF)
    assert record["data_keys"] == ["d1:ab"]
    assert REF not in erasure.to_record().decode()
    with pytest.raises(ValueError, match="raw NIK"):
        Erasure("e-2", NOW, "ppid", "NIK 3573010101010001", "applicant", "a1:x", ())
    with pytest.raises(ValueError, match="required"):
        Erasure("e-3", NOW, " ", "PDP-7", "applicant", "a1:x", ())
