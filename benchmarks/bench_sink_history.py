"""A live sink over a large stored history: ClickHouse's and the sink's CPU per second of traffic.

A sink that lives for months meets cases it has not cached on nearly every batch: the events
of long cases arrive days apart, after tens of thousands of other cases. Each such batch reads
the missed heads from ClickHouse (`make bench-lookup` times one lookup). This measures what
that costs a running sink: on a database of its own with the real schema, `events` is filled
with synthetic chains of stored cases (five events per case, eight services, as
`bench_head_lookup.py` makes them, their `case_services` rows included), a `pantau sink` is
started, and events of randomly chosen stored cases are published one by one at a steady rate
(RATE events/s for SECONDS), so nearly every event misses the sink's cache. Printed: the CPU
of the ClickHouse server and of the sink per second of traffic, and when the last event was
stored. The baseline, in the same run, is the same traffic on an empty history (every case
new). Removes its databases and topics afterwards; nothing is asserted.

    .venv/bin/python benchmarks/bench_sink_history.py [--rows 6000000] [--rate 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
from clickhouse_driver import Client
from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_head_lookup import AGENCY, EVENTS_PER_CASE, SERVICES, fill
from pantau.provisioning import provision
from pantau.settings import CommonSettings
from stacks import delete_topics

KAFKA = os.environ.get("PANTAU_KAFKA", "127.0.0.1:9092")
HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def clickhouse_pid() -> int:
    """The local ClickHouse server's process (its CPU is what a lookup costs the server)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"clickhouse-server" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    raise SystemExit("no local clickhouse-server process found (make servers)")


def live(rows: int, rate: float, seconds: float) -> str:
    """One run: a fresh stack, `rows` stored events, a sink, and the traffic; its line."""
    tag = uuid.uuid4().hex[:8]
    database, prefix = f"pantau_bench_live_{tag}", f"bench-live-{tag}."
    env = {
        "PANTAU_KAFKA": KAFKA,
        "PANTAU_TOPIC_PREFIX": prefix,
        "PANTAU_CLICKHOUSE": f"clickhouse://default@127.0.0.1:9000/{database}",
        "PANTAU_SINK_METRICS_PORT": "0",
        "PANTAU_LOG_LEVEL": "WARNING",
    }
    settings = CommonSettings(kafka=KAFKA, topic_prefix=prefix, clickhouse=env["PANTAU_CLICKHOUSE"])
    provision(settings)
    client = Client(host="127.0.0.1", port=9000, database=database)
    sink: subprocess.Popen[bytes] | None = None
    try:
        if rows:
            fill(client, 0, rows)
        sink = subprocess.Popen(
            [sys.executable, "-m", "pantau.cli", "sink"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(8)  # the sink joins its group and stores the standards
        producer = Producer({"bootstrap.servers": KAFKA, "linger.ms": 5})
        # Stored cases of the catalog service (every SERVICES-th), or new ones on an empty history.
        stored_cases = range(0, max(rows // EVENTS_PER_CASE, 1), SERVICES)
        pick = random.Random(1)  # noqa: S311 (seeded, reproducible choice of cases)
        server = clickhouse_pid()
        sent = 0
        started = time.monotonic()
        server_cpu, sink_cpu = cpu_seconds(server), cpu_seconds(sink.pid)
        while (elapsed := time.monotonic() - started) < seconds:
            while sent < int(elapsed * rate):
                case_id = f"C-{pick.choice(stored_cases)}" if rows else f"N-{sent}"
                event = {
                    "event_id": f"live:{tag}:{sent}",
                    "agency": AGENCY,
                    "service": "ktp-el",
                    "case_id": case_id,
                    "step": "verified",
                    "occurred_at": "2026-12-05T10:00:00+07:00",
                    "officer": {"id": "OP1", "role": "operator"},
                }
                key = f"{AGENCY}|{case_id}".encode()
                producer.produce(settings.topics.events, orjson.dumps(event), key)
                sent += 1
            producer.poll(0)
            time.sleep(0.01)
        producer.flush(30)
        elapsed = time.monotonic() - started
        server_cpu = cpu_seconds(server) - server_cpu
        sink_cpu = cpu_seconds(sink.pid) - sink_cpu
        stored = 0
        deadline = time.monotonic() + 120
        while stored < sent and time.monotonic() < deadline:
            stored = client.execute(
                "SELECT count() FROM events WHERE startsWith(event_id, %(prefix)s)",
                {"prefix": f"live:{tag}:"},
            )[0][0]
            time.sleep(0.2)
        after = time.monotonic() - started - elapsed
        return (
            f"{rows:>12,} {sent:>7,} {stored:>7,} {server_cpu / elapsed:>11.2f} "
            f"{sink_cpu / elapsed:>7.2f} {after:>10.1f}"
        )
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait(timeout=60)
        client.execute(f"DROP DATABASE IF EXISTS `{database}`")
        client.disconnect()
        delete_topics(prefix, KAFKA)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6_000_000, help="stored events (6,000,000)")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s of traffic (200)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of traffic (30)")
    args = parser.parse_args()
    if args.rows < EVENTS_PER_CASE * SERVICES or args.rate <= 0 or args.seconds <= 0:
        parser.error(f"--rows must be at least {EVENTS_PER_CASE * SERVICES}; rate, seconds > 0")
    print(
        f"a live sink: {args.rate:g} events/s of stored cases for {args.seconds:g} s; "
        "CPU in cores; baseline: the same traffic on an empty history"
    )
    print(
        f"{'stored rows':>12} {'sent':>7} {'stored':>7} {'ClickHouse':>11} {'sink':>7} "
        f"{'last (s)':>10}"
    )
    for rows in (0, args.rows):
        print(live(rows, args.rate, args.seconds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
