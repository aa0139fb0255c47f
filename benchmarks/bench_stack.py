"""The whole stack on this machine, every figure next to a baseline measured in the same run.

1. Components: runs bench_intake.py, bench_tracker.py and bench_sink.py (each on a stack of its
   own) at sizes scaled by PANTAU_BENCH_SCALE and collects their figures and baselines.
2. End-to-end latency: `pantau intake` and `pantau tracker` on a fresh topic prefix; single-event
   POSTs at a steady offered load (open loop), each event dated two hours ahead so the tracker
   raises `time.future` on it; latency runs from the 202 to the alert read from the alerts topic.
   Offered loads: 200 and 1,000 events/s, then 80% of the most the stack delivered at either,
   and 80% of that again until the stack keeps up (the sustained rate). The
   baseline is the broker round trip (produce with acks=all, then consume) of the same records.
3. Tracker memory per open case: RSS of a case tracker (`PANTAU_TRACKER_ROLE=cases`) before and
   after it took N `submitted` events (N open cases), divided by N; RocksDB size on disk beside it.
4. Recovery: the same tracker with its N open cases is killed with SIGKILL and restarted on the
   same state folder; time to ready and to the alert of a probe event published at the restart.
   The baseline is the restart of a tracker with no cases.

Writes test-artifacts/bench.json and test-artifacts/bench-latency.png; prints a table.

    PANTAU_BENCH_SCALE=1 .venv/bin/python benchmarks/bench_stack.py
    (PANTAU_BENCH_SCALE=0.1 for a quick run; PANTAU_BENCH_OPEN_CASES overrides N;
    `--recovery-only` measures part 4 alone, e.g. with 1,000,000 open cases: make bench-recovery;
    `--latency-only` part 2 alone)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from http_load import Pool, ResponseError, post_request
from pantau.settings import TopicNames
from ports import free_port
from stacks import KAFKA, wait_answering
from tracker_harness import (
    TrackerProcess,
    consumer_lag,
    fresh_topics,
    publish,
)

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PANTAU = Path(PYTHON).parent / "pantau"
ARTIFACTS = REPO / "test-artifacts"
SCALE = float(os.environ.get("PANTAU_BENCH_SCALE", "1"))
KEY = "dev-kota-malang.dpmptsp"
AGENCY = "kota-malang.dpmptsp"


def scaled(value: int, floor: int) -> int:
    return max(floor, int(value * SCALE))


def say(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


# --- 1. component benchmarks -------------------------------------------------------------------


def run_script(args: list[str], env: dict[str, str] | None = None) -> str:
    say(f"running {' '.join(args)}")
    done = subprocess.run(
        [PYTHON, *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{args[0]} failed with {done.returncode}")
    return done.stdout


def number(text: str) -> float:
    return float(text.replace(",", ""))


# The rows of `bench_tracker.py` and the keys they are kept under.
TRACKER_ROWS = {
    "bare aiokafka + Event.from_json_bytes": "bare_consumer_events_per_s",
    "pantau tracker, contract rules only": "tracker_contract_rules_only_events_per_s",
    "pantau tracker (Faust, RocksDB, all rules)": "tracker_events_per_s",
    "pantau tracker, cases + rules workers": "tracker_split_workers_events_per_s",
    "pantau tracker, two workers on 12 partitions": "tracker_two_workers_events_per_s",
    "pantau tracker, contract rules, two workers": (
        "tracker_contract_rules_two_workers_events_per_s"
    ),
}


def whole(tracker: dict[str, Any], key: str) -> str:
    """A tracker run's events/s from its first record, start-up and rebalances included."""
    rate = tracker.get(key.replace("_events_per_s", "_whole_events_per_s"))
    return f"{rate:,.0f}" if rate is not None else "?"


def tracker_figures(text: str) -> dict[str, Any]:
    """The events/s of each row of `bench_tracker.py`'s table, under `TRACKER_ROWS` keys; a
    tracker run's rate from its first record under the same key with `_whole`."""
    tracker: dict[str, Any] = {}
    for line in text.splitlines():
        # A row is its label padded to 48 characters, then the figures: the bare consumer's
        # events, seconds and events/s; a tracker run's also the rate from its first record.
        key = TRACKER_ROWS.get(line[:48].rstrip())
        figures = line[48:].split()
        if key == "bare_consumer_events_per_s" and len(figures) == 3:
            tracker[key] = number(figures[2])
        elif key and len(figures) == 4:
            tracker[key] = number(figures[2])
            tracker[key.replace("_events_per_s", "_whole_events_per_s")] = number(figures[3])
    return tracker


