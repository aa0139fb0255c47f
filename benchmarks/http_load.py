"""Open-loop HTTP/1.1 POSTs whose client costs little CPU, for the end-to-end latency run.

The latency run needs the time each request was answered, to match it with the alert it caused,
so it cannot hand the load to `wrk`. httpx spent about 7.5 ms of CPU per request here: at 1,000
requests/s offered it saturated the load generator's own core and the stack never saw the load.
This client keeps a pool of keep-alive connections, writes each request as prepared bytes and
reads each answer with a small parser (status line, headers, a `Content-Length` body), about
0.3 ms of CPU per request on the same machine.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


class ResponseError(Exception):
    """An answer this client does not read (no Content-Length, a chunked body, a bad head)."""


HEAD_END = b"\r\n\r\n"
HEAD_MAX = 64 * 1024


def parse_response(buffer: bytes | bytearray) -> tuple[int, int] | None:
    """(status, bytes taken) of the first whole response in `buffer`, or None if it is not
    all there yet. Raises ResponseError on an answer it cannot delimit."""
    end = buffer.find(HEAD_END)
    if end < 0:
        if len(buffer) > HEAD_MAX:
            raise ResponseError(f"no end of the response head in {HEAD_MAX} bytes")
        return None
    lines = bytes(buffer[:end]).split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ResponseError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    length: int | None = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            raise ResponseError(f"transfer-encoding {value.strip()!r} is not read by this client")
    if length is None:
        raise ResponseError("the response has no Content-Length")
    taken = end + len(HEAD_END) + length
    if len(buffer) < taken:
        return None
    return int(parts[1]), taken


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            parsed = parse_response(self.buffer)
        except ResponseError as error:
            waiter.set_exception(error)
            self.close()
            return
        if parsed is not None:
            status, taken = parsed
            del self.buffer[:taken]
            waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc or ConnectionError("the server closed the connection"))

    async def request(self, payload: bytes) -> int:
        """Send one whole request; its status once the whole answer is read."""
        if self.closed or self.transport is None:
            raise ConnectionError("the connection is closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


@dataclass
class Pool:
    """Up to `size` connections to host:port; a request waits for an idle one."""

    host: str
    port: int
    size: int
    _idle: asyncio.Queue[Connection | None] = field(default_factory=asyncio.Queue)
    _opened: int = 0
    _all: list[Connection] = field(default_factory=list)

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(Connection, self.host, self.port)
        self._all.append(connection)
        return connection

    async def request(self, payload: bytes) -> int:
        """POST the prepared request on an idle connection (a new one while fewer than `size`
        are open, else the next to come free); its status. A connection the server closed is
        replaced; the error of a request goes to its caller."""
        if self._idle.empty() and self._opened < self.size:
            self._opened += 1
            connection: Connection | None = None
        else:
            connection = await self._idle.get()
        try:
            if connection is None or connection.closed:
                connection = None
                connection = await self._connect()
            return await connection.request(payload)
        finally:
            # A slot whose connection failed to open goes back empty: the next user opens one.
            self._idle.put_nowait(connection)

    def close(self) -> None:
        for connection in self._all:
            connection.close()
        self._all.clear()


def post_request(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """The bytes of one HTTP/1.1 POST with a keep-alive connection."""
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
