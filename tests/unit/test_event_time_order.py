"""The cross-case rules judge steps in event-time order, whatever order the partitions send them.

Simulated traffic with every cross-case anomaly planted is tracked on twelve partitions; the
steps it hands on are then delivered to the rules in random interleavings of those partitions,
with progress reports at random points and batches cut anywhere. Every interleaving gives the
alerts and rule states of one fold of all steps sorted by `occurred_at` (never later than the
receipt), nothing arrives late,
and a step handed on again is dropped, whenever it comes.
"""

from __future__ import annotations

import itertools
import random
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oversight_scenarios import Cases, wib
from pantau.core.alerts import Alert
from pantau.core.catalog import Catalog
from pantau.core.events import event_key
from pantau.traffic.generator import CROSS_CASE_RULES, Simulation
from pantau_tracker.domain import ordering
from pantau_tracker.domain.batches import (
    CaseBatch,
    RuleBatch,
    hand_over_value,
)
from pantau_tracker.domain.decoded import DecodedTable
from pantau_tracker.domain.ordering import (
    BACKLOG_BEHIND,
    END_OF_TIME,
    PROGRESS_KEY,
    StepOrder,
    micros,
    progress_value,
    reading_backlog,
    source_progress,
)
from pantau_tracker.domain.rulebook import STATEFUL_RULES, case_step_from_dict
from pantau_tracker.domain.rulebook.cross_case import RuleRecord
from pantau_tracker.domain.standards import Standards, TrackerPolicy
from pantau_tracker.domain.tracking import Observation
from tracker_harness import DictTable, case_table, rule_tables

PARTITIONS = 12
LATENESS = timedelta(minutes=10)


def _partition(key: bytes) -> int:
    return zlib.crc32(key) % PARTITIONS


Entry = tuple[int, bytes, bytes]  # (destination partition, route, entry JSON)


@pytest.fixture(scope="module")
def sources(catalog: Catalog) -> dict[int, list[Entry]]:
    """The steps the tracker hands on from each of twelve partitions, in offset order, for 300
    simulated cases with every cross-case anomaly planted."""
    simulation = Simulation(
        catalog,
        seed=20,
        start=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        cases=300,
        anomaly_rate=0.5,
        rules=CROSS_CASE_RULES,
    )
    return _handed_on(catalog, simulation)


def _handed_on(catalog: Catalog, simulation: Simulation) -> dict[int, list[Entry]]:
    """The steps a tracker hands on from each of twelve partitions for a simulation's events,
    each received when the simulation sends it."""
    standards = Standards(catalog, TrackerPolicy())
    cases = case_table(100_000)
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    fold = CaseBatch(catalog, standards, cases)
    for emission in simulation:
        event = emission.event
        key = event_key(event.agency, event.case_id)
        partition = _partition(key)
        fold.event(key, event.to_json_bytes(), partition, offsets[partition], emission.sent_at)
        offsets[partition] += 1
    found: dict[int, list[Entry]] = {p: [] for p in range(PARTITIONS)}
    for hand_over in fold.finish().hand_overs:
        entry = orjson.loads(hand_over.entry)
        found[entry["origin"][0]].append(
            (_partition(hand_over.route), hand_over.route, hand_over.entry)
        )
    for entries in found.values():
        origins = [orjson.loads(e)["origin"][1] for _, _, e in entries]
        assert origins == sorted(origins)
    return found


def _occurred(entry: bytes) -> datetime:
    """When the step happened, as the order places it: never after it was received."""
    document = orjson.loads(entry)
    occurred = datetime.fromisoformat(document["step"]["event"]["occurred_at"])
    return min(occurred, datetime.fromisoformat(document["received_at"]))


def _sort_key(entry: bytes) -> tuple[int, int, str]:
    document = orjson.loads(entry)
    received = datetime.fromisoformat(document["received_at"])
    return (micros(_occurred(entry)), micros(received), document["step"]["event"]["event_id"])


def _rule_tables() -> tuple[dict[str, DictTable], dict[str, DecodedTable[RuleRecord[Any]]]]:
    ports = {rule.name: DictTable() for rule in STATEFUL_RULES}
    return ports, rule_tables(50, ports)


