"""Sink throughput: `pantau sink` rows/s next to a bulk `clickhouse-client` insert of the same rows.

Starts `pantau sink` on a fresh stack of its own on the local Kafka broker and ClickHouse server,
waits until its consumer group is stable, then publishes N events (PANTAU_BENCH_EVENTS, default
50,000) of 10,000 cases at once (librdkafka, acks=all: a fraction of a second) and times the sink
until every event is stored. Then it exports the stored rows as JSONEachRow and inserts them
again into an empty copy of the table with `clickhouse-client` from stdin: the same rows, the
fastest path ClickHouse has, timed by the server's query log (the client process's start and
connection, about 40 ms, are printed beside it, as the rate it was measured at before). The
stored rows are counted every 20 ms. The sink runs as one process, then (on a second fresh
stack, the same events) as several processes sharing the partitions in one consumer group
(PANTAU_BENCH_SINKS, default 2: one per core of the reference machine). Because the group is
formed before the events arrive, every process works from the first row and no rebalance falls
in the measurement; each rate counts every row, from the first stored to the last. Runs of the
same code a minute apart differ by up to half, so each run is repeated on fresh stacks
(PANTAU_BENCH_ROUNDS, default 3; the one-process and several-process runs alternate) and the
median is shown with the range. Prints the rates; nothing is asserted. Removes its topics and
databases afterwards.

    .venv/bin/python benchmarks/bench_sink.py [--events 50000] [--sinks 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, TypeVar

from clickhouse_driver import Client
from kafka import KafkaAdminClient

from pantau.core.events import Event, event_key
from pantau.provisioning import provision
from pantau.settings import CommonSettings
from pantau_sink.settings import SinkSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from stacks import group_stable, publish_at_once

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


def event_records(events: list[Event]) -> list[tuple[bytes, bytes]]:
    """The events as Kafka records: (key, value), keyed by case as the intake keys them."""
    return [(event_key(e.agency, e.case_id), e.to_json_bytes()) for e in events]


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a running process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid() -> int | None:
    """The local ClickHouse server's pid when `make up`'s script started it here (its pid file),
    else None: a server elsewhere is not measured."""
    found = Path(os.environ.get("PANTAU_LOCAL_DIR", ".local")) / "run" / "clickhouse.pid"
    try:
        pid = int(found.read_text().strip())
        cpu_seconds(pid)
    except (OSError, ValueError):
        return None
    return pid


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# How often the stored rows are counted while the sinks run. The window closes at the first
# count that sees every row, so it closed up to a poll late: at 0.1 s, a sixth of a 50,000-row
# window of two sinks (0.6-0.7 s). A count costs the server about 0.65 ms of CPU, so counting
# every 20 ms takes about 3 % of one of its cores from the sinks.
POLL_SECONDS = 0.02


class Stack:
    """A fresh topic prefix and database on the local servers."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.tag = tag
        self.database = f"pantau_bench_{tag}"
        self.env = {
            "PANTAU_KAFKA": os.environ.get("PANTAU_KAFKA", "127.0.0.1:9092"),
            "PANTAU_TOPIC_PREFIX": f"bench-sink-{tag}.",
            "PANTAU_CLICKHOUSE": f"clickhouse://default@127.0.0.1:9000/{self.database}",
            "PANTAU_SINK_LOAD_STANDARDS": "true",
            "PANTAU_SINK_METRICS_PORT": "0",
        }
        self.settings = CommonSettings(
            kafka=self.env["PANTAU_KAFKA"],
            topic_prefix=self.env["PANTAU_TOPIC_PREFIX"],
            clickhouse=self.env["PANTAU_CLICKHOUSE"],
        )
        provision(self.settings)
        self.client = Client(host="127.0.0.1", port=9000, database=self.database)

    def stored(self) -> int:
        return int(self.client.execute("SELECT count() FROM events")[0][0])

    def group_ready(self, admin: KafkaAdminClient, members: int) -> bool:
        """True when the sink group is stable with `members` members, each holding partitions."""
        return group_stable(admin, self.settings.topics.group("sink"), members)

    def sink_rate(
        self, records: list[tuple[bytes, bytes]], processes: int
    ) -> tuple[float, float, float | None] | None:
        """Rows/s of `processes` sink processes storing the published `records`, their CPU
        seconds per row over the same window, and the local ClickHouse server's (None when it
        is not a server started here).

        The processes start first; once their consumer group is stable with every process
        holding partitions, the records are published at once. The window opens at the first
        stored row and closes at the last.
        """
        count = len(records)
        sinks: list[subprocess.Popen[bytes]] = []
        log = Path(tempfile.gettempdir()) / f"bench-sink-{self.tag}.log"
        admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_servers)
        try:
            with log.open("wb") as out:
                for _ in range(processes):
                    sinks.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "pantau.cli", "sink"],
                            env={**os.environ, **self.env},
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
            deadline = time.monotonic() + 120
            while not self.group_ready(admin, processes):
                if time.monotonic() > deadline or any(s.poll() is not None for s in sinks):
                    print(f"the sink group did not form; see {log}", file=sys.stderr)
                    return None
                time.sleep(0.1)
            seconds = publish_at_once(self.settings.kafka, self.settings.topics.events, records)
            print(f"published {count} events in {seconds:.2f} s to {processes} waiting sink(s)")
            window: tuple[float, int] | None = None
            stored = 0
            cpu_at_start = cpu = server_at_start = 0.0
            server = server_pid()
            deadline = time.monotonic() + 600
            while stored < count and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                stored = self.stored()
                if stored and window is None:
                    window = (time.monotonic(), stored)
                    cpu_at_start = sum(cpu_seconds(sink.pid) for sink in sinks)
                    server_at_start = cpu_seconds(server) if server else 0.0
            finished = time.monotonic()
            cpu = sum(cpu_seconds(sink.pid) for sink in sinks) - cpu_at_start
            server_cpu = cpu_seconds(server) - server_at_start if server else None
        finally:
            admin.close()
            for sink in sinks:
                sink.terminate()
            for sink in sinks:
                sink.wait(timeout=60)
        if stored < count or window is None:
            print(f"sink stored only {stored} of {count} rows; see {log}", file=sys.stderr)
            return None
        rows = count - window[1]
        per_row = None if server_cpu is None else server_cpu / max(rows, 1)
        return rows / max(finished - window[0], 1e-9), cpu / max(rows, 1), per_row

    def _clickhouse_client(
        self,
        query: str,
        stdin: IO[bytes] | None = None,
        stdout: IO[bytes] | None = None,
        options: tuple[str, ...] = (),
    ) -> None:
        """clickhouse-client running `query` on the stack's database."""
        subprocess.run(
            ["clickhouse-client", "--database", self.database, *options, "--query", query],
            stdin=stdin,
            stdout=stdout,
            check=True,
        )

    def bulk_rate(self) -> tuple[float, int, float, float, float]:
        """Rows/s of clickhouse-client inserting the stored rows again, rows, seconds, its CPU
        seconds per row, and the seconds of the client process from start to exit.

        The seconds are the server's duration of the insert (its query log): the client streams
        the rows while the server takes them, so that is the insert. The process adds its start
        and connection, about 40 ms here, an eighth of a 50,000-row insert, which the sink's
        window has no counterpart of (its processes start before the window opens). A server
        that logs no queries gives the process's time.
        """
        exported = Path(tempfile.gettempdir()) / f"bench-sink-{self.tag}.jsonl"
        with exported.open("wb") as out:
            self._clickhouse_client("SELECT * FROM events FORMAT JSONEachRow", stdout=out)
        self.client.execute("CREATE TABLE events_bulk AS events")
        query_id = f"bench-bulk-{self.tag}"
        with exported.open("rb") as rows:
            cpu_before = children_cpu_seconds()
            started = time.monotonic()
            self._clickhouse_client(
                "INSERT INTO events_bulk FORMAT JSONEachRow",
                stdin=rows,
                options=("--query_id", query_id, "--log_queries", "1"),
            )
            process_seconds = time.monotonic() - started
            bulk_cpu = children_cpu_seconds() - cpu_before
        exported.unlink()
        bulk_rows = int(self.client.execute("SELECT count() FROM events_bulk")[0][0])
        self.client.execute("SYSTEM FLUSH LOGS")
        logged = self.client.execute(
            "SELECT query_duration_ms FROM system.query_log "
            "WHERE query_id = %(id)s AND toUInt8(type) = 2",
            {"id": query_id},
        )
        seconds = logged[0][0] / 1000 if logged and logged[0][0] else process_seconds
        return (
            bulk_rows / seconds,
            bulk_rows,
            seconds,
            bulk_cpu / max(bulk_rows, 1),
            process_seconds,
        )

    def remove(self) -> None:
        self.client.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        self.client.disconnect()
        admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_servers)
        prefix = self.settings.topic_prefix
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix)])
        admin.close()


