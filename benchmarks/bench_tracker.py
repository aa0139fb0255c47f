"""Tracker throughput next to a bare consumer, on the real broker, measured in the same run.

Publishes N valid events (whole PBG cases, every detector runs) to a fresh prefix, then:
- baseline: an aiokafka consumer that only decodes each event with `Event.from_json_bytes`;
- tracker: `pantau tracker` (Faust, RocksDB state, all detectors, alerts and case states out),
  timed from its first to its last case-state record on `pantau.cases`.

    .venv/bin/python benchmarks/bench_tracker.py [--events 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pantau.core.events import Event
from pantau.settings import TopicNames
from tracker_harness import (
    KAFKA,
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` prints where a slow run is
    start = datetime.now(UTC) - timedelta(hours=8)
    events = []
    index = 0
    while len(events) < args.events:
        events += pbg_case(f"bench-{index:06d}", start + timedelta(seconds=index % 3600))
        index += 1
    events = events[: args.events]
    with fresh_topics() as env, tempfile.TemporaryDirectory() as folder:
        names = TopicNames(env["PANTAU_TOPIC_PREFIX"])
        print(f"publishing {len(events)} events of {index} cases to {names.events} ...", flush=True)
        publish(events, names.events)

        bare = asyncio.run(bare_consumer(names.events, len(events)))
        print(f"bare consumer done in {bare:.2f} s; starting the tracker ...", flush=True)

        tracker = TrackerProcess(env, Path(folder) / "state", Path(folder) / "tracker.log")
        tracker.start()
        try:
            deadline = time.monotonic() + 900
            while consumer_lag(names.group("tracker"), names.events) > 0:
                if time.monotonic() > deadline:
                    raise SystemExit("the tracker did not catch up in 15 minutes")
                time.sleep(1)
        finally:
            tracker.stop()
        cases = read_topic(names.cases, until=lambda r: len(r) >= len(events), timeout=60)
        stamps = sorted(record.timestamp_ms for record in cases)
        tracked = (stamps[-1] - stamps[0]) / 1000 if len(stamps) > 1 else float("nan")

        print()
        print(f"{'consumer':<44} {'events':>8} {'seconds':>9} {'events/s':>10}")
        print(
            f"{'bare aiokafka + Event.from_json_bytes':<44} {len(events):>8} {bare:>9.2f} "
            f"{len(events) / bare:>10.0f}"
        )
        print(
            f"{'pantau tracker (Faust, RocksDB, all rules)':<44} {len(events):>8} "
            f"{tracked:>9.2f} {len(events) / tracked:>10.0f}"
        )
        print(f"(case-state records observed: {len(cases)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
