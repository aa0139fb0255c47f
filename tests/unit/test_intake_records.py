"""The intake's Kafka record of a validated event is, byte for byte, the pseudonymised `Event`
the contract defines, whatever the event holds."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pantau.core.events import IncomingEvent
from pantau.core.pseudonym import PseudonymKey
from pantau_intake.domain.submission import kafka_value

KEY = PseudonymKey(b"unit-test-pseudonym-key-0123", "k3")

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_APPLICANT = st.one_of(
    st.none(),
    st.builds(lambda n: {"nik": n}, st.text("0123456789", min_size=16, max_size=16)),
    st.builds(lambda h: {"ref": f"k1:{h}"}, st.text("0123456789abcdef", min_size=64, max_size=64)),
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    case = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True))
    event: dict[str, Any] = {
        "event_id": f"kota-malang.dpmptsp:{case}:{draw(st.integers(1, 99))}",
        "agency": "kota-malang.dpmptsp",
        "service": "pbg",
        "case_id": case,
        "step": draw(st.sampled_from(["submitted", "verified", "approved", "rejected"])),
        "occurred_at": draw(
            st.sampled_from(
                [
                    "2026-11-27T09:15:00+07:00",
                    "2026-11-27T02:15:00.5Z",
                    "2026-11-27t09:15:00.123456789-00:30",
                    "2026-02-28T23:59:59.000100+08:00",
                ]
            )
        ),
    }
    optional = {
        "applicant": _APPLICANT,
        "seq": st.integers(1, 2**63 - 1),
        "officer": st.builds(
            lambda i, r: {"id": i, "role": r},
            st.from_regex(r"[0-9]{18}", fullmatch=True),
            st.sampled_from(["verifier", "approver", "clerk"]),
        ),
        "payment": st.builds(
            lambda a, r: {"amount": a, **({"receipt": r} if r else {})},
            st.sampled_from(["150000", "150000.00", "0", "12.5", 250000]),
            st.one_of(st.none(), st.from_regex(r"[A-Z0-9-]{1,20}", fullmatch=True)),
        ),
        "reason": _TEXT,
        "channel": st.sampled_from(["online", "counter", "mobile", "other"]),
        "mode": st.sampled_from(["live", "backfill"]),
        "attributes": st.dictionaries(_TEXT, _JSON, max_size=4),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            event[name] = draw(strategy)
    return event


@settings(max_examples=500, deadline=None)
@given(events())
def test_the_record_is_the_pseudonymised_event(document: dict[str, Any]) -> None:
    """kafka_value(event) == event.pseudonymised(key).to_json_bytes(): the NIK is its ref."""
    try:
        event = IncomingEvent.model_validate(document)
    except ValidationError:
        assume(False)
        raise
    record = kafka_value(event, KEY)
    assert record == event.pseudonymised(KEY.secret, KEY.version).to_json_bytes()
    if event.applicant is not None and event.applicant.nik is not None:
        applicant = json.loads(record)["applicant"]
        assert applicant == {"ref": KEY.pseudonymise(event.applicant.nik)}


def test_without_a_key_in_the_context_the_incoming_event_serialises_as_sent() -> None:
    """The applicant's serializer changes nothing unless the intake passes its key."""
    event = IncomingEvent.model_validate(
        {
            "event_id": "kota-malang.dpmptsp:C1:1",
            "agency": "kota-malang.dpmptsp",
            "service": "pbg",
            "case_id": "C1",
            "step": "submitted",
            "occurred_at": "2026-11-27T09:15:00+07:00",
            "applicant": {"nik": "3573010101900001"},
        }
    )
    assert event.model_dump(exclude_none=True)["applicant"] == {"nik": "3573010101900001"}
    assert b'"nik":"3573010101900001"' in event.model_dump_json().encode()
