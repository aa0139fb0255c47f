"""The pure rules of the history: hash chains, batching, checkpoints, record parsing, verifying."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime

import pytest

from pantau.core.catalog import load_catalog
from pantau.core.events import Event, canonical_bytes
from pantau.history.chain import ChainHead, ChainHeads, head_from_rows, link_hash
from pantau.history.checkpoints import (
    BadCheckpoint,
    SignedHead,
    checkpoint_line,
    latest_heads,
    read_checkpoint,
)
from pantau.history.records import (
    CASE_STATE_COLUMNS,
    CONTENT_COLUMNS,
    EVENT_COLUMNS,
    RECEIPT_COLUMNS,
    AcceptedEvent,
    accept_event,
    alert_action_row,
    case_state_row,
    event_columns,
    event_row,
    receipt_bytes,
    receipt_columns,
    receipt_of_text,
)
from pantau.history.verification import STORED_COLUMNS, StoredEvent, verify_case
from pantau.settings import SAMPLE_CATALOG
from pantau_sink.domain.batches import TableBatch

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
KM = "kota-malang.dpmptsp"


def _event(n: int, step: str = "submitted", case_id: str = "PBG-9") -> Event:
    return Event.model_validate(
        {
            "event_id": f"e-{case_id}-{n}",
            "agency": KM,
            "service": "pbg",
            "case_id": case_id,
            "step": step,
            "occurred_at": f"2026-11-2{n}T09:00:00+07:00",
            "officer": {"id": "V1", "role": "verifier"},
        }
    )


def _stored_chain(events: list[Event]) -> list[StoredEvent]:
    head = ChainHead.empty()
    stored = []
    for offset, event in enumerate(events):
        accepted = AcceptedEvent(event, canonical_bytes(event), NOW, 0, offset)
        extended = head.extended(event.event_id, accepted.canonical, receipt_bytes(accepted))
        assert extended is not None
        head, link = extended
        row = dict(zip(EVENT_COLUMNS, event_row(accepted, link, NOW), strict=True))
        stored.append(StoredEvent.from_row([row[name] for name in STORED_COLUMNS]))
    return stored


def test_link_hash_is_sha256_over_prev_hash_then_canonical() -> None:
    """hash = SHA-256 hex of the previous hash (ASCII hex, empty first) followed by the event."""
    canonical = canonical_bytes(_event(1))
    first = link_hash("", canonical)
    assert first == hashlib.sha256(canonical).hexdigest()
    assert link_hash(first, canonical) == hashlib.sha256(first.encode() + canonical).hexdigest()


def test_a_chain_grows_by_position_and_refuses_an_event_twice() -> None:
    """Positions count from 1, each link names the previous hash, a known event_id is refused."""
    head = ChainHead.empty()
    first = head.extended("a", b"x")
    assert first is not None
    head, link = first
    assert (link.position, link.prev_hash) == (1, "")
    second = head.extended("b", b"y")
    assert second is not None
    assert second[1].position == 2
    assert second[1].prev_hash == link.hash
    assert second[0].extended("a", b"x") is None


def test_head_from_stored_rows_tolerates_duplicates() -> None:
    """The stored head is the highest position; duplicate rows of a retry change nothing."""
    rows = [("a", 1, "h1"), ("b", 2, "h2"), ("b", 2, "h2")]
    assert head_from_rows(rows) == ChainHead.of(2, "h2", {"a", "b"})
    assert head_from_rows([]) == ChainHead.empty()


def test_chain_head_cache_evicts_the_least_recently_used_case() -> None:
    """The head cache holds at most its capacity; reading a case keeps it."""
    heads = ChainHeads(2)
    heads.put(("a", "1"), ChainHead.empty())
    heads.put(("a", "2"), ChainHead.empty())
    assert heads.get(("a", "1")) is not None
    heads.put(("a", "3"), ChainHead.empty())
    assert ("a", "2") not in heads
    assert len(heads) == 2


def test_a_batch_is_due_at_its_row_limit_or_its_age() -> None:
    """A table's batch is due at max_rows records or max_seconds after its first record."""
    batch: TableBatch[str] = TableBatch(max_rows=3, max_seconds=1.0)
    assert not batch.due(100.0)
    batch.add(("t", 0), 5, "row", now=10.0)
    batch.add(("t", 0), 6, None, now=10.2)  # an invalid record: no row, but its offset counts
    assert not batch.due(10.5)
    assert batch.due(11.0)
    batch.add(("t", 1), 2, "row", now=10.6)
    assert batch.due(10.6)
    assert batch.offsets == {("t", 0): 7, ("t", 1): 3}
    assert batch.items == ["row", "row"]
    batch.clear()
    assert batch.due_at() is None


