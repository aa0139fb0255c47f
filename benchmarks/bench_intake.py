"""Intake throughput next to a bare FastAPI endpoint, on the real broker, measured in the same run.

Both servers run as uvicorn processes with the same settings; one async httpx client drives each
with the same bounded concurrency and number of requests:
- baseline: a FastAPI endpoint that answers 202 without reading, validating or publishing;
- intake: `pantau intake` (key check, validation against the catalog, NIK pseudonym, Kafka acks=all)
  on a fresh topic prefix of the local broker.
Single-event requests and batches of --batch events are measured separately.

    .venv/bin/python benchmarks/bench_intake.py [--requests 2000] [--batches 200] [--batch 100]
        [--concurrency 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
PANTAU = Path(sys.executable).parent / "pantau"
KAFKA = os.environ.get("PANTAU_KAFKA", "127.0.0.1:9092")
KEY = "dev-kota-malang.dpmptsp"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_baseline(port: int) -> None:
    """A FastAPI app with the intake's route shape that does no work at all."""
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/v1/events", status_code=202)
    async def events() -> JSONResponse:
        return JSONResponse({"accepted": 0, "results": []}, status_code=202)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", server_header=False)


def wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server at {base_url} exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {base_url} did not start")


def make_event(run: str, n: int) -> dict[str, Any]:
    case = f"BENCH-{run}-{n:08d}"
    return {
        "event_id": f"kota-malang.dpmptsp:{case}:submitted",
        "agency": "kota-malang.dpmptsp",
        "service": "pbg",
        "case_id": case,
        "step": "submitted",
        "occurred_at": "2026-11-27T09:15:00+07:00",
        "applicant": {"nik": f"35730101{n % 100_000_000:08d}"},
        "channel": "online",
    }


@dataclass
class Result:
    name: str
    requests: int
    events: int
    seconds: float
    latencies: list[float]
    failures: dict[int, int]

    def row(self) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        failed = sum(self.failures.values())
        return (
            f"{self.name:<26} {self.requests:>8} {self.events:>8} {self.seconds:>8.2f} "
            f"{self.requests / self.seconds:>9.0f} {self.events / self.seconds:>10.0f} "
            f"{p50:>8.1f} {p99:>8.1f} {failed:>7}"
        )


async def drive(
    name: str, base_url: str, bodies: list[bytes], events_per_request: int, concurrency: int
) -> Result:
    """POST every body with at most `concurrency` requests in flight; time the whole run."""
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    latencies: list[float] = []
    failures: dict[int, int] = {}
    queue = list(reversed(bodies))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                response = await client.post("/v1/events", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 202:
                    failures[response.status_code] = failures.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Result(name, len(bodies), len(bodies) * events_per_request, seconds, latencies, failures)


def bodies(run: str, requests: int, per_request: int) -> list[bytes]:
    import json

    out = []
    for r in range(requests):
        events = [make_event(run, r * per_request + i) for i in range(per_request)]
        body: Any = events[0] if per_request == 1 else {"events": events}
        out.append(json.dumps(body).encode())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="single-event requests")
    parser.add_argument("--batch", type=int, default=100, help="events per batch request")
    parser.add_argument("--batches", type=int, default=200, help="batch requests")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the best one is shown")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0

    tag = uuid.uuid4().hex[:8]
    prefix = f"bench-intake-{tag}."
    env = {
        **os.environ,
        "PANTAU_KAFKA": KAFKA,
        "PANTAU_TOPIC_PREFIX": prefix,
        "PANTAU_API_KEYS": str(REPO / "deploy" / "dev-api-keys.yaml"),
        "PANTAU_PSEUDONYM_KEY": "benchmark-only-pseudonym-key",
        "PANTAU_INTAKE_RATE": "1e9",
        "PANTAU_INTAKE_BURST": "1000000000",
        "PANTAU_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [str(PANTAU), "bootstrap", "--kafka-only"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    intake_port, baseline_port = free_port(), free_port()
    env["PANTAU_INTAKE_PORT"] = str(intake_port)
    servers = [
        subprocess.Popen([str(PANTAU), "intake"], env=env),
        subprocess.Popen([sys.executable, __file__, "--serve-baseline", str(baseline_port)]),
    ]
    intake_url = f"http://127.0.0.1:{intake_port}"
    baseline_url = f"http://127.0.0.1:{baseline_port}"
    try:
        wait_healthy(intake_url, servers[0])
        wait_healthy(baseline_url, servers[1])
        singles, batches = args.requests, args.batches
        # A short warm-up: the producer's first connection and metadata are not throughput.
        for url in (intake_url, baseline_url):
            asyncio.run(drive("warm-up", url, bodies(f"{tag}w{url[-5:]}", 100, 1), 1, 8))
        scenarios = [
            ("baseline single", baseline_url, singles, 1),
            ("intake single", intake_url, singles, 1),
            (f"baseline batch of {args.batch}", baseline_url, batches, args.batch),
            (f"intake batch of {args.batch}", intake_url, batches, args.batch),
        ]
        # Rounds alternate baseline and intake, so both see the same background load; each
        # scenario reports its best round. Every intake event is unique (a fresh event_id).
        best: dict[str, Result] = {}
        for round_ in range(args.rounds):
            for n, (name, url, requests, per_request) in enumerate(scenarios):
                run = f"{tag}r{round_}s{n}"
                result = asyncio.run(
                    drive(
                        name, url, bodies(run, requests, per_request), per_request, args.concurrency
                    )
                )
                if name not in best or result.seconds < best[name].seconds:
                    best[name] = result
        results = [best[name] for name, *_ in scenarios]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        _delete_topics(prefix)

    print()
    print(
        f"intake vs bare FastAPI; {os.cpu_count()} CPUs shared by client, servers and broker; "
        f"concurrency {args.concurrency}; best of {args.rounds} rounds"
    )
    print(
        f"{'scenario':<26} {'requests':>8} {'events':>8} {'seconds':>8} {'req/s':>9} "
        f"{'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-202':>7}"
    )
    for result in results:
        print(result.row())
    bad = {name: r.failures for r in results if r.failures for name in [r.name]}
    if bad:
        print(f"non-202 responses: {bad}")
        return 1
    return 0


def _delete_topics(prefix: str) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
