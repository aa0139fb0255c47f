"""The two Kafka probes (deploy/probe.py before any virtualenv, the intake's readiness check)
against a local socket that answers like a broker, in pieces, wrongly or not at all."""

from __future__ import annotations

import runpy
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from pantau.settings import REPO_DIR
from pantau_intake.adapters.kafka_publisher import broker_answers

# deploy/probe.py is a script, not a package module: its functions as its namespace.
_probe = runpy.run_path(str(REPO_DIR / "deploy" / "probe.py"))
kafka_probe: Callable[[str, int], bool] = _probe["kafka"]

Answer = Callable[[int], list[bytes]]  # the correlation id asked -> the pieces sent back


def _reply(correlation_id: int, error_code: int = 0) -> bytes:
    body = struct.pack(">ih", correlation_id, error_code) + b"\x00" * 10
    return struct.pack(">i", len(body)) + body


@contextmanager
def _broker(answer: Answer) -> Iterator[int]:
    """A listening socket whose one connection reads a request and sends `answer`'s pieces."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            (size,) = struct.unpack(">i", connection.recv(4, socket.MSG_WAITALL))
            request = connection.recv(size, socket.MSG_WAITALL)
            (correlation_id,) = struct.unpack(">i", request[4:8])
            for piece in answer(correlation_id):
                connection.sendall(piece)
                threading.Event().wait(0.02)  # separate reads on the probe's side

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield port
    finally:
        server.join(timeout=5)
        listener.close()


def _whole(correlation_id: int) -> list[bytes]:
    return [_reply(correlation_id)]


def _in_pieces(correlation_id: int) -> list[bytes]:
    reply = _reply(correlation_id)
    return [reply[:2], reply[2:7], reply[7:]]


def _error(correlation_id: int) -> list[bytes]:
    return [_reply(correlation_id, error_code=35)]


def _cut_short(correlation_id: int) -> list[bytes]:
    return [_reply(correlation_id)[:5]]


def _other_request(correlation_id: int) -> list[bytes]:
    return [_reply(correlation_id + 1)]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (_whole, True),
        (_in_pieces, True),
        (_error, False),
        (_cut_short, False),
        (_other_request, False),
    ],
)
def test_both_probes_read_the_whole_reply_and_take_only_a_good_one(
    answer: Answer, expected: bool
) -> None:
    with _broker(answer) as port:
        assert kafka_probe("127.0.0.1", port) is expected
    with _broker(answer) as port:
        assert broker_answers(f"127.0.0.1:{port}", 2) is expected


def test_both_probes_say_no_when_nothing_listens() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    assert kafka_probe("127.0.0.1", port) is False
    assert broker_answers(f"127.0.0.1:{port}", 2) is False
