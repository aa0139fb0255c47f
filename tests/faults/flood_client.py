"""One process of a request flood: raw HTTP/1.1 over uvloop sockets, so that several of them
together put thousands of requests on the wire within a fraction of a second.

    python flood_client.py HOST PORT REQUESTS_FILE

REQUESTS_FILE holds one request per line: the raw HTTP request, base64. The process opens one
connection per request (not timed), prints `connected N`, and waits for a line `go T` on stdin
(T: a `time.time()` instant shared by every process of the flood). At T it writes every request
in one pass, then collects each answer as it arrives. It prints one JSON line per request, in
the file's order: `[status, retry_after, seconds, sent_at]`, where `seconds` runs from just
before the request was written to the end of its answer, `sent_at` is that start as
`time.time()`, and a request without an answer (connection refused, reset or closed early, or
nothing within the timeout) has status null.
"""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import sys
import time
from typing import Any

import uvloop

TIMEOUT_S = 30.0  # far beyond the 1 s the flood test allows: a slower answer is measured, not lost
CONNECTING_AT_ONCE = 200  # the intake's listen backlog is not the subject of the test


class _Exchange(asyncio.Protocol):
    """One connection, one request, one answer (parsed just enough: status, Retry-After and a
    Content-Length body)."""

    def __init__(self) -> None:
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.answered: asyncio.Future[list[object]] = asyncio.get_running_loop().create_future()
        self.buffer = b""
        self.started = 0.0
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self.sent_at = time.time()
        self.started = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.answered.done():
            return
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if len(self.buffer) - end - 4 < int(headers.get("content-length", "0")):
            return
        status = int(lines[0].split(" ", 2)[1])
        seconds = time.perf_counter() - self.started
        self.answered.set_result([status, headers.get("retry-after"), seconds, self.sent_at])
        assert self.transport is not None
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            seconds = time.perf_counter() - self.started if self.started else 0.0
            self.answered.set_result([None, None, seconds, self.sent_at])


async def _connect(host: str, port: int, gate: asyncio.Semaphore) -> _Exchange | None:
    loop = asyncio.get_running_loop()
    async with gate:
        try:
            _, exchange = await asyncio.wait_for(
                loop.create_connection(_Exchange, host, port), TIMEOUT_S
            )
        except (OSError, TimeoutError):
            return None
    return exchange


async def _flood(host: str, port: int, requests: list[bytes]) -> list[list[object]]:
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    exchanges = await asyncio.gather(*(_connect(host, port, gate) for _ in requests))
    print(f"connected {sum(e is not None for e in exchanges)}", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    start_at = float(line.split()[1])
    await asyncio.sleep(max(0.0, start_at - time.time()))
    for exchange, request in zip(exchanges, requests, strict=True):
        if exchange is not None:
            exchange.send(request)
    deadline = time.monotonic() + TIMEOUT_S
    results: list[list[object]] = []
    for exchange in exchanges:
        if exchange is None:
            results.append([None, None, 0.0, time.time()])
            continue
        left = max(0.0, deadline - time.monotonic())
        try:
            results.append(await asyncio.wait_for(asyncio.shield(exchange.answered), left))
        except TimeoutError:
            results.append([None, None, TIMEOUT_S, exchange.sent_at])
    return results


def main() -> int:
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(path, encoding="ascii") as lines:
        requests = [base64.b64decode(line) for line in lines if line.strip()]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * len(requests))), hard))
    for result in uvloop.run(_flood(host, port, requests)):
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
