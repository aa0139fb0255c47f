"""The fast reading of events agrees with the contract model on every record.

`checked_event` may only accept what `Event.from_json_bytes` accepts, and then must give the
same canonical form, the same `events` columns (the sink) and the same model event (the
tracker, `model_event`); on everything else it defers (None). The
records are generated: valid events of every shape, and each of them broken in one place.
"""

from __future__ import annotations

import json
import tracemalloc
from datetime import datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pantau.core.catalog import load_catalog
from pantau.core.events import Event, canonical_bytes, contains_raw_nik
from pantau.core.fast_events import checked_event, model_event
from pantau.history.chain import ChainHead
from pantau.history.records import (
    AcceptedEvent,
    chain_rows,
    event_row_at,
    from_millis,
    receipt_bytes,
    receipt_columns,
    receive_columns,
    seconds,
    take_event,
    taken_of_checked,
    taken_of_event,
)
from pantau.settings import SAMPLE_CATALOG
from strategies import (
    broken_documents,
    event_documents,
    json_documents,
    optional_event_fields,
    plain_attributes,
    rfc3339_texts,
)

CATALOG = load_catalog(SAMPLE_CATALOG)
# A PBG submitted at the DPMPTSP: the required fields of an event and nothing else.
SUBMITTED: dict[str, Any] = {
    "event_id": "e1",
    "agency": "kota-malang.dpmptsp",
    "service": "pbg",
    "case_id": "C",
    "step": "submitted",
    "occurred_at": "2026-11-27T09:15:00+07:00",
}
STEPS = [
    (service.agency, service.code, step.code)
    for service in CATALOG.services.values()
    for step in service.steps
]

_PRINTABLE = st.characters(blacklist_categories=["Cs"]) | st.sampled_from(" \x7f\x85")
_TEXT = st.characters(blacklist_categories=["Cs"]) | st.sampled_from("\t\n\r\x00\x1f")
_JSON = json_documents(_TEXT)


def _timestamps() -> st.SearchStrategy[str]:
    return rfc3339_texts(datetime(1, 1, 2), datetime(9999, 12, 30))


def documents() -> st.SearchStrategy[dict[str, Any]]:
    """An event document of any shape the contract allows (a few are refused: NIK-like refs)."""
    return event_documents(
        STEPS,
        st.text(_PRINTABLE, min_size=1, max_size=130),
        _timestamps(),
        optional_event_fields(_PRINTABLE, _TEXT, _JSON, r"[a-z0-9][a-z0-9_-]{0,63}"),
    )


def broken() -> st.SearchStrategy[dict[str, Any]]:
    """A document with one field (or one nested field) replaced, removed or added (the
    history's reading also defers on a lower-case `t` and `z`)."""
    return broken_documents(documents(), extra_wrong=["2026-11-27t09:15:00z"])


def _model(raw: bytes) -> Event | None:
    try:
        return Event.from_json_bytes(raw)
    except ValidationError:
        return None