Measured = TypeVar(
    "Measured", tuple[float, float, float | None], tuple[float, int, float, float, float]
)


def median_of(found: list[Measured]) -> Measured:
    """The round with the median rate (the lower of the two middle ones for an even count)."""
    return sorted(found, key=lambda one: one[0])[(len(found) - 1) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        default=int(os.environ.get("PANTAU_BENCH_EVENTS", "50000")),
        help="events published (PANTAU_BENCH_EVENTS; 50,000)",
    )
    parser.add_argument(
        "--sinks",
        type=int,
        default=int(os.environ.get("PANTAU_BENCH_SINKS", "2")),
        help="sink processes of the second run (PANTAU_BENCH_SINKS; 2)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(os.environ.get("PANTAU_BENCH_ROUNDS", "3")),
        help="rounds of each run, each on a fresh stack; the median is shown "
        "(PANTAU_BENCH_ROUNDS; 3)",
    )
    args = parser.parse_args()
    if args.events < 1 or args.sinks < 1 or args.rounds < 1:
        parser.error("--events, --sinks and --rounds must be at least 1")
    count, processes, rounds = args.events, args.sinks, args.rounds
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    events = make_events(count, cases=max(1, count // len(STEPS)))
    records = event_records(events)
    # Runs of the same code a minute apart differ by up to half (the sink then waits more, with
    # the same CPU per row; see BENCHMARKS.md): each figure is the median of its rounds, and
    # the rounds of the one-process and the several-process runs alternate.
    measured: dict[int, list[tuple[float, float, float | None]]] = {
        sinks: [] for sinks in {1, processes}
    }
    bulks: list[tuple[float, int, float, float, float]] = []
    for round_ in range(rounds):
        for sinks in sorted(measured):
            stack = Stack()
            try:
                found = stack.sink_rate(records, sinks)
                if found is None:
                    return 1
                measured[sinks].append(found)
                # Not "rows/s": bench_stack.py reads the summary's figures by that unit.
                print(
                    f"round {round_ + 1} of {rounds}, {sinks} sink(s): {found[0]:,.0f} per second"
                )
                if sinks == processes:
                    bulks.append(stack.bulk_rate())
            finally:
                stack.remove()
    rates = {sinks: median_of(found) for sinks, found in measured.items()}
    bulk_rate, bulk_rows, bulk_seconds, bulk_cpu, process_seconds = median_of(bulks)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    backlog_rows = SinkSettings().sink_backlog_batch_rows
    print(
        "pantau sink (Kafka -> validate -> chain -> INSERT, "
        f"up to {backlog_rows:,} rows per batch):"
    )
    for sinks, (rate, cpu, server_cpu) in sorted(rates.items()):
        label = "1 process" if sinks == 1 else f"{sinks} processes, one consumer group"
        low = min(one[0] for one in measured[sinks])
        high = max(one[0] for one in measured[sinks])
        # The server's share: each insert makes a part at a fixed cost (BENCHMARKS.md).
        server = "" if server_cpu is None else f"; ClickHouse {server_cpu * 1e6:.0f} µs per row"
        print(
            f"  {rate:>10,.0f} rows/s  (median of {rounds}, {low:,.0f} to {high:,.0f}; {count} "
            f"rows, first row to last; {label}; {cpu * 1e6:.0f} µs CPU per row{server})"
        )
    print("clickhouse-client bulk insert of the same rows (JSONEachRow via stdin):")
    low, high = min(b[0] for b in bulks), max(b[0] for b in bulks)
    print(
        f"  {bulk_rate:>10,.0f} rows/s  (median of {rounds}, {low:,.0f} to {high:,.0f}; "
        f"{bulk_rows} rows in {bulk_seconds:.3f} s by the server's query log, "
        f"{bulk_cpu * 1e6:.0f} µs client CPU per row)"
    )
    # As the bulk insert was timed before 6 December 2026: the client process from its start.
    client_rate = statistics.median(b[1] / b[4] for b in bulks)
    print(
        f"  {client_rate:>10,.0f} per second, the same inserts timed from the client's start to "
        f"its exit (median; {process_seconds:.3f} s in the round above)"
    )
    for sinks, (rate, _, _) in rates.items():
        label = "1 process" if sinks == 1 else f"{sinks} processes"
        print(
            f"ratio ({label}): the sink runs at {100 * rate / bulk_rate:.1f}% of the bulk rate "
            f"({100 * rate / client_rate:.1f}% of the client's run)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
