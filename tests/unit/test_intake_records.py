"""The intake's Kafka value of an event is exactly the pseudonymised event's JSON."""

from __future__ import annotations

from typing import Any

import pytest

from pantau.core.events import Event, IncomingEvent
from pantau.core.pseudonym import PseudonymKey
from pantau_intake.submission import kafka_value, to_records

KEY = PseudonymKey(b"unit-test-pseudonym-key-0123", "k2")
BASE: dict[str, Any] = {
    "event_id": "kota-malang.dpmptsp:PBG-1:3",
    "agency": "kota-malang.dpmptsp",
    "service": "pbg",
    "case_id": "PBG-1",
    "step": "paid",
    "occurred_at": "2026-11-27T09:15:00.120+07:00",
}


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"applicant": {"nik": "3573010101900001"}},
        {"applicant": {"ref": "REG/2026/001"}},
        {
            "seq": 3,
            "officer": {"id": "198702142010011003", "role": "verifier"},
            "applicant": {"nik": "3573010101900001"},
            "payment": {"amount": "150000.5", "receipt": "KW-1"},
            "reason": "berkas lengkap\nbaris dua — ok",
            "channel": "counter",
            "mode": "backfill",
            "attributes": {"loket": 3, "tags": ["a", None, 1.5], "nested": {"x": True}},
        },
    ],
    ids=["bare", "nik", "ref", "everything"],
)
def test_kafka_value_is_the_pseudonymised_events_json(extra: dict[str, Any]) -> None:
    """Byte for byte what `pseudonymised().to_json_bytes()` gives, a valid Event, no NIK."""
    incoming = IncomingEvent.model_validate({**BASE, **extra})
    expected = incoming.pseudonymised(KEY.secret, KEY.version).to_json_bytes()
    value = kafka_value(incoming, KEY)
    assert value == expected
    assert b"3573010101900001" not in value
    assert Event.from_json_bytes(value).to_json_bytes() == value


def test_records_are_keyed_by_case() -> None:
    """Each record's key is `<agency>|<case_id>` and carries the event id for the reply."""
    [record] = to_records([IncomingEvent.model_validate(BASE)], KEY)
    assert record.key == b"kota-malang.dpmptsp|PBG-1"
    assert record.event_id == BASE["event_id"]