def _sorted_fold(catalog: Catalog, sources: dict[int, list[Entry]]) -> tuple[set[bytes], Any]:
    """Every step, sorted by event time per service, folded straight through the rules."""
    standards = Standards(catalog, TrackerPolicy())
    states: dict[tuple[str, str], dict[str, Any]] = {}
    alerts: set[bytes] = set()
    # A duplicate event is handed on again with its first origin: one step.
    unique = {
        tuple(orjson.loads(e)["origin"]): e for entries in sources.values() for _, _, e in entries
    }
    every = sorted(unique.values(), key=_sort_key)
    for raw in every:
        document = orjson.loads(raw)
        event = document["step"]["event"]
        standard = standards.for_case(event["agency"], event["service"])
        assert standard is not None
        step = case_step_from_dict(document["step"], standard.service, standard.calendar)
        received = datetime.fromisoformat(document["received_at"])
        for name in document["rules"]:
            rule = next(r for r in STATEFUL_RULES if r.name == name)
            key = rule.key(step.event)
            assert key is not None
            states[name, key], raised = rule.apply(states.get((name, key)), step, received)
            alerts.update(alert.to_json_bytes() for alert in raised)
    return alerts, states


class Rules:
    """The rule agent's side: the order (over `partitions` partitions of the events topic), the
    rule tables and what they gave."""

    def __init__(self, catalog: Catalog, partitions: int = PARTITIONS) -> None:
        self.standards = Standards(catalog, TrackerPolicy())
        self.partitions = partitions
        self.order_port = DictTable()
        self.order = StepOrder(partitions, self.order_port.get)
        self.ports, self.tables = _rule_tables()
        self.alerts: list[Alert] = []
        self.late = 0

    def batch(self, records: list[tuple[bytes, bytes, int]]) -> list[Alert]:
        """Hand-over records (key, value, partition) folded in one batch: the alerts they gave."""
        fold = RuleBatch(self.standards, self.tables, self.order)
        for key, value, partition in records:
            fold.record(key, value, partition)
        return self._finish(fold)

    def fold(self, value: bytes, offset: int | None = None) -> list[Alert]:
        """One hand-over record of oversight partition 0, read at `offset` (None: taken as new),
        folded in a batch of its own: the alerts it gave."""
        fold = RuleBatch(self.standards, self.tables, self.order)
        fold.record(b"route", value, 0, offset)
        return self._finish(fold)

    def _finish(self, fold: RuleBatch) -> list[Alert]:
        """The batch's outcome stored as a worker stores it: rule states, then the order's
        writes."""
        outcome = fold.finish()
        assert not outcome.rejected
        self.late += outcome.late
        alerts = [alert for _, alert in outcome.alerts]
        self.alerts += alerts
        for (name, state_key), write in outcome.writes.items():
            self.tables[name].save(state_key, write.partition, write.record)
        outcome.order.apply(self.order_port)
        return alerts

    def states(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {
            (name, key.decode()): orjson.loads(value)
            for name, port in self.ports.items()
            for key, (_, value) in port.data.items()
        }


def _interleaved(
    sources: dict[int, list[Entry]],
    rng: random.Random,
    report_every: float,
    lateness: timedelta = LATENESS,
) -> list[tuple[bytes, bytes, int]]:
    """The records the rules read: the sources' steps in a random interleaving that keeps each
    source's order, with progress reports as a tracker sends them (latest occurred_at applied,
    less the lateness), then every source reported complete."""
    position = dict.fromkeys(sources, 0)
    latest: dict[int, datetime] = {}
    records: list[tuple[bytes, bytes, int]] = []
    now = datetime(2027, 1, 1, tzinfo=UTC)
    while any(position[p] < len(entries) for p, entries in sources.items()):
        source = rng.choice([p for p, entries in sources.items() if position[p] < len(entries)])
        for _ in range(rng.randint(1, 40)):
            if position[source] == len(sources[source]):
                break
            destination, route, raw = sources[source][position[source]]
            position[source] += 1
            records.append((route, hand_over_value([raw]), destination))
            occurred = _occurred(raw)
            latest[source] = max(latest.get(source, occurred), occurred)
        if rng.random() < report_every:
            progress = {
                p: at
                for p in sources
                if (
                    at := source_progress(
                        caught_up=False, latest_occurred=latest.get(p), now=now, lateness=lateness
                    )
                )
                is not None
            }
            for destination in range(PARTITIONS):
                records.append((PROGRESS_KEY, progress_value(progress), destination))
    everything = progress_value(dict.fromkeys(range(PARTITIONS), END_OF_TIME))
    records += [(PROGRESS_KEY, everything, destination) for destination in range(PARTITIONS)]
    return records


def test_each_source_is_in_event_time_order_within_the_lateness(
    sources: dict[int, list[Entry]],
) -> None:
    """What the property below needs of the traffic: within one partition, no step is more
    than the allowed lateness earlier than a step before it."""
    for entries in sources.values():
        latest: datetime | None = None
        for _, _, raw in entries:
            occurred = _occurred(raw)
            if latest is not None:
                assert occurred > latest - LATENESS
            latest = occurred if latest is None else max(latest, occurred)


@pytest.fixture(scope="module")
def sorted_fold(catalog: Catalog, sources: dict[int, list[Entry]]) -> tuple[set[bytes], Any]:
    alerts, states = _sorted_fold(catalog, sources)
    planted = {orjson.loads(a)["rule"] for a in alerts}
    assert {"queue.jump", "officer.burst", "applicant.broker"} <= planted
    return alerts, states


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), report_every=st.sampled_from([0.05, 0.3, 1.0]))
def test_any_interleaving_of_the_partitions_gives_the_alerts_of_event_time_order(
    catalog: Catalog,
    sources: dict[int, list[Entry]],
    sorted_fold: tuple[set[bytes], Any],
    seed: int,
    report_every: float,
) -> None:
    """Random interleavings, random progress reports, random batch cuts: the alerts and the
    rule states are those of the event-time fold, and no step came late."""
    rng = random.Random(seed)
    rules = _judged(catalog, _interleaved(sources, rng, report_every), rng)
    expected_alerts, expected_states = sorted_fold
    assert rules.late == 0
    assert {alert.to_json_bytes() for alert in rules.alerts} == expected_alerts
    assert len(rules.alerts) == len(expected_alerts)
    assert rules.states() == {key: state for key, state in expected_states.items()}
    assert rules.order.held() == 0
    assert not any(key.startswith(b"held|") for key in rules.order_port.data)