def components() -> dict[str, Any]:
    out: dict[str, Any] = {}
    text = run_script(["benchmarks/bench_intake.py", f"--seconds={scaled(10, 3)}", "--rounds=1"])
    rows = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 8 and fields[0] in ("baseline", "intake") and fields[-1].isdigit():
            rows[" ".join(fields[:-8])] = [number(f) for f in fields[-8:]]
    out["intake"] = {
        name: {"events_per_s": row[4], "p50_ms": row[5], "p99_ms": row[6], "events": row[1]}
        for name, row in rows.items()
    }

    # Five tracker runs (rules off, on, cases + rules workers, two workers with every rule and
    # with the contract rules only): 50,000 events each, as `make bench-tracker`. With 20,000
    # a run lasted 4 to 8 s, and its first batches and first case state weighed on the rates.
    events = scaled(50_000, 5000)
    text = run_script(["benchmarks/bench_tracker.py", f"--events={events}"])
    tracker = tracker_figures(text)
    tracker["events"] = events
    out["tracker"] = tracker

    rows_n = scaled(50_000, 5000)
    text = run_script(["benchmarks/bench_sink.py"], {"PANTAU_BENCH_EVENTS": str(rows_n)})
    rates = [number(m) for m in re.findall(r"([\d,]+) rows/s", text)]
    # one sink process, then several in one consumer group, then the bulk insert
    out["sink"] = {
        "sink_rows_per_s": rates[0],
        "sink_processes_rows_per_s": rates[1] if len(rates) > 2 else None,
        "bulk_insert_rows_per_s": rates[-1],
        "rows": rows_n,
    }
    return out


# --- 2. end-to-end latency ---------------------------------------------------------------------


def future_event(case_id: str) -> dict[str, Any]:
    """A first event dated two hours ahead: the tracker answers with one `time.future` alert."""
    return {
        "event_id": f"{AGENCY}:{case_id}:submitted",
        "agency": AGENCY,
        "service": "pbg",
        "case_id": case_id,
        "step": "submitted",
        "occurred_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        "channel": "online",
        "applicant": {"ref": "k1:3f9a"},
    }


class AlertWatch:
    """Reads the alerts topic and notes when each case's first alert arrived (wall clock)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.seen: dict[str, float] = {}
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=KAFKA,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
        )

    async def run(self) -> None:
        await self.consumer.start()
        try:
            while True:
                batches = await self.consumer.getmany(timeout_ms=50)
                now = time.time()
                for records in batches.values():
                    for record in records:
                        case = orjson.loads(record.value)["case_id"]
                        self.seen.setdefault(case, now)
        finally:
            await self.consumer.stop()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


async def offered_load(
    intake_url: str, watch: AlertWatch, rate: float, seconds: float, label: str
) -> dict[str, Any]:
    """POST one event every 1/rate s for `seconds` s; latency from each 202 to its alert.

    The requests go out on up to 128 keep-alive connections of `http_load.Pool`, a client that
    costs a fraction of a millisecond of CPU per request (httpx cost 7.5 ms here, so at 1,000
    requests/s the load generator saturated its own core and the stack never saw the load).
    Requests beyond the connections wait for one to come free.
    """
    url = urlsplit(intake_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    accepted: dict[str, float] = {}
    failures = 0
    total = int(rate * seconds)
    pool = Pool(host, port, size=128)

    async def post(case: str) -> None:
        nonlocal failures
        payload = post_request(host, "/v1/events", headers, orjson.dumps(future_event(case)))
        try:
            status = await pool.request(payload)
        except (OSError, ResponseError):
            failures += 1
            return
        if status == 202:
            accepted[case] = time.time()
        else:
            failures += 1

    tasks = []
    started = time.monotonic()
    cpu_before = time.process_time()
    try:
        for n in range(total):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(f"LAT-{label}-{n:07d}")))
        await asyncio.gather(*tasks)
    finally:
        pool.close()
    send_seconds = time.monotonic() - started
    # The load generator's own CPU (with the alert reader, same process): it must stay far
    # below a core for the offered load to be what the stack sees.
    client_cpu_s = time.process_time() - cpu_before
    # Alerts still in flight when the last 202 came back: give them time to arrive.
    deadline = time.monotonic() + 30 + seconds
    while time.monotonic() < deadline:
        if all(c in watch.seen for c in accepted):
            break
        await asyncio.sleep(0.2)
    latencies = [watch.seen[c] - t for c, t in accepted.items() if c in watch.seen]
    first = min(accepted.values(), default=0.0)
    last_alert = max((watch.seen[c] for c in accepted if c in watch.seen), default=first)
    delivered = len(latencies)
    return {
        "offered_events_per_s": rate,
        "seconds": seconds,
        "sent": total,
        "accepted": len(accepted),
        "failed": failures,
        "accepted_events_per_s": len(accepted) / send_seconds,
        "client_cpu_ms_per_request": client_cpu_s * 1000 / max(total, 1),
        "alerts": delivered,
        "alerts_per_s": delivered / max(last_alert - first, 1e-9),
        **percentiles(latencies),
    }


async def broker_round_trip(topic: str, count: int, rate: float) -> dict[str, Any]:
    """Baseline: produce (acks=all) and consume the same kind of record, no HTTP, no tracker."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=KAFKA,
        auto_offset_reset="latest",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    await producer.start()
    await consumer.start()
    sent: dict[bytes, float] = {}
    got: dict[bytes, float] = {}

    async def read() -> None:
        while len(got) < count:
            for records in (await consumer.getmany(timeout_ms=50)).values():
                for record in records:
                    got.setdefault(record.key, time.time())

    try:
        await consumer.seek_to_end()
        reader = asyncio.create_task(read())
        started = time.monotonic()
        for n in range(count):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            key = f"rt-{n}".encode()
            await producer.send_and_wait(topic, json.dumps(future_event("RT")).encode(), key=key)
            sent[key] = time.time()
        await asyncio.wait_for(reader, timeout=30)
    finally:
        await producer.stop()
        await consumer.stop()
    return {
        "offered_events_per_s": rate,
        "records": count,
        **percentiles([got[k] - t for k, t in sent.items() if k in got]),
    }