def _agrees(raw: bytes) -> tuple[Event | None, bool]:
    """Checks the fast reading against the model; returns the model's event and whether the
    fast reading accepted it."""
    model = _model(raw)
    fast = checked_event(raw)
    if model is None:
        assert fast is None, raw
        return None, False
    if fast is None:
        return model, False
    assert fast.canonical == canonical_bytes(model)
    # The tracker skips its raw-NIK scan for what the fast reading accepts.
    assert not contains_raw_nik(raw), raw
    built = model_event(fast)
    assert built == model
    # The tracker's own way for a record the fast reading defers on validates the parsed
    # document; for what the fast reading accepts, that gives the same event.
    assert Event.model_validate(orjson.loads(raw)) == model
    assert built.to_json_bytes() == model.to_json_bytes()
    assert built.occurred_at.utcoffset() == model.occurred_at.utcoffset()
    assert fast.occurred_at == model.occurred_at
    assert fast.occurred_at.utcoffset() == model.occurred_at.utcoffset()
    assert taken_of_checked(fast, 1_790_000_000_123, 7, 42) == taken_of_event(
        model, 1_790_000_000_123, 7, 42
    )
    return model, True


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_valid_events_are_read_fast_and_exactly_as_the_model_reads_them(
    document: dict[str, Any],
) -> None:
    raw = json.dumps(document, ensure_ascii=False).encode("utf-8")
    model, fast = _agrees(raw)
    if model is not None and plain_attributes(document.get("attributes", {}), 2**64 - 1):
        assert fast, f"the fast reading deferred a valid event: {raw!r}"


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken())
def test_broken_events_are_never_accepted_by_the_fast_reading_alone(
    document: dict[str, Any],
) -> None:
    _agrees(json.dumps(document, ensure_ascii=False).encode("utf-8"))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[]",
        b'"event"',
        b"{}",
        b"{" + b"\xff" + b"}",
        b'{"event_id":"a","event_id":"b"}',
        b'{"event_id":"e1","agency":"kota-malang.dpmptsp","service":"pbg","case_id":"C",'
        b'"step":"submitted","occurred_at":"2026-11-27T09:15:00+07:00","attributes":{"x":NaN}}',
        b'{"event_id":"e1","agency":"kota-malang.dpmptsp","service":"pbg","case_id":"C",'
        b'"step":"submitted","occurred_at":"2026-11-27T09:15:00+07:00","seq":1e3}',
        b'{"event_id":"e1","agency":"kota-malang.dpmptsp","service":"pbg","case_id":"C",'
        b'"step":"submitted","occurred_at":"2026-11-27T09:15:00+07:00","seq":-0}',
        b'{"event_id":"e1","agency":"kota-malang.dpmptsp","service":"pbg","case_id":"C",'
        b'"step":"submitted","occurred_at":"2026-11-27T09:15:00+07:00",'
        b'"attributes":{"x":1e400}}',
        b'{"event_id":"e1","agency":"kota-malang.dpmptsp","service":"pbg","case_id":"C",'
        b'"step":"submitted","occurred_at":"2026-11-27T09:15:00+07:00",'
        b'"attributes":{"x":"\\ud800"}}',
        b'{"event_id":"e1","agency":"kota-malang.dpmptsp","service":"pbg","case_id":"C",'
        b'"step":"submitted","occurred_at":"2026-11-27T09:15:00+07:00",'
        b'"attributes":{"x":184467440737095516160}}',
        b'{"event_id":"e1","agency":"kota-malang.dpmptsp","service":"pbg","case_id":"C",'
        b'"step":"submitted","occurred_at":"2026-11-27T09:15:00+07:00",'
        b'"attributes":{"f":1e-07,"g":[0.1,-0.0,1e22,5e-324]}}',
    ],
)
def test_hand_picked_records_agree(raw: bytes) -> None:
    _agrees(raw)


def test_floats_and_big_integers_in_attributes_are_left_to_the_model() -> None:
    """orjson spells some floats differently and cannot write integers beyond 64 bits."""
    head = (
        b'{"event_id":"e1","agency":"kota-malang.dpmptsp","service":"pbg","case_id":"C",'
        b'"step":"submitted","occurred_at":"2026-11-27T09:15:00+07:00","attributes":'
    )
    for attributes, spelled in (
        (b'{"f":1e-07}', b'"f":1e-07'),
        (b'{"n":-9223372036854775809}', b'"n":-9223372036854775809'),
    ):
        assert checked_event(head + attributes + b"}") is None
        event = take_event(head + attributes + b"}", CATALOG, 0, 0, 0)
        assert event is not None
        assert spelled in event.canonical