# --- the rules of holding, one at a time ------------------------------------------------------


def _entry(step: Any, received: datetime, origin: tuple[int, int]) -> bytes:
    observation = Observation(step, received, origin)
    names = [rule.name for rule in STATEFUL_RULES if rule.key(step.event) is not None]
    return observation.entry(names, step.event.to_json_bytes())


def _record(*entries: bytes, progress: dict[int, datetime] | None = None) -> bytes:
    document: dict[str, Any] = {"steps": [orjson.Fragment(e) for e in entries]}
    if progress is not None:
        document["progress"] = {str(p): micros(at) for p, at in progress.items()}
    return orjson.dumps(document)


class Queue:
    """Three cases wait at `verified`; a fourth, submitted days later, overtakes them."""

    def __init__(self) -> None:
        cases = Cases()
        self.waiting = [cases.step(f"C{n}", "submitted", wib(23, 8, n)) for n in range(4)]
        self.late_submitted = cases.step("LATE", "submitted", wib(26, 9))
        self.jump = cases.step("LATE", "verified", wib(26, 10), officer="V1")


@pytest.fixture
def scenario_catalog() -> Catalog:
    from oversight_scenarios import catalog as scenario

    return scenario({"queue_jump": {"min_positions": 3, "min_wait": "1 working_days"}})