def test_checkpoints_round_trip_and_reject_any_edit() -> None:
    """A signed line reads back; an edited line or another key is rejected."""
    line = checkpoint_line(b"k", "w1", "2026-11-28T03:00:00Z", {(KM, "PBG-1"): (6, "ab")})
    at, heads = read_checkpoint(b"k", line)
    assert heads == {(KM, "PBG-1"): SignedHead(6, "ab", at)}
    with pytest.raises(BadCheckpoint):
        read_checkpoint(b"k", line.replace('6, "ab"', '5, "ab"'))
    with pytest.raises(BadCheckpoint):
        read_checkpoint(b"other", line)


def test_latest_heads_take_the_longest_chain_per_case() -> None:
    """Across checkpoints the latest head of a case is its longest; bad lines are named."""
    lines = [
        ("f:1", checkpoint_line(b"k", "w", "t1", {(KM, "A"): (2, "h2")})),
        ("f:2", checkpoint_line(b"k", "w", "t2", {(KM, "A"): (3, "h3")})),
        ("f:3", "garbage"),
    ]
    heads, problems = latest_heads(b"k", lines)
    assert heads[(KM, "A")].position == 3
    assert problems == ["f:3: not a checkpoint line"]


def test_accept_event_needs_the_contract_and_the_catalog() -> None:
    """Only valid events of a known agency, service and step are history."""
    catalog = load_catalog(SAMPLE_CATALOG)
    assert accept_event(_event(1).to_json_bytes(), catalog) == _event(1)
    assert accept_event(_event(1, step="teleported").to_json_bytes(), catalog) is None
    assert accept_event(b"{not json", catalog) is None


def test_case_state_parser_takes_the_trackers_fields_and_falls_back_to_key_and_offset() -> None:
    """Missing agency/case come from the key, a missing version from the offset."""
    value = json.dumps(
        {
            "service": "pbg",
            "status": "closed",
            "current_step": "issued",
            "opened_at": "2026-11-02T09:00:00+07:00",
            "closed_at": "2026-11-09T09:00:00+07:00",
            "due_at": None,
            "case_overdue_fired": True,
        }
    ).encode()
    row = case_state_row(value, f"{KM}|PBG-1".encode(), 1_790_000_000_000, 41, NOW)
    assert row is not None
    fields = dict(zip(CASE_STATE_COLUMNS, row, strict=True))
    assert (fields["agency"], fields["case_id"], fields["version"]) == (KM, "PBG-1", 42)
    assert fields["closed_at"] == datetime(2026, 11, 9, 2, 0)
    assert fields["due_at"] is None
    assert fields["breached"] == 1
    assert case_state_row(b"[]", None, 0, 0, NOW) is None
    assert case_state_row(b"{}", None, 0, 0, NOW) is None


def test_alert_action_without_id_gets_a_stable_one() -> None:
    """An action without action_id gets an id derived from its content, the same on replay."""
    value = json.dumps({"alert_id": "a1", "action": "acknowledge", "actor": "rina"}).encode()
    first = alert_action_row(value, None, 1_790_000_000_000, NOW)
    again = alert_action_row(value, None, 1_790_000_000_000, NOW)
    assert first is not None
    assert again is not None
    assert first[0] == again[0]
    assert first[1:4] == ("a1", "acknowledge", "rina")
    assert alert_action_row(b'{"alert_id": "a1"}', None, 0, NOW) is None


def test_an_intact_chain_verifies_clean_even_with_duplicate_rows() -> None:
    """No findings for an untouched chain, also when a retried insert stored a row twice."""
    rows = _stored_chain([_event(1), _event(2, "verified")])
    assert verify_case(KM, "PBG-9", [*rows, rows[1]], SignedHead(2, rows[1].hash, "t")) == []


def test_verify_reads_every_events_column_the_sink_writes_but_stored_at() -> None:
    """Each `events` column is named once; verify selects all but `stored_at`, and the columns
    it checks are those the event and its receipt give, with the values the sink's row holds."""
    assert len(set(EVENT_COLUMNS)) == len(EVENT_COLUMNS)
    assert sorted(STORED_COLUMNS) == sorted(c for c in EVENT_COLUMNS if c != "stored_at")
    event = _event(1)
    accepted = AcceptedEvent(event, canonical_bytes(event), NOW, 3, 7)
    extended = ChainHead.empty().extended(event.event_id, accepted.canonical)
    assert extended is not None
    row = dict(zip(EVENT_COLUMNS, event_row(accepted, extended[1], NOW), strict=True))
    assert tuple(event_columns(event)) == CONTENT_COLUMNS
    assert {name: row[name] for name in CONTENT_COLUMNS} == event_columns(event)
    assert tuple(receipt_columns(accepted)) == RECEIPT_COLUMNS
    assert {name: row[name] for name in RECEIPT_COLUMNS} == receipt_columns(accepted)
    assert receipt_of_text(receipt_bytes(accepted).decode("ascii")) == receipt_columns(accepted)


