"""Sink throughput: `pantau sink` rows/s next to a bulk `clickhouse-client` insert of the same rows.

Publishes N events (PANTAU_BENCH_EVENTS, default 50,000) of 10,000 cases to a fresh stack of its
own on the local Kafka broker and ClickHouse server, runs `pantau sink` until every event is
stored, then exports the stored rows as JSONEachRow and inserts them again into an empty copy of
the table with `clickhouse-client` from stdin: the same rows, the fastest path ClickHouse has.
Prints both rates; nothing is asserted. Removes its topics and database afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from clickhouse_driver import Client
from kafka import KafkaAdminClient, KafkaProducer

from pantau.bootstrap import bootstrap
from pantau.core.events import Event, event_key
from pantau.settings import CommonSettings

STEPS = [
    ("submitted", None),
    ("verified", ("OP1", "operator")),
    ("biometrics_recorded", ("OP1", "operator")),
    ("printed", ("PR1", "printing_officer")),
    ("handed_over", ("FO1", "front_office")),
]


def make_events(count: int, cases: int) -> list[Event]:
    out = []
    for n in range(count):
        case, seq = n % cases, n // cases + 1
        step, officer = STEPS[(seq - 1) % len(STEPS)]
        document: dict[str, object] = {
            "event_id": f"bench:{case}:{seq}",
            "agency": "kota-malang.disdukcapil",
            "service": "ktp-el",
            "case_id": f"KTP-{case:06d}",
            "step": step,
            "occurred_at": f"2026-11-27T{8 + seq % 10:02d}:{n % 60:02d}:00+07:00",
            "seq": seq,
            "channel": "counter",
            "applicant": {"ref": f"k1:{uuid.uuid5(uuid.NAMESPACE_OID, str(case)).hex}"},
        }
        if officer:
            document["officer"] = {"id": officer[0], "role": officer[1]}
        out.append(Event.model_validate(document))
    return out


def main() -> int:
    count = int(os.environ.get("PANTAU_BENCH_EVENTS", "50000"))
    tag = uuid.uuid4().hex[:8]
    database = f"pantau_bench_{tag}"
    env = {
        "PANTAU_KAFKA": os.environ.get("PANTAU_KAFKA", "127.0.0.1:9092"),
        "PANTAU_TOPIC_PREFIX": f"bench-sink-{tag}.",
        "PANTAU_CLICKHOUSE": f"clickhouse://default@127.0.0.1:9000/{database}",
        "PANTAU_SINK_LOAD_STANDARDS": "true",
    }
    settings = CommonSettings(
        kafka=env["PANTAU_KAFKA"],
        topic_prefix=env["PANTAU_TOPIC_PREFIX"],
        clickhouse=env["PANTAU_CLICKHOUSE"],
    )
    bootstrap(settings)
    client = Client(host="127.0.0.1", port=9000, database=database)
    sink: subprocess.Popen[bytes] | None = None
    try:
        events = make_events(count, cases=max(1, count // len(STEPS)))
        producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all", linger_ms=20)
        started = time.monotonic()
        for event in events:
            producer.send(
                settings.topics.events,
                key=event_key(event.agency, event.case_id),
                value=event.to_json_bytes(),
            )
        producer.flush()
        producer.close()
        print(f"published {count} events to Kafka in {time.monotonic() - started:.1f} s")

        log = Path(tempfile.gettempdir()) / f"bench-sink-{tag}.log"
        with log.open("wb") as out:
            sink = subprocess.Popen(
                [sys.executable, "-m", "pantau.cli", "sink"],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        first_seen: tuple[float, int] | None = None
        stored = 0
        deadline = time.monotonic() + 600
        while stored < count and time.monotonic() < deadline:
            time.sleep(0.1)
            stored = int(client.execute("SELECT count() FROM events")[0][0])
            if stored and first_seen is None:
                first_seen = (time.monotonic(), stored)
        finished = time.monotonic()
        if stored < count or first_seen is None:
            print(f"sink stored only {stored} of {count} rows; see {log}", file=sys.stderr)
            return 1
        sink_rate = (count - first_seen[1]) / max(finished - first_seen[0], 1e-9)

        exported = Path(tempfile.gettempdir()) / f"bench-sink-{tag}.jsonl"
        with exported.open("wb") as out:
            subprocess.run(
                ["clickhouse-client", "--database", database, "--query",
                 "SELECT * FROM events FORMAT JSONEachRow"],
                stdout=out,
                check=True,
            )  # fmt: skip
        client.execute("CREATE TABLE events_bulk AS events")
        with exported.open("rb") as rows:
            started = time.monotonic()
            subprocess.run(
                ["clickhouse-client", "--database", database, "--query",
                 "INSERT INTO events_bulk FORMAT JSONEachRow"],
                stdin=rows,
                check=True,
            )  # fmt: skip
            bulk_seconds = time.monotonic() - started
        bulk_rows = int(client.execute("SELECT count() FROM events_bulk")[0][0])
        exported.unlink()
        print("pantau sink (Kafka -> validate -> chain -> INSERT, up to 10,000 rows per batch):")
        print(f"  {sink_rate:>10,.0f} rows/s  ({count} rows, first row to last)")
        print("clickhouse-client bulk insert of the same rows (JSONEachRow via stdin):")
        bulk_rate = bulk_rows / bulk_seconds
        print(f"  {bulk_rate:>10,.0f} rows/s  ({bulk_rows} rows in {bulk_seconds:.2f} s)")
        print(f"ratio: the sink runs at {100 * sink_rate / bulk_rate:.1f}% of the bulk rate")
        return 0
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait(timeout=60)
        client.execute(f"DROP DATABASE IF EXISTS `{database}`")
        client.disconnect()
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(settings.topic_prefix)])
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