def test_nothing_is_judged_before_every_partition_has_reported(scenario_catalog: Catalog) -> None:
    """Steps wait while a partition of the events topic has not said how far it has come: the
    queue jump of the case from partition 1 is not judged before partition 0's queue is in."""
    queue = Queue()
    rules = Rules(scenario_catalog, partitions=2)
    received = wib(26, 10, 1)
    jump = _record(
        _entry(queue.late_submitted, received, (1, 0)),
        _entry(queue.jump, received, (1, 1)),
        progress={1: wib(27)},
    )
    assert rules.fold(jump) == []
    assert rules.order.held() == 2
    earlier = _record(
        *(_entry(step, wib(23, 9), (0, n)) for n, step in enumerate(queue.waiting)),
        progress={0: wib(27)},
    )
    alerts = rules.fold(earlier)
    assert [alert.rule.value for alert in alerts] == ["queue.jump"]
    assert alerts[0].case_id.endswith("LATE")
    assert alerts[0].evidence["overtaken"] == 4
    assert "arrived_late" not in alerts[0].evidence
    assert rules.order.held() == 0


def test_a_step_behind_the_watermark_is_judged_on_arrival_and_says_it_came_late(
    scenario_catalog: Catalog,
) -> None:
    """Once both partitions have reported past it, a step that comes after is late: it is
    judged at once, and its alert names the watermark it arrived behind."""
    queue = Queue()
    rules = Rules(scenario_catalog, partitions=2)
    waiting = _record(
        *(_entry(step, wib(23, 9), (0, n)) for n, step in enumerate(queue.waiting)),
        progress={0: wib(30), 1: wib(30)},
    )
    assert rules.fold(waiting) == []
    late = _record(
        _entry(queue.late_submitted, wib(30, 10), (1, 0)),
        _entry(queue.jump, wib(30, 10), (1, 1)),
    )
    alerts = rules.fold(late)
    assert [alert.rule.value for alert in alerts] == ["queue.jump"]
    assert alerts[0].evidence["arrived_late"] == {"watermark": "2026-11-30T02:00:00Z"}


def test_a_step_handed_on_again_is_dropped_however_much_came_since(
    scenario_catalog: Catalog,
) -> None:
    """The tracker hands a step on again after a restart with its first origin: dropped, even
    after thousands of others, and a lower offset of another partition is still a new step.
    What is kept of origins is one offset per partition of the events topic."""
    queue = Queue()
    rules = Rules(scenario_catalog, partitions=2)
    first = _entry(queue.waiting[0], wib(23, 9), (0, 5))
    rules.fold(_record(first))
    cases = Cases()
    for n in range(3000):
        step = cases.step(f"D{n}", "submitted", wib(23, 10))
        rules.fold(_record(_entry(step, wib(23, 11), (0, 6 + n))))
    assert rules.order.held() == 3001
    rules.fold(_record(first))
    assert rules.order.held() == 3001
    other = _entry(queue.waiting[1], wib(23, 9), (1, 0))
    rules.fold(_record(other))
    assert rules.order.held() == 3002
    seen = orjson.loads(rules.order_port.data[b"seen|kota-malang.dpmptsp|pbg"][1])
    assert seen == {"0": 3005, "1": 0}
    rules.fold(_record(progress={0: wib(30), 1: wib(30)}))
    assert rules.order.held() == 0
    assert not any(key.startswith(b"held|") for key in rules.order_port.data)


def _fold_records(
    records: list[tuple[int, bytes]], catalog_: Catalog, *, with_offsets: bool
) -> tuple[list[Alert], dict[bytes, bytes]]:
    """Records of oversight partition 0 (offset, value), each in a batch of its own: the alerts
    and the table after them."""
    rules = Rules(catalog_, partitions=2)
    for offset, value in records:
        rules.fold(value, offset if with_offsets else None)
    return rules.alerts, {key: value for key, (_, value) in rules.order_port.data.items()}


