"""Tracker throughput next to a bare consumer, on the real broker, measured in the same run.

Publishes N valid events (whole PBG cases on a working day, sent as history, every detector
runs) to a fresh prefix for each tracker run, then:
- baseline: an aiokafka consumer that only decodes each event with `Event.from_json_bytes`;
- tracker: `pantau tracker` (Faust, RocksDB state, all detectors, alerts and case states out)
  with the cross-case rules off (`PANTAU_TRACKER_CROSS_CASE=false`), with them on, and with
  them on in two processes (a `cases` worker and a `rules` worker, `PANTAU_TRACKER_ROLE`), each
  on its own prefix;
- two workers sharing the 12 partitions, with every rule and with the contract rules only;
- one worker and two with every rule on mixed traffic: the first N events of the case
  simulator (`pantau.traffic`, a fixed seed, sent as history) over every service of the
  catalog, a tenth of its cases with a planted anomaly.

Each tracker run starts its workers on empty topics and waits until every worker is ready and
its consumer groups are stable with every worker holding partitions; then it publishes the
events at once (librdkafka, acks=all: well under a second) and is timed until it has committed
every event and every cross-case hand-over, two ways (`Run`): steady, from the moment the
events were published; whole, from its first case-state record on `pantau.cases`. So a run with
several workers never has one worker reading alone while the others join, and no rebalance
falls in the measurement.

The cases all belong to one service and one verifier, so the cross-case rules work on their
worst case: one hot queue of up to 500 waiting cases per step, rewritten on every step. A
service's cross-case rules run on the one partition its key falls on, so a second worker takes
over half of the per-case work but none of that service's rule work: the two-worker run with
the contract rules only shows how the per-case work alone scales. Mixed traffic is what a
regency sends: several services (so their rules spread over partitions), officers and
applicants in the thousands, alerts on a tenth of the cases.

With `--rounds N` every configuration runs N times, one round after the other, and the table
shows the median of each figure, each run's figure below it, and the median of each round's
ratio of two workers to one (the two runs of a round are minutes apart, so their ratio swings
less than either figure). `make bench-tracker` runs three rounds.

    .venv/bin/python benchmarks/bench_tracker.py [--events 50000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import itertools
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pantau.core.catalog.loading import load_catalog
from pantau.core.events import Event, event_key
from pantau.settings import TopicNames
from pantau.traffic.generator import Simulation
from stacks import KAFKA, group_stable, publish_at_once
from tracker_harness import (
    REPO,
    LagReader,
    TrackerProcess,
    fresh_topics,
    pbg_case,
    publish,
    read_topic,
)


async def bare_consumer(topic: str, total: int) -> float:
    """Seconds for a plain consumer to fetch and decode `total` events (first to last record)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        seen = 0
        started = 0.0
        while seen < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                if not started:
                    started = time.perf_counter()
                for record in records:
                    Event.from_json_bytes(record.value)
                    seen += 1
        return time.perf_counter() - started
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Run:
    """One tracker run, timed two ways.

    `whole_seconds`: from the first case-state record until nothing is left to commit. The
    steady window: from the moment the events were published (every worker ready, its consumer
    group stable with every worker holding partitions) until nothing is left to commit.
    """

    total: int
    whole_seconds: float
    window_seconds: float

    @property
    def whole_rate(self) -> float:
        return self.total / self.whole_seconds

    @property
    def steady_rate(self) -> float:
        return self.total / self.window_seconds


