"""Reading pantau.events records: accepted events, and DLQ codes with NIK-free details."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pantau.core.catalog import load_catalog
from pantau.core.events import Event
from pantau.settings import SAMPLE_CATALOG
from pantau_tracker.domain.records import Rejection, dlq_value, read_event
from samples import minimal_event

CATALOG = load_catalog(SAMPLE_CATALOG)
NIK = "3507012345678901"
KEY = b"kota-malang.dpmptsp|PBG-1"


def doc(**changes: Any) -> dict[str, Any]:
    return {**minimal_event("PBG-1"), **changes}


def encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_valid_event_is_read() -> None:
    """A contract event of a catalog service under its case key is accepted."""
    found = read_event(KEY, encoded(doc()), CATALOG)
    assert isinstance(found, Event)
    assert found.step == "submitted"


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        (KEY, b"\xff\xfe not json", "malformed"),
        (KEY, b"[1, 2]", "malformed"),
        (KEY, None, "malformed"),
        (KEY, encoded(doc(step=None)), "schema"),
        (KEY, encoded(doc(surprise=1)), "schema"),
        (KEY, encoded(doc(agency="kota-batu.dpmptsp")), "unknown_agency"),
        (KEY, encoded(doc(service="sim")), "unknown_service"),
        (KEY, encoded(doc(step="stamped")), "unknown_step"),
        (b"kota-malang.dpmptsp|PBG-2", encoded(doc()), "key_mismatch"),
        (KEY, encoded(doc(applicant={"nik": NIK})), "raw_nik"),
        (KEY, encoded(doc(attributes={"applicant": {"id": NIK}})), "raw_nik"),
    ],
)
def test_rejections(key: bytes, value: bytes | None, code: str) -> None:
    """Each kind of untrusted record is rejected with its stable code."""
    found = read_event(key, value, CATALOG)
    assert isinstance(found, Rejection)
    assert found.code == code
    assert NIK.encode() not in found.detail_bytes


def test_dlq_value_keeps_bytes_but_redacts_nik() -> None:
    """The DLQ keeps the original bytes, except that a raw NIK is redacted."""
    plain = encoded(doc(step="stamped"))
    assert dlq_value(plain) == plain
    with_nik = encoded(doc(applicant={"nik": NIK}))
    assert NIK.encode() not in dlq_value(with_nik)
    assert b"[REDACTED]" in dlq_value(with_nik)
    in_reason = encoded(doc(step="rejected", reason=f"NIK {NIK} salah"))
    assert isinstance(read_event(b"k", in_reason, CATALOG), Rejection)
    assert NIK.encode() not in dlq_value(in_reason)
