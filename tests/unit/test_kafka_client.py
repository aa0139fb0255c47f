"""kafka-python's connections close their sockets however they end (adapters.kafka_client)."""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pantau.adapters import kafka_client

net_inet = pytest.importorskip("kafka.net.inet")
net_selector = pytest.importorskip("kafka.net.selector")
net_transport = pytest.importorskip("kafka.net.transport")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def net() -> Iterator[object]:
    selector = net_selector.NetworkSelector()
    yield selector
    selector.close()


@pytest.fixture
def refusing_address() -> Iterator[tuple[str, int]]:
    """An address that refuses connections: bound, never listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()


def _sockets_made(monkeypatch: pytest.MonkeyPatch) -> list[socket.socket]:
    made: list[socket.socket] = []
    make = net_inet.KafkaNetSocket.socket

    def recording(self: object, *args: object) -> socket.socket:
        sock: socket.socket = make(self, *args)
        made.append(sock)
        return sock

    monkeypatch.setattr(net_inet.KafkaNetSocket, "socket", recording)
    return made


def test_a_refused_connection_closes_its_socket(
    net: object, refusing_address: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _sockets_made(monkeypatch)
    host, port = refusing_address
    with pytest.raises(Exception, match="ECONNREFUSED"):
        net.run(net_inet.create_connection, net, host, port)  # type: ignore[attr-defined]
    assert made, "no connection was attempted"
    assert [s.fileno() for s in made] == [-1] * len(made)


def test_a_connection_cancelled_while_it_connects_closes_its_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(net_inet.KafkaNetSocket, "connect_ex", lambda *_: errno.EINPROGRESS)

    class Waiting:
        def wait_write(self, fileobj: object, timeout_at: float | None = None) -> object:
            return net_selector.KernelEvent("_wait_write", fileobj, timeout_at)

    sock = socket.socket()
    attempt = net_inet.KafkaNetSocket().sock_connect(Waiting(), sock, ("127.0.0.1", 9))
    attempt.send(None)  # now waiting for the socket to become writable
    assert sock.fileno() != -1
    attempt.close()  # what cancelling the client's task does
    assert sock.fileno() == -1


def test_a_connection_closed_with_bytes_unsent_closes_its_socket_when_the_network_closes(
    net: object,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        with peer:
            client.setblocking(False)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            transport = net_transport.KafkaTCPTransport(net, client)
            transport.write(b"x" * 8_000_000)  # more than the socket takes: the peer never reads
            net.drain()  # type: ignore[attr-defined]
            assert transport._write_buffer, "the flush did not have to wait"
            transport.close()
            assert client.fileno() != -1  # left to the flush
            net.close()  # type: ignore[attr-defined]
            assert client.fileno() == -1


def test_the_changes_are_made_once() -> None:
    connect = net_inet.KafkaNetSocket.sock_connect
    flush = net_transport.KafkaTCPTransport._write_to_sock
    kafka_client.close_socket_of_failed_connect(net_inet.KafkaNetSocket)
    kafka_client.close_socket_of_closed_transport(net_transport.KafkaTCPTransport)
    assert net_inet.KafkaNetSocket.sock_connect is connect
    assert net_transport.KafkaTCPTransport._write_to_sock is flush


def test_the_product_takes_its_kafka_python_clients_from_the_one_module() -> None:
    direct = re.compile(
        r"^\s*from kafka(\.admin)? import .*\b(Kafka\w+Client|KafkaConsumer|KafkaProducer)", re.M
    )
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("src", "services")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != "kafka_client.py" and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