def test_a_record_read_again_is_skipped_whole_so_its_progress_releases_nothing_early(
    scenario_catalog: Catalog,
) -> None:
    """A worker restarts from its last committed offset and reads records its state holds
    already. Their progress reports are of an earlier moment: here both sources had reported
    far ahead, then went back to a backlog. Applied again, the old report would release the late
    case's held steps before the waiting cases' earlier steps came in, and the queue jump would
    never be seen. Skipped by offset, the stream read twice gives exactly the alerts and the
    state of one reading."""
    queue = Queue()
    records = [
        (0, _record(progress={0: wib(30), 1: wib(30)})),
        (1, _record(progress={0: wib(22), 1: wib(22)})),
        (
            2,
            _record(
                _entry(queue.late_submitted, wib(26, 10), (1, 0)),
                _entry(queue.jump, wib(26, 10), (1, 1)),
            ),
        ),
        (3, _record(*(_entry(step, wib(23, 9), (0, n)) for n, step in enumerate(queue.waiting)))),
        (4, _record(progress={0: wib(30), 1: wib(30)})),
    ]
    once, table_once = _fold_records(records, scenario_catalog, with_offsets=True)
    assert [alert.rule.value for alert in once] == ["queue.jump"]
    assert table_once[b"applied|0"] == b"4"
    # The restart: records 0-2 read again after record 2 was applied.
    read_again = [*records[:3], *records[:3], *records[3:]]
    twice, table_twice = _fold_records(read_again, scenario_catalog, with_offsets=True)
    assert twice == once
    assert table_twice == table_once
    # Taken as new records, the same reading misses the jump: what the offsets prevent.
    unguarded, _ = _fold_records(read_again, scenario_catalog, with_offsets=False)
    assert unguarded == []


def test_source_progress_is_the_clock_once_read_to_the_end_and_never_ahead_of_it() -> None:
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    lateness = timedelta(minutes=2)
    ahead = now + timedelta(hours=5)
    behind = now - timedelta(days=3)
    assert source_progress(caught_up=True, latest_occurred=None, now=now, lateness=lateness) == (
        micros(now - lateness)
    )
    assert (
        source_progress(caught_up=False, latest_occurred=None, now=now, lateness=lateness) is None
    )
    assert source_progress(
        caught_up=False, latest_occurred=behind, now=now, lateness=lateness
    ) == micros(behind - lateness)
    assert source_progress(
        caught_up=False, latest_occurred=ahead, now=now, lateness=lateness
    ) == micros(now - lateness)


def test_a_step_dated_after_its_receipt_waits_only_for_its_receipt(
    scenario_catalog: Catalog,
) -> None:
    """A source's clock ahead of the tracker's (`time.future`) does not hold its step until the
    date it claims: nothing happens after it was received."""
    rules = Rules(scenario_catalog, partitions=2)
    ahead = Cases().step("AHEAD", "submitted", wib(28, 9))
    rules.fold(_record(_entry(ahead, wib(23, 9), (0, 0))))
    assert rules.order.held() == 1
    rules.fold(_record(progress={0: wib(24), 1: wib(24)}))
    assert rules.order.held() == 0


def test_a_source_read_from_a_backlog_reports_with_the_backlog_lateness() -> None:
    """A partition with more to read whose latest record was received more than
    BACKLOG_BEHIND ago is read from a backlog; one keeping up, or read to its end, is not."""
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    old = now - BACKLOG_BEHIND - timedelta(seconds=1)
    fresh = now - BACKLOG_BEHIND + timedelta(seconds=1)
    assert reading_backlog(caught_up=False, latest_received=old, now=now)
    assert not reading_backlog(caught_up=False, latest_received=fresh, now=now)
    assert not reading_backlog(caught_up=True, latest_received=old, now=now)
    assert not reading_backlog(caught_up=False, latest_received=None, now=now)


# --- a backlog whose agencies sent steps days out of order ------------------------------------

BACKLOG_LATENESS = timedelta(days=7)


@pytest.fixture(scope="module")
def backlog_sources(catalog: Catalog) -> dict[int, list[Entry]]:
    """Every rule planted, as `pantau simulate` sends a history: some agencies send steps hours
    or days after later ones (late uploads, backdated entries), so each partition's own steps are
    out of event-time order by far more than the live lateness."""
    simulation = Simulation(
        catalog, seed=11, start=datetime(2026, 8, 2, 5, 0, tzinfo=UTC), cases=300, anomaly_rate=0.4
    )
    return _handed_on(catalog, simulation)


