"""Traffic throughput: simulation and replay of ~100,000 events, next to a bare producer baseline.

All in one run, on a fresh topic prefix of the local broker (removed afterwards):
- baseline: a bare kafka-python producer (acks=all, idempotent, the same batching) sending
  100,000 ready-made event payloads: the ceiling of any Python sender on this machine;
- simulate, generation only: cases planned, checked and serialised, nothing sent;
- simulate to Kafka: the same, published with acks=all;
- replay, mapping only: the WABO receipt log (CoSeLoG, J.C.A.M. Buijs, 4TU.ResearchData,
  doi:10.4121/uuid:a07386a5-7be3-4367-9535-70bc9e77dbe6, CC BY 4.0) mapped --repeat times;
- replay to Kafka: the same, published.
Each command shows its own progress (events, rate, ETA) on stderr while it runs.

    .venv/bin/python benchmarks/bench_traffic.py [--events 100000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WABO_CSV = REPO.parent / "shared" / "data" / "wabo-receipt.csv"
WABO_EVENTS = 9906  # 8,577 rows and 1,329 closing events per replay of the log
EVENTS_PER_CASE = 4.87  # measured mean of the simulator with the sample catalog


def run(env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run a pantau command with progress on our stderr; its wall time and its stdout."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pantau.cli", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, done.stdout


def sent_events(stdout: str) -> int:
    found = re.search(r"([\d,]+) events", stdout)
    if found is None:
        raise SystemExit(f"no event count in: {stdout!r}")
    return int(found.group(1).replace(",", ""))


def baseline(servers: str, topic: str, count: int) -> float:
    """Seconds for a bare producer to send `count` simulated-size payloads with acks=all."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=servers.split(","),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=512 * 1024,
    )
    payload = (b'{"event_id":"bench:%d","agency":"kota-malang.disdukcapil","service":"ktp-el",'
               b'"case_id":"KTP-EL-%d","step":"verified","occurred_at":"2026-11-27T09:15:00+07:00",'
               b'"seq":2,"officer":{"id":"198702142010011003","role":"operator"},"mode":"backfill",'
               b'"attributes":{}}')  # fmt: skip
    started = time.perf_counter()
    for n in range(count):
        producer.send(
            topic, key=b"kota-malang.disdukcapil|KTP-EL-%d" % (n // 5), value=payload % (n, n // 5)
        )
    producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    env = {
        "PANTAU_TOPIC_PREFIX": f"bench-traffic-{tag}.",
        "PANTAU_CLICKHOUSE": f"clickhouse://default@127.0.0.1:9000/bench_traffic_{tag}",
        "PANTAU_CATALOG": str(REPO / "deploy" / "replay" / "with-wabo"),
        "PANTAU_LOG_LEVEL": "WARNING",
    }
    servers = os.environ.get("PANTAU_KAFKA", "127.0.0.1:9092")
    cases = round(args.events / EVENTS_PER_CASE)
    repeat = max(1, round(args.events / WABO_EVENTS))
    rows: list[tuple[str, int, float]] = []
    subprocess.run(
        [sys.executable, "-m", "pantau.cli", "bootstrap"], env={**os.environ, **env}, check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        seconds = baseline(servers, f"{env['PANTAU_TOPIC_PREFIX']}events", args.events)
        rows.append(("baseline: bare producer, ready payloads", args.events, seconds))
        simulate = ["simulate", "--cases", str(cases), "--seed", "1", "--anomaly-rate", "0.1"]
        seconds, out = run(env, *simulate, "--generate-only")
        rows.append(("simulate: generation only", sent_events(out), seconds))
        seconds, out = run(env, *simulate, "--seed", "2", "--via", "kafka")
        rows.append(("simulate: to Kafka (acks=all)", sent_events(out), seconds))
        replay = ["replay", str(WABO_CSV), "--mapping", "deploy/replay/wabo/mapping.yaml"]
        seconds, _ = run(env, *replay, "--repeat", str(repeat), "--dry-run")
        rows.append(("replay: mapping only", repeat * WABO_EVENTS, seconds))
        seconds, out = run(env, *replay, "--repeat", str(repeat), "--via", "kafka")
        rows.append(("replay: to Kafka (acks=all)", sent_events(out), seconds))
    finally:
        from clickhouse_driver import Client
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=servers.split(","))
        mine = [t for t in admin.list_topics() if t.startswith(env["PANTAU_TOPIC_PREFIX"])]
        if mine:
            admin.delete_topics(mine)
        admin.close()
        Client(host="127.0.0.1").execute(f"DROP DATABASE IF EXISTS bench_traffic_{tag}")
    print(f"\n{'':<42} {'events':>9} {'seconds':>8} {'events/s':>9}")
    for label, events, seconds in rows:
        print(f"{label:<42} {events:>9,} {seconds:>8.1f} {events / seconds:>9,.0f}")
    print("(wall times include process start and catalog loading; replay rows map the log "
          f"{repeat} times as distinct cases)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
