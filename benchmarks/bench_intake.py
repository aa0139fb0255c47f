"""Intake throughput next to a bare FastAPI endpoint, on the real broker, measured in the same run.

The load generator is `wrk` (Debian package `wrk`; installed here with apt-get when missing and
running as root), a C program with a Lua script that builds the POST bodies, so the client costs
little next to the servers it drives. Both servers run as uvicorn processes with the same worker
count and the same HTTP stack:
- baseline: a FastAPI endpoint that reads the same body, parses it (orjson) and answers 202 with
  a reply of the intake's shape, but checks, validates and publishes nothing;
- intake: `pantau intake` (key check, validation against the catalog, NIK pseudonym, Kafka
  acks=all) on a fresh topic prefix of the local broker.
Single-event requests and batches of --batch events are measured separately; every event is
unique (its own event_id and NIK).

    .venv/bin/python benchmarks/bench_intake.py [--seconds 10] [--batch 100] [--threads 2]
        [--connections 32] [--workers 1] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from debian_tools import ensure_tool
from ports import free_port
from stacks import delete_topics, wait_answering

REPO = Path(__file__).resolve().parents[1]
PANTAU = Path(sys.executable).parent / "pantau"
KAFKA = os.environ.get("PANTAU_KAFKA", "127.0.0.1:9092")
KEY = "dev-kota-malang.dpmptsp"

# One valid `submitted` event of the dev catalog per id; the NIK makes the intake compute a
# pseudonym, as it would for most real first steps. `wrk` runs one Lua state per thread; `setup`
# gives each its number so that ids never repeat across threads, rounds or scenarios.
WRK_SCRIPT = r"""
local batch = tonumber(os.getenv("BENCH_BATCH"))
local tag = os.getenv("BENCH_TAG")
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY"),
}
local template = '{"event_id":"kota-malang.dpmptsp:%s:submitted","agency":"kota-malang.dpmptsp",'
  .. '"service":"pbg","case_id":"%s","step":"submitted",'
  .. '"occurred_at":"2026-11-27T09:15:00+07:00","applicant":{"nik":"%016d"},"channel":"online"}'
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local function event()
  counter = counter + 1
  local case = string.format("B-%s-%d-%d", tag, tid, counter)
  return string.format(template, case, case, 3573010000000000 + tid * 100000000 + counter)
end

