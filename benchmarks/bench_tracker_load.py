"""The tracker's CPU at steady offered loads, next to the same worker idle and reading a backlog.

`bench_tracker.py` measures how fast a worker reads a backlog. Live traffic comes a few events
at a time, and a worker then spends more CPU on each event: every small batch pays for its
fetches, its produce requests, its changelog records and the cross-case rules' progress
reports, however few events it holds. A capacity plan needs both figures.

One `pantau tracker` worker (all rules, or the contract's with `--contract-rules`; the
production timer interval and allowed lateness) runs on a fresh prefix of the local broker; its
CPU is read from `/proc` (all of its threads):
- baselines: idle (ready, nothing arriving), then a backlog of N events published at once,
  from the first event sent to the last one committed;
- pantau: the same kind of events (whole PBG cases, sent as history) published
  one by one at a steady rate, for each rate of `--rates`, measured from 3 s after the rate
  starts until it stops.

The publisher (kafka-python, in this process) shares the machine's cores; its own CPU is printed.

    .venv/bin/python benchmarks/bench_tracker_load.py [--rates 5,50,200,400] [--seconds 20]
        [--backlog 20000] [--contract-rules]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pantau.core.events import event_key
from pantau.settings import TopicNames
from pantau_tracker.settings import TrackerSettings
from tracker_harness import TrackerProcess, consumer_lag, fresh_topics, pbg_case, producer

TICKS = os.sysconf("SC_CLK_TCK")
SETTLE_S = 3.0  # the first seconds of a rate are left out: batches and fetches find their pace


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process `pid`, all its threads."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass(frozen=True)
class Load:
    """What one worker did over one measured window."""

    label: str
    offered: float | None  # events/s sent; None for idle and the backlog
    seconds: float
    events: int  # events handled in the window
    cpu: float  # the worker's CPU seconds in the window
    publisher_cpu: float  # this process's CPU seconds in the window

    @property
    def cores(self) -> float:
        return self.cpu / self.seconds

    @property
    def handled_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def ms_per_event(self) -> float | None:
        return self.cpu * 1000 / self.events if self.events else None

    @property
    def kept_up(self) -> bool:
        """Handled at least 95 % of the offered rate in the window (the backlog and idle: yes)."""
        return self.offered is None or self.handled_per_s >= 0.95 * self.offered

    def row(self) -> str:
        offered = "-" if self.offered is None else f"{self.offered:,.0f}"
        per_event = "-" if self.ms_per_event is None else f"{self.ms_per_event:.2f}"
        publisher = "-" if not self.events else f"{self.publisher_cpu * 1000 / self.events:.2f}"
        note = "" if self.kept_up else "  fell behind"
        return (
            f"{self.label:<34} {offered:>9} {self.handled_per_s:>10,.0f} {self.cores:>6.2f} "
            f"{per_event:>12} {publisher:>14}{note}"
        )


HEADER = (
    f"{'load':<34} {'offered/s':>9} {'handled/s':>10} {'cores':>6} {'CPU ms/event':>12} "
    f"{'publisher ms':>14}"
)


def case_events(prefix: str, start: datetime) -> Iterator[dict[str, Any]]:
    """Whole PBG cases as history, one after another, without end."""
    index = 0
    while True:
        for event in pbg_case(f"{prefix}-{index:06d}", start + timedelta(seconds=index % 3600)):
            yield {**event, "mode": "backfill"}
        index += 1


class Bench:
    def __init__(self, worker: TrackerProcess, names: TopicNames) -> None:
        self.worker = worker
        self.names = names
        self.sender = producer()
        # A working Monday in Jakarta, as in bench_tracker.py: the figures do not depend on the
        # hour the bench runs at.
        self.events = case_events("load", datetime(2026, 11, 23, 1, 0, tzinfo=UTC))

    @property
    def pid(self) -> int:
        assert self.worker.process is not None
        return self.worker.process.pid

    def send(self, count: int) -> None:
        for _ in range(count):
            event = next(self.events)
            key = event_key(event["agency"], event["case_id"])
            self.sender.send(self.names.events, key=key, value=orjson.dumps(event))

    def caught_up(self, timeout: float = 300) -> None:
        """Wait until the worker has committed every event and every hand-over."""
        self.sender.flush()
        group = self.names.group("tracker")
        deadline = time.monotonic() + timeout
        for topic in (self.names.events, self.names.prefix + "tracker-oversight"):
            while consumer_lag(group, topic) > 0:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the tracker did not catch up in {timeout:.0f} s")
                time.sleep(0.1)

    def window(self, label: str, offered: float | None, work: Any) -> Load:
        cpu, mine, handled = (
            cpu_seconds(self.pid),
            time.process_time(),
            self.worker.handled_events(),
        )
        started = time.monotonic()
        work()
        seconds = time.monotonic() - started
        return Load(
            label,
            offered,
            seconds,
            self.worker.handled_events() - handled,
            cpu_seconds(self.pid) - cpu,
            time.process_time() - mine,
        )

    def idle(self, seconds: float) -> Load:
        return self.window("idle (ready, nothing sent)", None, lambda: time.sleep(seconds))

    def backlog(self, count: int) -> Load:
        def work() -> None:
            self.send(count)
            self.caught_up()

        load = self.window(f"backlog of {count:,} events", None, work)
        time.sleep(SETTLE_S)  # for what the backlog raised (progress reports, timer checks)
        return load

    def steady(self, rate: float, seconds: float) -> Load:
        """Send `rate` events/s for SETTLE_S + `seconds`; the window is the last `seconds`."""
        started = time.monotonic()
        sent = 0

        def pace(until: float) -> None:
            nonlocal sent
            while (now := time.monotonic()) < until:
                due = int((now - started) * rate)
                if due > sent:
                    self.send(due - sent)
                    sent = due
                time.sleep(min(0.002, 1 / rate))

        pace(started + SETTLE_S)
        load = self.window(
            f"steady {rate:,.0f} events/s", rate, lambda: pace(time.monotonic() + seconds)
        )
        self.caught_up()
        time.sleep(SETTLE_S)
        return load


def production_timing() -> dict[str, str]:
    """The tracker's own defaults for its timer and allowed lateness (the test harness shortens
    them)."""
    fields = TrackerSettings.model_fields
    return {
        "PANTAU_TRACKER_TIMER_INTERVAL_S": str(fields["tracker_timer_interval_s"].default),
        "PANTAU_TRACKER_ALLOWED_LATENESS_S": str(fields["tracker_allowed_lateness_s"].default),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="5,50,200,400", help="events/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per rate")
    parser.add_argument("--backlog", type=int, default=20_000, help="events of the backlog")
    parser.add_argument(
        "--contract-rules",
        action="store_true",
        help="the contract's rules only (PANTAU_TRACKER_CROSS_CASE=false): the cross-case "
        "rules' share of the CPU is the difference",
    )
    args = parser.parse_args()
    try:
        rates = [float(rate) for rate in args.rates.split(",")]
    except ValueError:
        parser.error(f"--rates: a comma-separated list of numbers, not {args.rates!r}")
    if any(rate <= 0 for rate in rates) or args.seconds <= 0 or args.backlog <= 0:
        parser.error("rates, seconds and the backlog must be positive")
    with fresh_topics() as env, tempfile.TemporaryDirectory() as folder:
        names = TopicNames(env["PANTAU_TOPIC_PREFIX"])
        rules = {"PANTAU_TRACKER_CROSS_CASE": "false" if args.contract_rules else "true"}
        worker = TrackerProcess(
            {**env, **production_timing(), **rules},
            Path(folder) / "state",
            Path(folder) / "tracker.log",
        ).start()
        bench = Bench(worker, names)
        try:
            worker.wait_ready(120)
            time.sleep(5)  # past the first commits and timer ticks
            which = "the contract rules" if args.contract_rules else "all rules"
            print(f"one tracker worker ({which}), pid {bench.pid}; {os.cpu_count()} CPUs")
            loads = [bench.idle(10.0)]
            print(HEADER)
            print(loads[0].row(), flush=True)
            loads.append(bench.backlog(args.backlog))
            print(loads[-1].row(), flush=True)
            for rate in rates:
                loads.append(bench.steady(rate, args.seconds))
                print(loads[-1].row(), flush=True)
        finally:
            bench.sender.close()
            worker.stop()
    backlog = loads[1].ms_per_event
    if backlog:
        for load in loads[2:]:
            if load.ms_per_event:
                times = load.ms_per_event / backlog
                print(f"{load.label}: {times:.1f}x the CPU per event of the backlog")
    return 0


if __name__ == "__main__":
    sys.exit(main())