def tracked(
    env: dict[str, str],
    folder: Path,
    cases: int,
    records: list[tuple[bytes, bytes]],
    cross_case: bool,
    roles: tuple[str, ...] = ("all",),
) -> Run:
    """Run `roles` (one worker process per role: `all`, or `cases` beside `rules`; two `all`
    workers share the 12 partitions of one consumer group) over `records`, published once the
    workers are ready and their groups stable."""
    total = len(records)
    names = TopicNames(env["PANTAU_TOPIC_PREFIX"])
    flag = {"PANTAU_TRACKER_CROSS_CASE": "true" if cross_case else "false"}
    folder.mkdir(parents=True, exist_ok=True)
    workers = [
        TrackerProcess(
            {**env, **flag, "PANTAU_TRACKER_ROLE": role},
            folder / f"state-{role}-{index}",
            folder / f"tracker-{role}-{index}.log",
        ).start()
        for index, role in enumerate(roles)
    ]
    rules_group = names.group("tracker-rules" if "rules" in roles else "tracker")
    lags = [
        (names.group("tracker"), names.events),
        (rules_group, names.prefix + "tracker-oversight"),
    ]
    groups = [(names.group("tracker"), sum(role != "rules" for role in roles))]
    if "rules" in roles:
        groups.append((rules_group, roles.count("rules")))
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    lag = LagReader()
    try:
        deadline = time.monotonic() + 180
        while not (
            all(w.ready() for w in workers)
            and all(group_stable(admin, group, members) for group, members in groups)
        ):
            if time.monotonic() > deadline:
                raise SystemExit("the tracker workers did not form their groups in 3 minutes")
            time.sleep(0.1)
        opened = time.time()
        publish_at_once(KAFKA, names.events, records)
        deadline = time.monotonic() + 900
        # Every event is acknowledged, so the events topic shows a lag until the last is
        # committed; a hand-over is produced before its event's offset is committed.
        while any(lag.behind(group, topic) > 0 for group, topic in lags):
            if time.monotonic() > deadline:
                raise SystemExit("the tracker did not catch up in 15 minutes")
            time.sleep(0.05)
        done = time.time()
    finally:
        lag.close()
        admin.close()
        for worker in workers:
            worker.stop()
    # Every case is published at least once (once per batch it is in, not once per event).
    views = read_topic(names.cases, until=lambda r: len({x.key for x in r}) >= cases, timeout=60)
    first = min(record.timestamp_ms for record in views) / 1000
    return Run(total, done - first, done - opened)


QUIX_PYTHON = Path(__file__).resolve().parents[1] / ".venv-quix" / "bin" / "python"