def _judged(
    catalog: Catalog,
    records: list[tuple[bytes, bytes, int]],
    rng: random.Random,
    rebalance_every: float = 0.0,
    sizes: tuple[int, ...] = (1, 7, 100, 2000),
) -> Rules:
    """The records judged in batches cut at random, and after a batch, at that rate, a rebalance:
    the order's mirror rebuilt from what its table holds, as a worker does."""
    rules = Rules(catalog)
    first = 0
    while first < len(records):
        size = rng.choice(sizes)
        rules.batch(records[first : first + size])
        first += size
        if rng.random() < rebalance_every:
            held = rules.order.held()
            rules.order.rebuild(_stored(rules.order_port))
            assert rules.order.held() == held
    return rules


def _grouped(
    records: list[tuple[bytes, bytes, int]], rng: random.Random
) -> list[tuple[bytes, bytes, int]]:
    """The records with the steps between two progress reports merged into one record per
    destination partition of up to 50 steps, each partition's in their order, as a tracker
    hands on a batch's steps."""
    out: list[tuple[bytes, bytes, int]] = []
    pending: dict[int, list[bytes]] = {}

    def flush() -> None:
        for partition, steps in pending.items():
            for first in range(0, len(steps), size := rng.randint(1, 50)):
                out.append((b"route", hand_over_value(steps[first : first + size]), partition))
        pending.clear()

    for key, value, partition in records:
        if key == PROGRESS_KEY:
            flush()
            out.append((key, value, partition))
        else:
            pending.setdefault(partition, []).extend(
                orjson.dumps(step) for step in orjson.loads(value)["steps"]
            )
    flush()
    return out


def _stored(port: DictTable) -> list[tuple[bytes, bytes, int]]:
    return [(key, value, partition) for key, (partition, value) in port.data.items()]


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_rebalance_between_any_two_batches_changes_nothing(
    catalog: Catalog,
    sources: dict[int, list[Entry]],
    sorted_fold: tuple[set[bytes], Any],
    seed: int,
) -> None:
    """The held steps are stored in chunks, rewritten as some are released: whatever the table
    holds after any batch rebuilds the same order, so the alerts and the rule states are those
    of the event-time fold however often the partitions move."""
    rng = random.Random(seed)
    records = _grouped(_interleaved(sources, rng, 1.0), rng)
    assert max(len(orjson.loads(value)["steps"]) for _, value, _ in records) > 1
    rules = _judged(catalog, records, rng, rebalance_every=0.3, sizes=(1, 3, 10))
    expected_alerts, expected_states = sorted_fold
    assert {alert.to_json_bytes() for alert in rules.alerts} == expected_alerts
    assert len(rules.alerts) == len(expected_alerts)
    assert rules.states() == expected_states
    assert not any(key.startswith(b"held|") for key in rules.order_port.data)


def _held_keys(port: DictTable) -> list[bytes]:
    return [key for key in port.data if key.startswith(b"held|")]


def _rebuilt_and_released(rules: Rules, held: int, until: datetime) -> list[Alert]:
    """A worker taking the partitions over: its order, rebuilt from the table, holds `held`
    steps; progress to `until` releases them all and leaves no held key. Gives the alerts."""
    rules.order = StepOrder(rules.partitions, rules.order_port.get)
    rules.order.rebuild(_stored(rules.order_port))
    assert rules.order.held() == held
    alerts = rules.fold(_record(progress=dict.fromkeys(range(rules.partitions), until)))
    assert rules.order.held() == 0
    assert _held_keys(rules.order_port) == []
    return alerts


