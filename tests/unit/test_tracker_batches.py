"""The tracker's batch fold: the same records cut into any batches give the same outputs."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from pantau.core.events import Event, event_key, format_rfc3339
from pantau_tracker.domain.batches import (
    CaseBatch,
    RuleBatch,
    encode_state,
    hand_over_value,
    hand_over_values,
)
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.decoded import DecodedTable
from pantau_tracker.domain.ordering import END_OF_TIME, PROGRESS_KEY, StepOrder, progress_value
from pantau_tracker.domain.rulebook import STATEFUL_RULES
from pantau_tracker.domain.standards import Standards, TrackerPolicy
from pantau_tracker.domain.tracking import handle_event
from tracker_harness import DictTable, case_table, rule_tables, sample_catalog, scenario_stream

PARTITIONS = 12


def _partition(key: bytes) -> int:
    return zlib.crc32(key) % PARTITIONS


def _records() -> list[tuple[str, bytes, bytes, int, int, datetime]]:
    """(kind, key, value, partition, offset, when): events, redeliveries and timer checks."""
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    documents = scenario_stream(60, start, "batch")
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    records: list[tuple[str, bytes, bytes, int, int, datetime]] = []
    for index, document in enumerate(documents):
        key = event_key(document["agency"], document["case_id"])
        value = json.dumps(document).encode()
        partition = _partition(key)
        received = datetime.fromisoformat(document["occurred_at"]) + timedelta(minutes=5)
        records.append(("event", key, value, partition, offsets[partition], received))
        offsets[partition] += 1
        if index % 37 == 0:  # the same record delivered again after a restart
            records.append(records[-1])
        if index % 11 == 0:  # a timer check of the case, days later
            due = (received + timedelta(days=20)).timestamp()
            check = orjson.dumps({"due": due})
            when = received + timedelta(days=20)
            records.append(("check", key, check, partition, 0, when))
    records.append(("event", b"x|y", b"not json", 3, 999, start))
    return records


def _run(batch_size: int) -> dict[str, Any]:
    catalog = sample_catalog()
    standards = Standards(catalog, TrackerPolicy())
    port = DictTable()
    cases = case_table(50, port)
    rule_ports = {rule.name: DictTable() for rule in STATEFUL_RULES}
    rules = rule_tables(10, rule_ports)
    order_port = DictTable()
    order = StepOrder(PARTITIONS, order_port.get)
    records = _records()
    alerts: list[bytes] = []
    rule_alerts: list[bytes] = []
    entries: list[bytes] = []
    views: dict[bytes, bytes | None] = {}
    rejected: list[str] = []
    for first in range(0, len(records), batch_size):
        fold = CaseBatch(catalog, standards, cases)
        for kind, key, value, partition, offset, when in records[first : first + batch_size]:
            if kind == "event":
                fold.event(key, value, partition, offset, when)
            else:
                fold.check(key, value, partition, when)
        outcome = fold.finish()
        alerts += [key + b" " + alert.to_json_bytes() for key, alert in outcome.alerts]
        rejected += [why.code for _, _, why in outcome.rejected]
        for key, write in outcome.writes.items():
            if write.state is None:
                if write.store and cases.drop(key, write.partition):
                    views[key] = None
                continue
            if write.store:
                assert write.stored == encode_state(write.state, write.partition)
                cases.save(key, write.partition, write.state, write.stored)
            if write.view is not None:
                views[key] = write.view
        # The adapter's hand-over: one record per destination partition per batch.
        by_partition: dict[int, list[bytes]] = {}
        for hand_over in outcome.hand_overs:
            entries.append(hand_over.entry)
            by_partition.setdefault(_partition(hand_over.route), []).append(hand_over.entry)
        rule_fold = RuleBatch(standards, rules, order)
        for partition, batch_entries in by_partition.items():
            rule_fold.record(b"route", hand_over_value(batch_entries), partition)
        if first + batch_size >= len(records):  # every source read to its end: release all
            everything = progress_value(dict.fromkeys(range(PARTITIONS), END_OF_TIME))
            for partition in range(PARTITIONS):
                rule_fold.record(PROGRESS_KEY, everything, partition)
        rule_outcome = rule_fold.finish()
        assert not rule_outcome.rejected
        for (name, state_key), rule_write in rule_outcome.writes.items():
            rules[name].save(state_key, rule_write.partition, rule_write.record)
        rule_outcome.order.apply(order_port)
        rule_alerts += [key + b" " + alert.to_json_bytes() for key, alert in rule_outcome.alerts]
    return {
        "alerts": alerts,
        "rule_alerts": rule_alerts,
        "entries": entries,
        "states": port.data,
        "views": views,
        "rules": {name: table.data for name, table in rule_ports.items()},
        "order": order_port.data,
        "rejected": rejected,
    }


@pytest.fixture(scope="module")
def one_at_a_time() -> dict[str, Any]:
    return _run(1)


@pytest.mark.parametrize("size", [7, 2000])
def test_batches_of_any_size_give_byte_identical_outputs(
    one_at_a_time: dict[str, Any], size: int
) -> None:
    """Alerts, case states, latest case views, hand-overs and rule records are the same bytes
    whether the records are folded one at a time, seven at a time or two thousand at a time."""
    batched = _run(size)
    parts = ("alerts", "rule_alerts", "entries", "states", "views", "rules", "order", "rejected")
    for part in parts:
        assert batched[part] == one_at_a_time[part], part


def test_the_fold_raises_alerts_hands_on_steps_and_rejects_the_poison(
    one_at_a_time: dict[str, Any],
) -> None:
    """The traffic plants anomalies of every kind: the fold is not vacuous."""
    rules = {json.loads(line.split(b" ", 1)[1])["rule"] for line in one_at_a_time["alerts"]}
    assert {"duty.same_officer", "fee.mismatch", "process.skipped_step"} <= rules
    assert len(one_at_a_time["entries"]) > 100
    assert one_at_a_time["rejected"] == ["malformed"]
    assert any(one_at_a_time["rules"].values())


def test_a_case_is_read_from_the_table_once_per_batch() -> None:
    """Within a batch a case is folded from memory: one table read per case, not per record."""
    catalog = sample_catalog()
    standards = Standards(catalog, TrackerPolicy())
    port = DictTable()
    cases = case_table(1, port)  # no cache to help
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    documents = scenario_stream(5, start, "reads")
    fold = CaseBatch(catalog, standards, cases)
    for offset, document in enumerate(documents):
        key = event_key(document["agency"], document["case_id"])
        fold.event(key, json.dumps(document).encode(), _partition(key), offset, start)
    outcome = fold.finish()
    assert port.reads == 5
    assert len(outcome.writes) == 5
    assert outcome.events == len(documents)


def test_decoded_table_caches_saves_and_drops_over_its_port() -> None:
    """The decoded-state cache against a dict: loads decode once, saves write through, drops
    remove and say whether the key existed, and forgetting goes back to the port."""
    port = DictTable()
    decoded: list[bytes] = []

    def decode(stored: bytes) -> str:
        decoded.append(stored)
        return stored.decode()

    table = DecodedTable(port, decode, lambda value, partition: value.encode(), size=2)
    assert table.load(b"a", 1) is None
    table.save(b"a", 1, "alpha")
    assert port.data[b"a"] == (1, b"alpha")
    assert table.load(b"a", 1) == "alpha"
    assert decoded == []  # saved values are kept decoded
    table.forget()
    assert table.load(b"a", 1) == "alpha"
    assert table.load(b"a", 1) == "alpha"
    assert decoded == [b"alpha"]
    assert table.drop(b"a", 1) is True
    assert b"a" not in port.data
    assert table.drop(b"a", 1) is False
    assert table.load(b"a", 1) is None


def test_trusted_event_equals_the_validated_one() -> None:
    """`Event.trusted`, used on the internal hand-over topic, builds what validation builds."""
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    for document in scenario_stream(20, start, "trust"):
        validated = Event.model_validate(document)
        trusted = Event.trusted(orjson.loads(validated.to_json_bytes()))
        assert trusted == validated
        assert trusted.to_json_bytes() == validated.to_json_bytes()


def test_a_batch_hand_over_is_split_in_order_below_the_size_limit() -> None:
    """The broker refuses a record above 1 MB: a batch's steps for one partition go out in as
    many records as keep each within the limit, in their order; a step above it goes alone."""
    entries = [b'{"n":%d,"pad":"%s"}' % (n, b"x" * (n * 37 % 500)) for n in range(2000)]
    limit = 64 * 1024
    values = hand_over_values(entries, limit)
    assert len(values) > 1
    assert all(len(value) <= limit + len(b'{"steps":[]}') for value in values)
    steps = [step for value in values for step in orjson.loads(value)["steps"]]
    assert steps == [orjson.loads(entry) for entry in entries]
    assert hand_over_values(entries[:3], limit) == [hand_over_value(entries[:3])]
    big = b'{"pad":"%s"}' % (b"y" * 100_000)
    assert hand_over_values([entries[0], big, entries[1]], limit) == [
        hand_over_value([entries[0]]),
        hand_over_value([big]),
        hand_over_value([entries[1]]),
    ]


def test_a_step_is_handed_on_as_the_json_of_its_parts() -> None:
    """`Observation.context` and `.entry` write their JSON from parts written once: the same
    bytes as the objects written whole (the state and the oversight topic keep these bytes)."""
    catalog = sample_catalog()
    standards = Standards(catalog, TrackerPolicy())
    states: dict[bytes, CaseState] = {}
    observed = 0
    for kind, key, value, partition, offset, received in _records():
        if kind != "event" or value == b"not json":
            continue
        event = Event.from_json_bytes(value)
        standard = standards.for_case(event.agency, event.service)
        assert standard is not None
        outcome = handle_event(states.get(key), event, received, standard, (partition, offset))
        if outcome.state is not None:
            states[key] = outcome.state
        observation = outcome.observation
        if observation is None or outcome.duplicate:
            continue
        observed += 1
        when = {"received_at": format_rfc3339(received), "origin": [partition, offset]}
        side = observation.step.to_dict(with_event=False)
        assert observation.context() == orjson.dumps(when | side).decode()
        raw = event.to_json_bytes()
        entry = {
            "rules": ["queue", "speed"],
            **when,
            "step": side | {"event": orjson.Fragment(raw)},
        }
        assert observation.entry(["queue", "speed"], raw) == orjson.dumps(entry)
    assert observed > 100
