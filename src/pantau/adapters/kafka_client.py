"""kafka-python's clients as Pantau uses them, and what Pantau changes in them, with the reasons.

Every process that uses kafka-python takes its clients from here, so the changes are in place
before the first connection:

- `close_socket_of_failed_connect`: a connection attempt that fails (refused, timed out) or is
  cancelled (the client closes while it connects) drops its socket without closing it. The
  socket is closed only when the garbage collector finds it, which under load or in a long
  fault (a killed broker refuses every reconnect) can be much later. The attempt now closes its
  socket whichever way it ends without a connection.
- `close_socket_of_closed_transport`: a connection closed while it still had bytes to send waits
  for its flush to close the socket; a client that closes its network right after (every
  `close()` does) cancels that flush, and the connected socket was never closed. The cancelled
  flush of a closed connection now closes the socket.

Both take kafka-python 3.0's network layer (`kafka.net`). Older releases, without it, are used
as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

__all__ = ["KafkaAdminClient", "KafkaConsumer", "KafkaProducer", "NewTopic", "TopicPartition"]

_MARK = "_pantau_closes_its_socket"


def close_socket_of_failed_connect(socket_class: Any) -> None:
    """Make `socket_class.sock_connect` close its socket when it ends without a connection."""
    connect: Callable[..., Coroutine[Any, Any, Any]] = socket_class.sock_connect
    if getattr(connect, _MARK, False):
        return

    async def sock_connect(
        self: Any, net: Any, sock: Any, sockaddr: Any, timeout_at: float | None = None
    ) -> Any:
        try:
            return await connect(self, net, sock, sockaddr, timeout_at=timeout_at)
        except BaseException:  # also the cancellation of a client closing meanwhile
            sock.close()
            raise

    setattr(sock_connect, _MARK, True)
    socket_class.sock_connect = sock_connect


def close_socket_of_closed_transport(transport_class: Any) -> None:
    """Make a cancelled flush of a closed `transport_class` connection close its socket."""
    flush: Callable[..., Coroutine[Any, Any, Any]] = transport_class._write_to_sock
    if getattr(flush, _MARK, False):
        return

    async def _write_to_sock(self: Any) -> Any:
        try:
            return await flush(self)
        except BaseException:
            sock = self._sock
            if self._closed and sock is not None:
                self._sock = None
                sock.close()
            raise

    setattr(_write_to_sock, _MARK, True)
    transport_class._write_to_sock = _write_to_sock


def _apply() -> None:
    try:
        from kafka.net.inet import KafkaNetSocket
        from kafka.net.transport import KafkaTCPTransport
    except ImportError:  # kafka-python before 3.0
        return
    close_socket_of_failed_connect(KafkaNetSocket)
    close_socket_of_closed_transport(KafkaTCPTransport)


_apply()