def start_intake(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    intake_env = {
        **os.environ,
        **env,
        "PANTAU_API_KEYS": str(REPO / "deploy" / "dev-api-keys.yaml"),
        "PANTAU_PSEUDONYM_KEY": "benchmark-only-pseudonym-key",
        "PANTAU_INTAKE_RATE": "1e9",
        "PANTAU_INTAKE_BURST": "1000000000",
        "PANTAU_LOG_LEVEL": "WARNING",
        "PANTAU_INTAKE_PORT": str(port),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(PANTAU), "intake"], env=intake_env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    try:
        wait_answering(url, process, timeout)
    except AssertionError as error:
        raise SystemExit(str(error)) from None


SUSTAINED_TRIES = 4
KEEPS_UP = 0.95


def keeps_up(run: dict[str, Any]) -> bool:
    """Whether the stack kept up with an offered load: every request got its 202 and every
    alert came, at no less than 95% of the offered rate counted from the first 202 to the last
    alert. Over a 10 s load that allows alerts about half a second behind their requests
    throughout; a backlog that grows through the run fails it.
    """
    offered = float(run["offered_events_per_s"])
    return bool(
        run["alerts"] == run["sent"]
        and run["accepted_events_per_s"] >= KEEPS_UP * offered
        and run["alerts_per_s"] >= KEEPS_UP * offered
    )


def latency(tracker_events_per_s: float, intake_events_per_s: float) -> dict[str, Any]:
    seconds = max(5.0, 10 * min(1.0, SCALE))
    with fresh_topics() as env, tempfile.TemporaryDirectory() as folder:
        names = TopicNames(env["PANTAU_TOPIC_PREFIX"])
        port = free_port()
        intake = start_intake(env, port, Path(folder) / "intake.log")
        tracker = TrackerProcess(env, Path(folder) / "state", Path(folder) / "tracker.log")
        tracker.start()
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", intake)
            tracker.wait_ready()

            async def levels() -> dict[str, Any]:
                watch = AlertWatch(names.alerts)
                reader = asyncio.create_task(watch.run())
                url = f"http://127.0.0.1:{port}"
                try:
                    say("warming up: 50 events")
                    await offered_load(url, watch, 50, 1, "warm")
                    runs = []
                    for rate in (200.0, 1000.0):
                        say(f"offered load {rate:.0f} events/s for {seconds:.0f} s")
                        runs.append(await offered_load(url, watch, rate, seconds, f"r{rate:.0f}"))
                    # An upper bound: the most the stack delivered at either load (overload can
                    # deliver less than a lighter load: requests pile up), within the component
                    # rates measured above. The overload run's alert rate includes the drain after
                    # its requests stopped, when the tracker had the intake's and the client's CPU
                    # too, so the stack may not keep up with it; the sustained rate is found by
                    # offering 80% of it, then 80% of that, until the stack keeps up.
                    bound = min(
                        max(min(r["alerts_per_s"], r["accepted_events_per_s"]) for r in runs),
                        tracker_events_per_s,
                        intake_events_per_s,
                    )
                    rate = round(0.8 * bound)
                    sustained = None
                    for _ in range(SUSTAINED_TRIES):
                        say(f"offered load {rate} events/s (looking for the sustained rate)")
                        run = await offered_load(url, watch, rate, seconds, f"s{rate}")
                        runs.append(run)
                        if keeps_up(run):
                            sustained = rate
                            break
                        rate = round(0.8 * rate)
                    say("baseline: broker round trip at 200 events/s")
                    base = await broker_round_trip(names.dlq, int(200 * seconds), 200)
                    return {
                        "saturation_events_per_s": bound,
                        "sustained_events_per_s": sustained,
                        "runs": runs,
                        "baseline": base,
                    }
                finally:
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)

            return asyncio.run(levels())
        finally:
            tracker.stop()
            intake.terminate()
            intake.wait(timeout=30)