@settings(max_examples=500, deadline=None)
@given(
    st.integers(min_value=-(2**40), max_value=2**45),
    st.integers(min_value=0, max_value=255),
    st.integers(min_value=0, max_value=2**62),
)
def test_receive_columns_are_those_of_an_accepted_event(
    millis: int, partition: int, offset: int
) -> None:
    event = Event.model_validate(SUBMITTED)
    accepted = AcceptedEvent(event, canonical_bytes(event), from_millis(millis), partition, offset)
    columns = receipt_columns(accepted)
    received, received_ms, receipt = receive_columns(millis, partition, offset)
    assert (received, received_ms) == (columns["received_at"], columns["received_at_ms"])
    assert receipt.encode("ascii") == receipt_bytes(accepted)


def test_take_event_judges_the_catalog_as_accept_event_does() -> None:
    good = json.dumps(SUBMITTED).encode()
    assert take_event(good, CATALOG, 0, 0, 0) is not None
    for field, value in (("agency", "no-such.agency"), ("service", "nope"), ("step", "nope")):
        assert (
            take_event(json.dumps({**SUBMITTED, field: value}).encode(), CATALOG, 0, 0, 0) is None
        )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=5)),
        min_size=1,
        max_size=40,
    )
)
def test_chain_rows_link_as_extending_heads_one_event_at_a_time(
    draws: list[tuple[int, int]],
) -> None:
    """Per-batch chaining gives the rows, heads and duplicates of `ChainHead.extended`."""
    stored_at = seconds(datetime.fromisoformat("2026-12-02T10:00:00+00:00"))
    taken, accepted_events = [], []
    for offset, (case, number) in enumerate(draws):
        event = Event.model_validate(
            {
                "event_id": f"e{case}-{number}",
                "agency": "kota-malang.dpmptsp",
                "service": "pbg",
                "case_id": f"C{case}",
                "step": "submitted",
                "occurred_at": f"2026-11-27T09:{number:02d}:00+07:00",
            }
        )
        taken.append(taken_of_event(event, 1_790_000_000_000 + offset, 0, offset))
        accepted_events.append(
            AcceptedEvent(
                event, canonical_bytes(event), from_millis(1_790_000_000_000 + offset), 0, offset
            )
        )
    start = {("kota-malang.dpmptsp", "C0"): ChainHead.of(2, "a" * 64, {"e0-1", "old"})}
    heads = {t.case: start.get(t.case, ChainHead.empty()) for t in taken}
    rows, new_heads, duplicates = chain_rows(taken, heads, stored_at)

    expected_rows, expected_heads, expected_duplicates = [], dict(heads), 0
    for accepted in accepted_events:
        case_key = (accepted.event.agency, accepted.event.case_id)
        receipt = receipt_bytes(accepted)
        extended = expected_heads[case_key].extended(
            accepted.event.event_id, accepted.canonical, receipt
        )
        if extended is None:
            expected_duplicates += 1
            continue
        expected_heads[case_key], link = extended
        expected_rows.append(event_row_at(accepted, link, stored_at, receipt.decode("ascii")))
    assert rows == expected_rows
    assert new_heads == expected_heads
    assert duplicates == expected_duplicates


@pytest.mark.parametrize("attributes", [{"lantai": 2}, {"luas_m2": 120.5}], ids=["fast", "model"])
def test_a_batch_of_taken_events_holds_its_canonical_forms_right_sized(
    attributes: dict[str, Any],
) -> None:
    """The sink keeps a batch's taken events until its insert; each must hold about its own
    size, not the encoder's working buffer (4 KiB or more per canonical form from orjson 3.12),
    whether the fast reading or the contract model (a float in `attributes`) read it."""
    records = [
        orjson.dumps(
            SUBMITTED | {"event_id": f"e-{n}", "case_id": f"C-{n}", "attributes": attributes}
        )
        for n in range(1000)
    ]
    assert (checked_event(records[0]) is None) == ("luas_m2" in attributes)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        taken = [take_event(raw, CATALOG, 1_764_205_200_000, 0, n) for n, raw in enumerate(records)]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(item is not None and len(item.canonical) < 400 for item in taken)
    # A taken event's columns, receipt and canonical form: about 1.3 KiB; with the encoder's
    # buffer kept, over 5 KiB.
    assert held < len(records) * 2048, held
