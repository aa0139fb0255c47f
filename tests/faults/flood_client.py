"""One process of a request flood: raw HTTP/1.1 over asyncio sockets, so that several of them
together put thousands of requests on the wire within a fraction of a second.

    python flood_client.py HOST PORT REQUESTS_FILE

REQUESTS_FILE holds one request per line: the raw HTTP request, base64. The process opens one
connection per request (not timed), prints `connected N`, and waits for a line `go T` on stdin
(T: a `time.time()` instant shared by every process of the flood). At T it writes every request
as fast as it can, then reads each answer. It prints one JSON line per request, in the file's
order: `[status, retry_after, seconds, sent_at]`, where `seconds` runs from just before the
request was written to the end of its answer, `sent_at` is that start as `time.time()`, and a
request without an answer (connection refused, reset or closed early, or nothing within the
timeout) has status null.
"""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import sys
import time

TIMEOUT_S = 30.0  # far beyond the 1 s the flood test allows: a slower answer is measured, not lost
CONNECTING_AT_ONCE = 200  # the intake's listen backlog is not the subject of the test


async def _connect(
    host: str, port: int, gate: asyncio.Semaphore
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    async with gate:
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT_S)
        except (OSError, TimeoutError):
            return None


async def _exchange(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None, request: bytes
) -> list[object]:
    sent_at = time.time()
    started = time.perf_counter()
    if connection is None:
        return [None, None, 0.0, sent_at]
    reader, writer = connection
    try:
        writer.write(request)
        async with asyncio.timeout(TIMEOUT_S):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            await reader.readexactly(int(headers.get("content-length", "0")))
        return [status, headers.get("retry-after"), time.perf_counter() - started, sent_at]
    except (OSError, TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError):
        return [None, None, time.perf_counter() - started, sent_at]
    finally:
        writer.close()


async def _flood(host: str, port: int, requests: list[bytes]) -> list[list[object]]:
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    connections = await asyncio.gather(*(_connect(host, port, gate) for _ in requests))
    print(f"connected {sum(c is not None for c in connections)}", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    start_at = float(line.split()[1])
    await asyncio.sleep(max(0.0, start_at - time.time()))
    pairs = zip(connections, requests, strict=True)
    exchanges = [asyncio.ensure_future(_exchange(c, r)) for c, r in pairs]
    return await asyncio.gather(*exchanges)


def main() -> int:
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(path, encoding="ascii") as lines:
        requests = [base64.b64decode(line) for line in lines if line.strip()]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * len(requests))), hard))
    for result in asyncio.run(_flood(host, port, requests)):
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