function request()
  local body
  if batch == 1 then
    body = event()
  else
    local events = {}
    for i = 1, batch do events[i] = event() end
    body = '{"events":[' .. table.concat(events, ",") .. ']}'
  end
  return wrk.format("POST", "/v1/events", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d seconds=%.3f p50_us=%d p99_us=%d non2xx=%d"
    .. " socket_errors=%d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def baseline_app() -> FastAPI:
    """A FastAPI app with the intake's route shape that parses the body and does nothing else."""
    app = FastAPI()

    @app.post("/v1/events", status_code=202)
    async def events(request: Request) -> Response:
        document = orjson.loads(await request.body())
        items = document.get("events", [document])
        reply = {
            "accepted": len(items),
            "results": [{"event_id": item["event_id"], "status": "accepted"} for item in items],
        }
        return Response(orjson.dumps(reply), status_code=202, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_baseline(port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "bench_intake:baseline_app",
        factory=True,
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        server_header=False,
    )


def wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    try:
        wait_answering(f"{base_url}/healthz", process, timeout=60)
    except AssertionError as error:
        raise SystemExit(f"server at {base_url} did not start: {error}") from None


@dataclass
class Result:
    name: str
    requests: int
    events: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int

    def row(self) -> str:
        return (
            f"{self.name:<26} {self.requests:>8} {self.events:>8} {self.seconds:>8.2f} "
            f"{self.requests / self.seconds:>9.0f} {self.events / self.seconds:>10.0f} "
            f"{self.p50_ms:>8.1f} {self.p99_ms:>8.1f} {self.failed:>7}"
        )


def run_wrk(
    wrk: str, script: Path, name: str, url: str, batch: int, args: argparse.Namespace, tag: str
) -> Result:
    env = {**os.environ, "BENCH_BATCH": str(batch), "BENCH_TAG": tag, "BENCH_KEY": KEY}
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.seconds}s",
        "--timeout=10s",
        "-s",
        str(script),
        f"{url}/v1/events",
    ]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH "))
    fields = dict(part.split("=") for part in line.split()[1:])
    requests = int(fields["requests"])
    return Result(
        name,
        requests,
        requests * batch,
        float(fields["seconds"]),
        int(fields["p50_us"]) / 1000,
        int(fields["p99_us"]) / 1000,
        int(fields["non2xx"]) + int(fields["socket_errors"]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="seconds per scenario and round")
    parser.add_argument("--batch", type=int, default=100, help="events per batch request")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes of each server"
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds; the best one is shown")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline, args.workers)
        return 0
    wrk = ensure_tool("wrk")

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
        "PANTAU_INTAKE_WORKERS": str(args.workers),
        "PANTAU_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [str(PANTAU), "bootstrap", "--kafka-only"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    intake_port, baseline_port = free_port(), free_port()
    env["PANTAU_INTAKE_PORT"] = str(intake_port)
    servers = [
        subprocess.Popen([str(PANTAU), "intake"], env=env),
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-baseline",
                str(baseline_port),
                f"--workers={args.workers}",
            ]
        ),
    ]
    intake_url = f"http://127.0.0.1:{intake_port}"
    baseline_url = f"http://127.0.0.1:{baseline_port}"
    best: dict[str, Result] = {}
    scenarios = [
        ("baseline single", baseline_url, 1),
        ("intake single", intake_url, 1),
        (f"baseline batch of {args.batch}", baseline_url, args.batch),
        (f"intake batch of {args.batch}", intake_url, args.batch),
    ]
    try:
        wait_healthy(intake_url, servers[0])
        wait_healthy(baseline_url, servers[1])
        with tempfile.TemporaryDirectory() as folder:
            script = Path(folder) / "events.lua"
            script.write_text(WRK_SCRIPT)
            # A short warm-up: the producer's first connections and metadata are not throughput.
            warm = argparse.Namespace(**{**vars(args), "seconds": 2})
            for url in (intake_url, baseline_url):
                run_wrk(wrk, script, "warm-up", url, 1, warm, f"{tag}w{url[-5:]}")
            # Rounds alternate baseline and intake, so both see the same background load; each
            # scenario reports its best round.
            for round_ in range(args.rounds):
                for n, (name, url, batch) in enumerate(scenarios):
                    result = run_wrk(wrk, script, name, url, batch, args, f"{tag}r{round_}s{n}")
                    if name not in best or result.events > best[name].events:
                        best[name] = result
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        delete_topics(prefix, KAFKA)

    results = [best[name] for name, *_ in scenarios]
    print()
    print(
        f"intake vs bare FastAPI under wrk; {os.cpu_count()} CPUs shared by wrk, servers and "
        f"broker; {args.threads} threads, {args.connections} connections, {args.seconds} s; "
        f"{args.workers} worker(s) each; best of {args.rounds} round(s)"
    )
    print(
        f"{'scenario':<26} {'requests':>8} {'events':>8} {'seconds':>8} {'req/s':>9} "
        f"{'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-202':>7}"
    )
    for result in results:
        print(result.row())
    for kind in ("single", f"batch of {args.batch}"):
        mine, bare = best[f"intake {kind}"], best[f"baseline {kind}"]
        share = 100 * (mine.events / mine.seconds) / (bare.events / bare.seconds)
        print(f"share of bare, {kind}: {share:.0f} %")
    bad = [r.name for r in results if r.failed]
    if bad:
        print(f"non-202 responses or socket errors in: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