def test_the_steps_one_record_holds_are_one_table_write_until_the_last_is_released(
    scenario_catalog: Catalog,
) -> None:
    """Six steps held by one record are one chunk; releasing four rewrites it with the two left,
    which a rebuilt order holds again; releasing those deletes it."""
    queue = Queue()
    rules = Rules(scenario_catalog, partitions=2)
    steps = [*queue.waiting, queue.late_submitted, queue.jump]
    record = _record(*(_entry(step, wib(26, 11), (0, n)) for n, step in enumerate(steps)))
    rules.fold(record)
    assert rules.order.held() == 6
    [chunk] = _held_keys(rules.order_port)
    assert len(orjson.loads(rules.order_port.data[chunk][1])) == 6
    rules.fold(_record(progress={0: wib(24), 1: wib(24)}))
    assert rules.order.held() == 2
    assert _held_keys(rules.order_port) == [chunk]
    left = orjson.loads(rules.order_port.data[chunk][1])
    assert [entry["step"]["event"]["case_id"] for entry in left] == [
        queue.late_submitted.event.case_id
    ] * 2
    alerts = _rebuilt_and_released(rules, held=2, until=wib(27))
    assert [alert.rule.value for alert in alerts] == ["queue.jump"]


def test_a_chunk_stays_below_its_size_and_a_large_record_holds_several(
    scenario_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk is one changelog record, which the broker refuses above 1 MB: the steps one
    record holds beyond the chunk size go into further chunks, all rebuilt alike."""
    monkeypatch.setattr(ordering, "CHUNK_BYTES", 4000)
    cases = Cases()
    steps = [cases.step(f"W{n}", "submitted", wib(23, 8, n)) for n in range(40)]
    rules = Rules(scenario_catalog, partitions=2)
    record = _record(*(_entry(step, wib(26, 11), (0, n)) for n, step in enumerate(steps)))
    rules.fold(record)
    chunks = _held_keys(rules.order_port)
    assert len(chunks) > 1
    assert all(len(rules.order_port.data[key][1]) <= 4000 + 2 for key in chunks)
    assert sum(len(orjson.loads(rules.order_port.data[key][1])) for key in chunks) == 40
    _rebuilt_and_released(rules, held=40, until=wib(27))


def test_a_step_held_under_its_own_key_before_chunks_is_rebuilt_and_released(
    scenario_catalog: Catalog,
) -> None:
    """A table written before chunks holds each step under a key of its own, its entry as the
    value: rebuilt, held, and its key deleted when it is released."""
    queue = Queue()
    rules = Rules(scenario_catalog, partitions=2)
    step = queue.waiting[0]
    entry = _entry(step, wib(23, 9), (0, 0))
    key = b"held|kota-malang.dpmptsp|pbg|%020d|%020d|%s" % (
        micros(step.event.occurred_at),
        micros(wib(23, 9)),
        step.event.event_id.encode(),
    )
    rules.order_port.put(key, 0, entry)
    _rebuilt_and_released(rules, held=1, until=wib(24))


def test_a_backlog_read_with_the_backlog_lateness_is_judged_alike_in_any_interleaving(
    catalog: Catalog, backlog_sources: dict[int, list[Entry]]
) -> None:
    """With the live lateness, whether a step sent far out of order came after a progress report
    (and so was judged on arrival, against whatever had been released by then) depends on the
    interleaving. With the backlog lateness, every interleaving gives the alerts of the
    event-time fold, and no step comes late."""
    disorder = max(
        latest - _occurred(raw)
        for entries in backlog_sources.values()
        for latest, (_, _, raw) in zip(
            itertools.accumulate((_occurred(raw) for _, _, raw in entries), max),
            entries,
            strict=True,
        )
    )
    assert timedelta(hours=1) < disorder < BACKLOG_LATENESS
    expected, _ = _sorted_fold(catalog, backlog_sources)
    live_late = []
    for seed in range(6):
        rng = random.Random(seed)
        records = _interleaved(backlog_sources, rng, 0.3, lateness=timedelta(seconds=120))
        live_late.append(_judged(catalog, records, rng).late)
        rng = random.Random(seed)
        records = _interleaved(backlog_sources, rng, 0.3, lateness=BACKLOG_LATENESS)
        backlog = _judged(catalog, records, rng)
        assert backlog.late == 0
        assert {alert.to_json_bytes() for alert in backlog.alerts} == expected
    assert max(live_late) > 0, live_late  # the live lateness leaves it to the timing
