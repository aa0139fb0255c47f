"""The latency run's HTTP client: it reads each answer whole, keeps connections alive, and says
what it cannot read instead of guessing."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from http_load import Pool, ResponseError, parse_response, post_request

ANSWER = b"HTTP/1.1 202 Accepted\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello"


def test_a_whole_answer_is_read_with_its_body() -> None:
    assert parse_response(ANSWER) == (202, len(ANSWER))
    assert parse_response(ANSWER + b"HTTP/1.1") == (202, len(ANSWER))


@pytest.mark.parametrize("cut", [1, 20, ANSWER.index(b"\r\n\r\n") + 2, len(ANSWER) - 1])
def test_a_partial_answer_waits_for_more(cut: int) -> None:
    assert parse_response(ANSWER[:cut]) is None


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello",
        b"SSH-2.0-OpenSSH\r\n\r\n",
    ],
)
def test_an_answer_it_cannot_delimit_is_an_error(answer: bytes) -> None:
    with pytest.raises(ResponseError):
        parse_response(answer)


def test_the_request_bytes_carry_the_body_and_its_length() -> None:
    payload = post_request("127.0.0.1", "/v1/events", {"X-A": "b"}, b'{"a":1}')
    head, body = payload.split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/events HTTP/1.1"
    assert b"Content-Length: 7" in lines
    assert b"X-A: b" in lines
    assert body == b'{"a":1}'


async def _serve(answers: list[bytes], seen: list[bytes], close_after: int) -> asyncio.Server:
    """A server that answers each request (read to its Content-Length) with the next answer, in
    pieces, and closes a connection after `close_after` requests."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await answer(reader, writer)
        except asyncio.IncompleteReadError:
            pass  # the client closed the connection
        finally:
            writer.close()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(close_after):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.startswith(b"Content-Length")
                )
            )
            seen.append(await reader.readexactly(length))
            answer = answers[len(seen) - 1]
            for piece in (answer[:7], answer[7:30], answer[30:]):
                writer.write(piece)
                await writer.drain()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_requests_share_keep_alive_connections_and_a_closed_one_is_replaced() -> None:
    async def run() -> tuple[list[int], list[bytes], int]:
        answers = [ANSWER.replace(b"202 Accepted", b"%d X" % (200 + n)) for n in range(12)]
        seen: list[bytes] = []
        server = await _serve(answers, seen, close_after=3)
        port = server.sockets[0].getsockname()[1]
        pool = Pool("127.0.0.1", port, size=2)
        statuses = []
        try:
            for n in range(12):
                payload = post_request("127.0.0.1", "/", {}, b"%d" % n)
                try:
                    statuses.append(await pool.request(payload))
                except ConnectionError:
                    statuses.append(-1)
        finally:
            pool.close()
            server.close()
            await server.wait_closed()
            await asyncio.sleep(0.05)  # the closed transports' sockets are closed on the loop
        return statuses, seen, len(pool._all)

    statuses, seen, _ = asyncio.run(run())
    served = [s for s in statuses if s != -1]
    # Every request the server read was answered with its own answer, in order; a request sent
    # on a connection the server had just closed fails with ConnectionError, and the pool opens
    # a new connection for the next one.
    assert served == [200 + n for n in range(len(seen))]
    assert seen == [b"%d" % n for n, s in enumerate(statuses) if s != -1]
    assert len(served) >= 8


def test_concurrent_requests_open_at_most_size_connections() -> None:
    async def run() -> tuple[list[int], int]:
        seen: list[bytes] = []
        server = await _serve([ANSWER] * 20, seen, close_after=20)
        port = server.sockets[0].getsockname()[1]
        pool = Pool("127.0.0.1", port, size=3)
        try:
            payload = post_request("127.0.0.1", "/", {}, b"x")
            statuses = await asyncio.gather(*(pool.request(payload) for _ in range(20)))
            return list(statuses), len(pool._all)
        finally:
            pool.close()
            server.close()
            await server.wait_closed()
            await asyncio.sleep(0.05)  # the closed transports' sockets are closed on the loop

    statuses, opened = asyncio.run(run())
    assert statuses == [202] * 20
    assert opened == 3
