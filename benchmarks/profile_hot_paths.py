"""Where the CPU goes in the tracker's and the sink's per-record work, without Kafka or Faust.

- tracker: `handle_event` over pre-decoded events (whole PBG cases of every anomaly kind), plus
  what the worker does with each outcome: the state document for RocksDB, the case view for
  `pantau.cases`, the due time, the alerts' JSON. Decoding (`read_event`) is timed apart.
- sink: the events table's batch building: as `pantau sink` does it (`take_event`, the fast
  check falling back to the contract model, then `chain_rows` per batch of 10,000), and through
  the contract model (`accept_event`, `canonical_bytes`, `ChainHead.extended`, `event_row_at`
  per event, in batches of 1,000) for comparison.

Prints µs per record and the functions with the most own time (cProfile). The cycle collector
is tuned as `pantau tracker` and `pantau sink` tune it (`pantau.collector.quiet_collector`),
once the records are built; `--default-collector` keeps Python's defaults.

    .venv/bin/python benchmarks/profile_hot_paths.py [--events 30000] [--top 15]
        [--default-collector]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import orjson

from pantau.collector import quiet_collector
from pantau.core.events import Event, canonical_bytes, event_key
from pantau.history.chain import ChainHead
from pantau.history.records import (
    AcceptedEvent,
    accept_event,
    chain_rows,
    event_row_at,
    receipt_bytes,
    seconds,
    take_event,
)
from pantau_tracker.domain.batches import (
    CaseBatch,
    RuleBatch,
    decode_state,
    encode_rule_record,
    encode_state,
    hand_over_value,
    rule_decoder,
)
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.case_view import case_view
from pantau_tracker.domain.decoded import DecodedTable
from pantau_tracker.domain.ordering import (
    PROGRESS_KEY,
    StepOrder,
    progress_value,
    source_progress,
)
from pantau_tracker.domain.records import read_event
from pantau_tracker.domain.rulebook import STATEFUL_RULES
from pantau_tracker.domain.standards import Standards, TrackerPolicy
from pantau_tracker.domain.tracking import due_at, handle_event
from tracker_harness import (  # tables over dicts: RocksDB is not Pantau's own work
    DictTable,
    sample_catalog,
    scenario_stream,
)

LATENESS = timedelta(minutes=2)  # the tracker's default allowed lateness
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 08:00 in Jakarta, as bench_tracker


def profiled(label: str, work: Callable[[], int], top: int) -> None:
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    count = work()
    profile.disable()
    seconds = time.perf_counter() - started
    print(f"\n== {label}: {count} records, {seconds * 1e6 / count:.0f} µs each under cProfile")
    pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def timed(label: str, work: Callable[[], int]) -> None:
    started = time.perf_counter()
    count = work()
    seconds = time.perf_counter() - started
    print(f"{label:<52} {seconds * 1e6 / count:>8.1f} µs/record  {count / seconds:>9,.0f}/s")


class HotPaths:
    """The records of one run, decoded once, and each hot path timed over them."""

    def __init__(self, events: int) -> None:
        self.catalog = sample_catalog()
        self.standards = Standards(self.catalog, TrackerPolicy())
        # A fixed week, so that runs compare: with the clock's own day and hour, the cases' six
        # hours fell in or out of office hours (or on a weekend) by when the script ran, and
        # the off-hours alerts raised on every staff step outside them changed the work.
        start = START
        documents = scenario_stream(max(1, events // 5), start, "prof")[:events]
        self.records = [
            (event_key(d["agency"], d["case_id"]), json.dumps(d).encode()) for d in documents
        ]
        self.received_at = start + timedelta(hours=30)
        self.events = self.decode()
        self.arrivals = [
            (event.occurred_at + timedelta(minutes=5)).astimezone(UTC) for event in self.events
        ]

    def decode(self) -> list[Event]:
        out = []
        for key, value in self.records:
            found = read_event(key, value, self.catalog)
            if isinstance(found, Event):
                out.append(found)
        return out

    def track(self, with_outputs: bool) -> int:
        states: dict[tuple[str, str], CaseState] = {}
        for event in self.events:
            case = (event.agency, event.case_id)
            standard = self.standards.for_case(event.agency, event.service)
            assert standard is not None
            # Received minutes after it happened, as in live traffic: no time.* alert on each.
            arrived = event.occurred_at + timedelta(minutes=5)
            outcome = handle_event(states.get(case), event, arrived, standard)
            if outcome.state is None:
                states.pop(case, None)
                continue
            states[case] = outcome.state
            if with_outputs:
                for alert in outcome.alerts:
                    alert.to_json_bytes()
                encode_state(outcome.state, 0)
                orjson.dumps(case_view(outcome.state, standard))
                due_at(outcome.state, standard)
        return len(self.events)

    def worker(self, batch_size: int) -> int:
        """What a worker's agents do per batch, without Kafka: decode, fold, encode outputs,
        hand over, fold the stateful rules, encode their records."""
        cases = DecodedTable(DictTable(), decode_state, encode_state, 20_000)
        rules = {
            rule.name: DecodedTable(DictTable(), rule_decoder(rule), encode_rule_record, 5_000)
            for rule in STATEFUL_RULES
        }
        order_table = DictTable()
        order = StepOrder(1, order_table.get)
        for first in range(0, len(self.records), batch_size):
            fold = CaseBatch(self.catalog, self.standards, cases)
            for offset, (key, value) in enumerate(self.records[first : first + batch_size], first):
                arrived = self.arrivals[offset]
                fold.event(key, value, 0, offset, arrived)
            outcome = fold.finish()
            for _, alert in outcome.alerts:
                alert.to_json_bytes()
            for key, write in outcome.writes.items():
                if write.state is not None and write.store:
                    cases.save(key, write.partition, write.state, write.stored)
            rule_fold = RuleBatch(self.standards, rules, order)
            if outcome.hand_overs:
                value = hand_over_value([h.entry for h in outcome.hand_overs])
                rule_fold.record(b"route", value, 0)
                # The progress report after the batch, as a worker reading a backlog
                # sends it: the event-time order releases what it passed.
                latest = max(outcome.latest_occurred.values())
                at = source_progress(
                    caught_up=False, latest_occurred=latest, now=latest, lateness=LATENESS
                )
                assert at is not None
                rule_fold.record(PROGRESS_KEY, progress_value({0: at}), 0)
            rule_outcome = rule_fold.finish()
            for (name, state_key), rule_write in rule_outcome.writes.items():
                rules[name].save(state_key, rule_write.partition, rule_write.record)
            rule_outcome.order.apply(order_table)
            for _, alert in rule_outcome.alerts:
                alert.to_json_bytes()
        return len(self.records)

    def sink_batches(self) -> int:
        heads: dict[tuple[str, str], ChainHead] = {}
        rows = 0
        stored_at = seconds(datetime.now(UTC))
        for first in range(0, len(self.records), 1000):
            batch = []
            for offset, (_, value) in enumerate(self.records[first : first + 1000], first):
                event = accept_event(value, self.catalog)
                if event is not None:
                    batch.append(
                        AcceptedEvent(event, canonical_bytes(event), self.received_at, 0, offset)
                    )
            for accepted in batch:
                case = (accepted.event.agency, accepted.event.case_id)
                receipt = receipt_bytes(accepted)
                extended = heads.get(case, ChainHead.empty()).extended(
                    accepted.event.event_id, accepted.canonical, receipt
                )
                if extended is None:
                    continue
                heads[case], link = extended
                event_row_at(accepted, link, stored_at, receipt.decode("ascii"))
                rows += 1
        return len(self.records)

    def sink_taken_batches(self) -> int:
        heads: dict[tuple[str, str], ChainHead] = {}
        stored_at = seconds(datetime.now(UTC))
        received_ms = int(self.received_at.timestamp() * 1000)
        for first in range(0, len(self.records), 10_000):
            batch = []
            for offset, (_, value) in enumerate(self.records[first : first + 10_000], first):
                taken = take_event(value, self.catalog, received_ms, 0, offset)
                if taken is not None:
                    batch.append(taken)
            start = {t.case: heads.get(t.case, ChainHead.empty()) for t in batch}
            _, new_heads, _ = chain_rows(batch, start, stored_at)
            heads.update(new_heads)
        return len(self.records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--default-collector",
        action="store_true",
        help="Python's default cycle-collector thresholds instead of the services' tuning",
    )
    args = parser.parse_args()
    paths = HotPaths(args.events)
    if not args.default_collector:
        quiet_collector()  # as the services do once they are set up
    collector = "Python's default" if args.default_collector else "tuned as in the services"
    print(f"{len(paths.records)} records, {len(paths.events)} valid events; collector {collector}")
    timed("tracker: read_event (decode + validate)", lambda: len(paths.decode()))
    timed("tracker: handle_event only", lambda: paths.track(False))
    timed("tracker: handle_event + state/view/alert JSON", lambda: paths.track(True))
    timed("tracker worker, one record per batch", lambda: paths.worker(1))
    timed("tracker worker, batches of 2,000", lambda: paths.worker(2000))
    timed("sink, contract model: accept + canonical + chain + row", paths.sink_batches)
    timed("sink: take_event + chain_rows (as `pantau sink` does)", paths.sink_taken_batches)
    profiled("tracker worker, batches of 2,000", lambda: paths.worker(2000), args.top)
    profiled("sink batch building", paths.sink_taken_batches, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