def test_verify_names_a_changed_column_a_deleted_row_and_a_deleted_tail() -> None:
    """An edited column, a gap and a head shorter than the signed one are each named."""
    rows = _stored_chain([_event(n, "verified") for n in range(1, 5)])
    edited = dataclasses.replace(
        rows[0], columns=tuple((k, "X9" if k == "officer_id" else v) for k, v in rows[0].columns)
    )
    findings = verify_case(KM, "PBG-9", [edited, rows[2]], SignedHead(4, rows[3].hash, "t"))
    described = [(f.position, f.problem.split(":")[0]) for f in findings]
    assert described == [
        (1, "column officer_id differs from the hashed content"),
        (2, "no row"),
        (4, "no row, but the checkpoint signed at t counts 4 events"),
    ]


def test_verify_names_a_rewritten_chain_against_its_checkpoint() -> None:
    """A chain recomputed after a change links up, but its head differs from the signed one."""
    original = _stored_chain([_event(1), _event(2, "verified")])
    forged = _stored_chain([_event(1), _event(3, "verified")])
    findings = verify_case(KM, "PBG-9", forged, SignedHead(2, original[1].hash, "t"))
    assert [(f.position, "rewritten" in f.problem) for f in findings] == [(2, True)]


def test_datetime_columns_hold_whole_seconds_in_range_and_the_fraction_apart() -> None:
    """What ClickHouse's DateTime can hold: whole UTC seconds from 1970 to 2106."""
    from pantau.core.events import parse_rfc3339
    from pantau.history.records import DATETIME_MAX, DATETIME_MIN, datetime_column

    assert datetime_column(parse_rfc3339("2026-12-02T09:15:00.250+07:00")) == (
        datetime(2026, 12, 2, 2, 15),
        250_000,
    )
    assert datetime_column(parse_rfc3339("1969-12-31T23:59:59.5Z")) == (DATETIME_MIN, 0)
    assert datetime_column(parse_rfc3339("2200-01-01T00:00:00Z")) == (DATETIME_MAX, 0)


def test_a_sub_second_event_as_clickhouse_returns_it_verifies_clean() -> None:
    """The stored DateTime has no fraction; verify compares it with the whole second."""
    event = Event.model_validate(
        {**_event(1).model_dump(mode="json"), "occurred_at": "2026-12-02T09:15:00.250+07:00"}
    )
    [row] = _stored_chain([event])
    columns = dict(row.columns)
    assert columns["occurred_at"].microsecond == 0
    assert columns["occurred_at_us"] == 250_000
    assert verify_case(KM, "PBG-9", [row]) == []


def test_a_moved_receive_time_is_named_and_a_legacy_row_is_told_apart() -> None:
    """Receipts are sealed: a moved received_at is named; a version-1 row verifies (it predates
    the seal) unless it follows a sealed row, and flipping a sealed row to version 1 is found."""
    sealed = _stored_chain([_event(1), _event(2, "verified")])
    moved = dataclasses.replace(
        sealed[1],
        receipt_columns=tuple(
            (k, v.replace(hour=1) if k == "received_at" else v)
            for k, v in sealed[1].receipt_columns
        ),
    )
    [finding] = verify_case(KM, "PBG-9", [sealed[0], moved])
    assert (finding.position, finding.problem) == (
        2,
        "column received_at differs from the sealed receipt: the receive time or place was moved",
    )

    head = ChainHead.empty()
    legacy = []
    for event in (_event(1), _event(2, "verified")):
        accepted = AcceptedEvent(event, canonical_bytes(event), NOW, 0, 0)
        extended = head.extended(event.event_id, accepted.canonical)  # no receipt: version 1
        assert extended is not None
        head, link = extended
        row = dict(zip(EVENT_COLUMNS, event_row(accepted, link, NOW), strict=True))
        legacy.append(StoredEvent.from_row([row[name] for name in STORED_COLUMNS]))
    assert [r.legacy for r in legacy] == [True, True]
    assert verify_case(KM, "PBG-9", legacy) == []
    flipped = dataclasses.replace(sealed[1], chain_version=1, receipt="")
    problems = [f.problem for f in verify_case(KM, "PBG-9", [sealed[0], flipped])]
    assert problems == [
        "hash does not match the stored content: the row was changed",
        "a legacy row (receive time not sealed) after a sealed one: the row was changed",
    ]