# --- 3 and 4. memory per open case, recovery after kill -9 -------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def open_case_events(count: int, tag: str) -> list[dict[str, Any]]:
    start = datetime.now(UTC) - timedelta(hours=1)
    return [
        {
            "event_id": f"{AGENCY}:OPEN-{tag}-{n:07d}:submitted",
            "agency": AGENCY,
            "service": "pbg",
            "case_id": f"OPEN-{tag}-{n:07d}",
            "step": "submitted",
            "occurred_at": (start + timedelta(milliseconds=n)).isoformat(),
            "seq": 1,
            "channel": "online",
            "applicant": {"ref": "k1:3f9a"},
        }
        for n in range(count)
    ]


def caught_up(group: str, topic: str, timeout: float) -> float:
    started = time.monotonic()
    while consumer_lag(group, topic) > 0:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{group} did not catch up in {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - started


def restart_timing(tracker: TrackerProcess, names: TopicNames, probe: str) -> dict[str, float]:
    """Kill -9, restart on the same state; seconds to ready and to the probe event's alert."""
    assert tracker.process is not None
    tracker.kill()
    killed = time.monotonic()
    tracker.start()
    publish([future_event(probe)], names.events)
    tracker.wait_ready(timeout=600)
    ready = time.monotonic() - killed

    async def alert() -> float:
        watch = AlertWatch(names.alerts)
        reader = asyncio.create_task(watch.run())
        try:
            while probe not in watch.seen:
                if time.monotonic() - killed > 900:
                    raise SystemExit("no alert for the probe event after the restart")
                await asyncio.sleep(0.1)
            return time.monotonic() - killed
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    return {"ready_s": ready, "first_alert_s": asyncio.run(alert())}


def memory_and_recovery(open_cases: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    with fresh_topics() as env, tempfile.TemporaryDirectory() as folder:
        names = TopicNames(env["PANTAU_TOPIC_PREFIX"])
        state = Path(folder) / "state"
        # The case tracker alone (`cases` role): its memory grows with open cases, while the
        # stateful rules' tables are bounded per service, officer and representative. Their
        # hand-overs wait on the topic; a `rules` worker would take them on its own core.
        cases = {**env, "PANTAU_TRACKER_ROLE": "cases"}
        tracker = TrackerProcess(cases, state, Path(folder) / "tracker.log")
        tracker.start()
        try:
            tracker.wait_ready()
            say("baseline: kill -9 and restart with no cases")
            empty = restart_timing(tracker, names, f"PROBE-{tag}-0")
            time.sleep(3)
            assert tracker.process is not None
            before = rss_bytes(tracker.process.pid)
            say(f"publishing {open_cases} open cases")
            publish(open_case_events(open_cases, tag), names.events)
            load_s = caught_up(names.group("tracker"), names.events, max(900, open_cases / 200))
            time.sleep(3)
            after = rss_bytes(tracker.process.pid)
            disk = folder_bytes(state)
            say(f"tracker holds {open_cases} open cases; kill -9 and restart")
            loaded = restart_timing(tracker, names, f"PROBE-{tag}-1")
            time.sleep(2)
            after_restart = rss_bytes(tracker.process.pid)
        finally:
            tracker.stop()
    return {
        "open_cases": open_cases,
        "load_seconds": load_s,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "rss_after_restart_bytes": after_restart,
        "bytes_per_open_case": (after - before) / open_cases,
        "rocksdb_bytes_per_open_case": disk / open_cases,
        "recovery_empty": empty,
        "recovery_loaded": loaded,
    }


# --- machine, table, plot ----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )

    def version(command: list[str]) -> str:
        try:
            return subprocess.run(
                command, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except OSError:
            return "unknown"

    kafka = "unknown"
    jars = list((REPO / ".local").rglob("kafka-clients-*.jar")) + list(
        (REPO / ".local").rglob("kafka_*.jar")
    )
    if jars:
        kafka = jars[0].name
    return {
        "nproc": os.cpu_count(),
        "memory_bytes": memory,
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "kafka": kafka,
        "clickhouse": version(["clickhouse-client", "--query", "SELECT version()"]),
        "scale": SCALE,
        "load_average": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def table(results: dict[str, Any]) -> str:
    lines = []

    def row(figure: str, value: str, baseline: str) -> None:
        lines.append(f"{figure:<46} {value:>22}   {baseline}")

    row("figure", "pantau", "baseline (same run)")
    if "components" in results:  # absent from a recovery-only run
        intake = results["components"]["intake"]
        for kind in ("single", "batch of 100"):
            mine, base = intake.get(f"intake {kind}"), intake.get(f"baseline {kind}")
            if mine and base:
                row(
                    f"intake events/s, {kind}",
                    f"{mine['events_per_s']:,.0f}",
                    f"bare FastAPI {base['events_per_s']:,.0f}",
                )
        tracker = results["components"]["tracker"]
        row(
            "tracker events/s (all 20 rules, RocksDB)",
            f"{tracker['tracker_events_per_s']:,.0f}",
            f"bare decoding consumer {tracker['bare_consumer_events_per_s']:,.0f}",
        )
        for label, key, note in (
            ("cross-case rules off", "tracker_contract_rules_only_events_per_s", "same events"),
            ("cases + rules workers", "tracker_split_workers_events_per_s", "two processes"),
            ("two workers", "tracker_two_workers_events_per_s", "two sharing 12 partitions"),
            ("two workers, rules off", "tracker_contract_rules_two_workers_events_per_s",
             "two sharing 12 partitions"),
        ):  # fmt: skip
            row(
                f"tracker events/s, {label}",
                f"{tracker[key]:,.0f}",
                f"({note}; {whole(tracker, key)} from the first record)",
            )
        sink = results["components"]["sink"]
        row(
            "sink rows/s",
            f"{sink['sink_rows_per_s']:,.0f}",
            f"clickhouse-client bulk insert {sink['bulk_insert_rows_per_s']:,.0f}",
        )
        if sink.get("sink_processes_rows_per_s"):
            row(
                "sink rows/s, two processes",
                f"{sink['sink_processes_rows_per_s']:,.0f}",
                "(one consumer group sharing the partitions)",
            )
    if "latency" in results:  # absent from a recovery-only run
        lat = results["latency"]
        base = lat["baseline"]
        for run in lat["runs"]:
            row(
                f"202 -> alert ms at {run['offered_events_per_s']:,.0f} ev/s offered",
                f"{run['p50_ms']:.0f} / {run['p95_ms']:.0f} / {run['p99_ms']:.0f}",
                f"p50/p95/p99; 202s {run['accepted_events_per_s']:,.0f}/s, "
                f"alerts {run['alerts_per_s']:,.0f}/s, {run['alerts']}/{run['sent']} alerted, "
                f"client {run['client_cpu_ms_per_request']:.2f} ms CPU/request",
            )
        row(
            "broker round trip ms (baseline of latency)",
            f"{base['p50_ms']:.1f} / {base['p95_ms']:.1f} / {base['p99_ms']:.1f}",
            "p50/p95/p99 produce acks=all -> consume, 200/s",
        )
        kept = lat.get("sustained_events_per_s")
        tried = [r["offered_events_per_s"] for r in lat["runs"][2:]]
        row(
            "end-to-end sustained events/s",
            f"{kept:,.0f}" if kept else f"< {min(tried):,.0f}",
            "the highest load kept up with of " + ", ".join(f"{t:,.0f}" for t in tried),
        )
        row(
            "end-to-end upper bound events/s",
            f"{lat['saturation_events_per_s']:,.0f}",
            "alerts/s at overload, drain included; capped by the component rates",
        )
    if "memory" not in results:  # a latency-only run
        return "\n".join(lines)
    mem = results["memory"]
    row(
        f"tracker RSS per open case ({mem['open_cases']:,} cases)",
        f"{mem['bytes_per_open_case']:,.0f} B",
        f"RSS {mem['rss_before_bytes'] / 2**20:.0f} -> {mem['rss_after_bytes'] / 2**20:.0f} MiB;"
        f" RocksDB on disk {mem['rocksdb_bytes_per_open_case']:,.0f} B/case",
    )
    row(
        f"recovery after kill -9, {mem['open_cases']:,} open cases",
        f"{mem['recovery_loaded']['ready_s']:.1f} s ready, "
        f"{mem['recovery_loaded']['first_alert_s']:.1f} s alert",
        f"empty tracker {mem['recovery_empty']['ready_s']:.1f} s ready, "
        f"{mem['recovery_empty']['first_alert_s']:.1f} s alert",
    )
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(results["latency"]["runs"], key=lambda r: r["offered_events_per_s"])
    loads = [r["offered_events_per_s"] for r in runs]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        axes.plot(loads, [r[key] for r in runs], marker="o", label=label)
    axes.axhline(
        results["latency"]["baseline"]["p99_ms"], linestyle=":", color="grey",
        label="broker round trip p99",
    )  # fmt: skip
    axes.set_xlabel("offered load (events/s, single-event POSTs)")
    axes.set_ylabel("202 -> alert on the alerts topic (ms)")
    axes.set_yscale("log")
    axes.set_title(f"Pantau end-to-end latency, {os.cpu_count()} CPUs shared with Kafka")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def latency_alone() -> int:
    """`--latency-only`: part 2 alone, its saturation not capped by component rates."""
    started = time.monotonic()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    results = latency(float("inf"), float("inf"))
    print()
    print(f"end-to-end latency alone, {time.monotonic() - started:.0f} s, load average {load}")
    print(table({"latency": results}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Sizes: PANTAU_BENCH_SCALE (1.0; 0.1 for a quick run), PANTAU_BENCH_OPEN_CASES.",
    )
    part = parser.add_mutually_exclusive_group()
    part.add_argument(
        "--latency-only", action="store_true", help="the 202 -> alert latency alone (part 2)"
    )
    part.add_argument(
        "--recovery-only",
        action="store_true",
        help="memory and recovery after kill -9 alone (parts 3 and 4)",
    )
    args = parser.parse_args()
    if args.latency_only:
        return latency_alone()
    recovery_only = args.recovery_only
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "started_at": datetime.now(UTC).isoformat()}
    if not recovery_only:
        results["components"] = components()
        intake_single = results["components"]["intake"]["intake single"]["events_per_s"]
        tracker_rate = results["components"]["tracker"]["tracker_events_per_s"]
        results["latency"] = latency(tracker_rate, intake_single)
    open_cases = int(os.environ.get("PANTAU_BENCH_OPEN_CASES", str(scaled(200_000, 5000))))
    results["memory"] = memory_and_recovery(open_cases)
    results["total_seconds"] = time.monotonic() - started
    # Other work on the machine skews every figure; the load average says how much there was.
    results["load_average_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    ARTIFACTS.mkdir(exist_ok=True)
    if recovery_only:
        (ARTIFACTS / "bench-recovery.json").write_text(json.dumps(results, indent=2))
    else:
        (ARTIFACTS / "bench.json").write_text(json.dumps(results, indent=2))
        plot(results, ARTIFACTS / "bench-latency.png")
    print()
    print(
        f"Pantau stack benchmark: {results['machine']['nproc']} CPUs "
        f"({results['machine']['cpu']}), scale {SCALE}, {results['total_seconds']:.0f} s, "
        f"load average at the start {results['machine']['load_average']}, "
        f"at the end {' '.join(results['load_average_at_end'])}"
    )
    print(table(results))
    load_rate = open_cases / results["memory"]["load_seconds"]
    million_s = 1_000_000 / load_rate
    print(
        f"the case tracker loaded {open_cases:,} open cases at {load_rate:,.0f}/s"
        + (
            f"; 1,000,000 would take {million_s / 60:.0f} minutes to load"
            + (" (over the 15-minute budget: make bench-recovery)" if million_s > 900 else "")
            if open_cases < 1_000_000
            else ""
        )
    )
    if not recovery_only:
        print(f"figures: {ARTIFACTS / 'bench.json'}; plot: {ARTIFACTS / 'bench-latency.png'}")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanups on `kill`
    shutil.which("clickhouse-client") or sys.exit("clickhouse-client is not on PATH")
    sys.exit(main())