def quix_peer_seconds(names: TopicNames, total: int) -> float | None:
    """Seconds for the Quix Streams peer (`quix_peer.py`) to judge the same events with the
    same core; None when its environment is missing (`make bench-tracker` makes it)."""
    if not QUIX_PYTHON.exists():
        print("quix streams peer skipped: no .venv-quix (make bench-tracker makes it)")
        return None
    done = subprocess.run(
        [str(QUIX_PYTHON), str(Path(__file__).with_name("quix_peer.py")), names.events,
         names.alerts, str(total)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("quix peer:"):
            return float(line.split()[-2])
    print(f"quix streams peer failed: {done.stderr[-2000:]}")
    return None


# The tracker runs of a round, in order: label, cross-case rules on, worker roles, events.
PBG, MIXED = "pbg", "mixed"
CONFIGURATIONS: tuple[tuple[str, bool, tuple[str, ...], str], ...] = (
    ("pantau tracker, contract rules only", False, ("all",), PBG),
    ("pantau tracker (Faust, RocksDB, all rules)", True, ("all",), PBG),
    ("pantau tracker, cases + rules workers", True, ("cases", "rules"), PBG),
    ("pantau tracker, two workers on 12 partitions", True, ("all", "all"), PBG),
    ("pantau tracker, contract rules, two workers", False, ("all", "all"), PBG),
    ("pantau tracker, mixed traffic, all rules", True, ("all",), MIXED),
    ("pantau tracker, mixed traffic, two workers", True, ("all", "all"), MIXED),
)
# Two workers against one: (rules, the one-worker run, the two-worker run).
PAIRS = (
    ("every rule", CONFIGURATIONS[1][0], CONFIGURATIONS[3][0]),
    ("contract rules only", CONFIGURATIONS[0][0], CONFIGURATIONS[4][0]),
    ("every rule, mixed traffic", CONFIGURATIONS[5][0], CONFIGURATIONS[6][0]),
)
MIXED_SEED = 7
MIXED_START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday; a month of history follows


def mixed_traffic(total: int) -> tuple[list[tuple[bytes, bytes]], int, int]:
    """The records of the simulator's first `total` events over the repository's catalog
    (the tracker's own), and how many cases and services (of an agency) they belong to."""
    simulation = Simulation(
        load_catalog(REPO / "catalog"), seed=MIXED_SEED, start=MIXED_START, regime="backfill"
    )
    events = [emission.event for emission in itertools.islice(simulation, total)]
    records = [(event_key(e.agency, e.case_id), e.to_json_bytes()) for e in events]
    services = len({(e.agency, e.service) for e in events})
    return records, len({(e.agency, e.case_id) for e in events}), services


def spread(values: list[float], unit: str = "") -> str:
    """The values of every round, in round order, when there were several."""
    if len(values) < 2:
        return ""
    return (
        " (rounds: " + ", ".join(f"{v:,.2f}{unit}" if unit else f"{v:,.0f}" for v in values) + ")"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every configuration this many times, one round after the other, and print "
        "the median of each figure (one run swings by a fifth on a shared 2-CPU machine)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` prints where a slow run is
    # A working Monday in Jakarta, sent as history: the figures do not depend on the hour the
    # bench runs at (live cases stamped in the evening would all be off-hours work).
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    events: list[dict[str, Any]] = []
    index = 0
    while len(events) < args.events:
        events += pbg_case(f"bench-{index:06d}", start + timedelta(seconds=index % 3600))
        index += 1
    events = [{**event, "mode": "backfill"} for event in events[: args.events]]
    records = [
        (event_key(event["agency"], event["case_id"]), json.dumps(event).encode())
        for event in events
    ]
    total = len(events)
    with fresh_topics() as bare_env:
        bare_topic = TopicNames(bare_env["PANTAU_TOPIC_PREFIX"]).events
        print(f"{len(events)} events of {index} cases", flush=True)
        publish(events, bare_topic)
        bare = asyncio.run(bare_consumer(bare_topic, len(events)))
    print(f"bare consumer done in {bare:.2f} s; starting the tracker ...", flush=True)
    mixed, mixed_cases, services = mixed_traffic(total)
    print(f"mixed traffic: {len(mixed)} events of {mixed_cases} cases of {services} services")
    traffic = {PBG: (records, index), MIXED: (mixed, mixed_cases)}
    runs: dict[str, list[Run]] = {label: [] for label, *_ in CONFIGURATIONS}
    quix: list[float] = []
    for round_number in range(1, args.rounds + 1):
        if args.rounds > 1:
            print(f"round {round_number} of {args.rounds}", flush=True)
        for label, cross_case, roles, events_of in CONFIGURATIONS:
            # Every run starts on topics of its own, empty until its workers are ready.
            given, cases = traffic[events_of]
            with fresh_topics() as stack, tempfile.TemporaryDirectory() as folder:
                run = tracked(stack, Path(folder), cases, given, cross_case, roles)
                print(
                    f"{label}: {run.whole_seconds:.2f} s from the first case state, "
                    f"{run.window_seconds:.2f} s from the publish",
                    flush=True,
                )
                runs[label].append(run)
                if label == CONFIGURATIONS[0][0]:
                    # The peer reads the events the contract-rules run was given.
                    seconds = quix_peer_seconds(TopicNames(stack["PANTAU_TOPIC_PREFIX"]), total)
                    if seconds:
                        quix.append(seconds)

    print()
    print(
        "steady: from the publish (every worker ready, its group stable) to the last commit; "
        "whole: from the first case state to the last commit"
        + (f"; each figure the median of {args.rounds} rounds" if args.rounds > 1 else "")
    )
    print(f"{'consumer':<48} {'events':>8} {'seconds':>9} {'events/s':>10} {'whole/s':>9}")
    print(f"{'bare aiokafka + Event.from_json_bytes':<48} {total:>8} {bare:>9.2f} "
          f"{total / bare:>10.0f}")  # fmt: skip
    rate = {label: [run.steady_rate for run in done] for label, done in runs.items()}
    whole = {label: [run.whole_rate for run in done] for label, done in runs.items()}
    for label, *_ in CONFIGURATIONS:
        steady = statistics.median(rate[label])
        print(
            f"{label:<48} {total:>8} {total / steady:>9.2f} "
            f"{steady:>10.0f} {statistics.median(whole[label]):>9.0f}",
            flush=True,
        )
    if quix:
        seconds = statistics.median(quix)
        print(f"{'quix streams peer, same core, contract rules':<48} {total:>8} "
              f"{seconds:>9.2f} {total / seconds:>10.0f}")  # fmt: skip
    if args.rounds > 1:
        print()
        for label, *_ in CONFIGURATIONS:
            print(f"{label}: events/s steady{spread(rate[label])}")
        if quix:
            print(f"quix streams peer: events/s{spread([total / s for s in quix])}")
    for rules, one, two in PAIRS:
        # Within a round the two runs are minutes apart: their ratio moves less than either.
        steady_ratios = [b / a for a, b in zip(rate[one], rate[two], strict=True)]
        whole_ratios = [b / a for a, b in zip(whole[one], whole[two], strict=True)]
        print(
            f"two workers against one, {rules}: {statistics.median(steady_ratios):.2f}x steady, "
            f"{statistics.median(whole_ratios):.2f}x whole{spread(steady_ratios, 'x')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
