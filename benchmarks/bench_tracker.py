"""Tracker throughput next to a bare consumer, on the real broker, measured in the same run.

Publishes N valid events (whole PBG cases on a working day, sent as history, every detector
runs) to a fresh prefix for each tracker run, then:
- baseline: an aiokafka consumer that only decodes each event with `Event.from_json_bytes`;
- tracker: `pantau tracker` (Faust, RocksDB state, all detectors, alerts and case states out),
  timed from its first case-state record on `pantau.cases` until it has committed every event
  and every cross-case hand-over; with the cross-case rules off
  (`PANTAU_TRACKER_CROSS_CASE=false`), with them on, and with them on in two processes (a
  `cases` worker and a `rules` worker, `PANTAU_TRACKER_ROLE`), each on its own prefix;
- two workers sharing the 12 partitions, with every rule and with the contract rules only.

The cases all belong to one service and one verifier, so the cross-case rules work on their
worst case: one hot queue of up to 500 waiting cases per step, rewritten on every step. A
service's cross-case rules run on the one partition its key falls on, so a second worker takes
over half of the per-case work but none of that service's rule work: the two-worker run with
the contract rules only shows how the per-case work alone scales.

    .venv/bin/python benchmarks/bench_tracker.py [--events 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pantau.core.events import Event
from pantau.settings import TopicNames
from stacks import KAFKA
from tracker_harness import (
    TrackerProcess,
    consumer_lag,
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


def tracked_seconds(
    env: dict[str, str],
    folder: Path,
    cases: int,
    cross_case: bool,
    roles: tuple[str, ...] = ("all",),
) -> float:
    """Seconds from the tracker's first case-state record until nothing is left to commit.

    `roles`: one worker process per role (`all`, or `cases` beside `rules`); two `all` workers
    share the 12 partitions of one consumer group.
    """
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
    try:
        deadline = time.monotonic() + 900
        while any(consumer_lag(g, t) > 0 for g, t in lags) or not all(w.ready() for w in workers):
            if time.monotonic() > deadline:
                raise SystemExit("the tracker did not catch up in 15 minutes")
            time.sleep(0.25)
        done = time.time()
    finally:
        for worker in workers:
            worker.stop()
    # Every case is published at least once (once per batch it is in, not once per event).
    views = read_topic(names.cases, until=lambda r: len({x.key for x in r}) >= cases, timeout=60)
    first = min(record.timestamp_ms for record in views) / 1000
    return done - first


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
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
    with (
        fresh_topics() as plain,
        fresh_topics() as env,
        fresh_topics() as split_env,
        fresh_topics() as pair_env,
        fresh_topics() as plain_pair_env,
        tempfile.TemporaryDirectory() as folder,
    ):
        names = TopicNames(env["PANTAU_TOPIC_PREFIX"])
        stacks = (plain, env, split_env, pair_env, plain_pair_env)
        print(
            f"publishing {len(events)} events of {index} cases to {len(stacks)} prefixes",
            flush=True,
        )
        for stack in stacks:
            publish(events, TopicNames(stack["PANTAU_TOPIC_PREFIX"]).events)

        bare = asyncio.run(bare_consumer(names.events, len(events)))
        print(f"bare consumer done in {bare:.2f} s; starting the tracker ...", flush=True)
        without = tracked_seconds(plain, Path(folder) / "plain", index, cross_case=False)
        print(f"tracker without cross-case rules done in {without:.2f} s ...", flush=True)
        tracked = tracked_seconds(env, Path(folder) / "all", index, cross_case=True)
        print(f"tracker with every rule done in {tracked:.2f} s ...", flush=True)
        split = tracked_seconds(split_env, Path(folder) / "split", index, True, ("cases", "rules"))
        print(f"tracker as cases + rules workers done in {split:.2f} s ...", flush=True)
        pair = tracked_seconds(pair_env, Path(folder) / "pair", index, True, ("all", "all"))
        print(f"tracker as two workers done in {pair:.2f} s ...", flush=True)
        plain_pair = tracked_seconds(
            plain_pair_env, Path(folder) / "plain-pair", index, False, ("all", "all")
        )
        print(f"tracker as two workers, contract rules, done in {plain_pair:.2f} s", flush=True)
        quix = quix_peer_seconds(TopicNames(plain["PANTAU_TOPIC_PREFIX"]), len(events))

        print()
        print(f"{'consumer':<48} {'events':>8} {'seconds':>9} {'events/s':>10}")
        for label, seconds in (
            ("bare aiokafka + Event.from_json_bytes", bare),
            ("pantau tracker, contract rules only", without),
            ("pantau tracker (Faust, RocksDB, all rules)", tracked),
            ("pantau tracker, cases + rules workers", split),
            ("pantau tracker, two workers on 12 partitions", pair),
            ("pantau tracker, contract rules, two workers", plain_pair),
            *([("quix streams peer, same core, contract rules", quix)] if quix else []),
        ):
            print(
                f"{label:<48} {len(events):>8} {seconds:>9.2f} {len(events) / seconds:>10.0f}",
                flush=True,
            )
        print(f"two workers against one, every rule: {tracked / pair:.2f}x")
        print(f"two workers against one, contract rules only: {without / plain_pair:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
