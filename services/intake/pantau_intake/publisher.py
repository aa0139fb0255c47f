"""Where accepted events go: the `EventPublisher` port, its Kafka adapter and an in-memory fake.

`publish` returns only once every record is durably acknowledged (for Kafka: acks=all from the
in-sync replicas); anything else raises `PublishUnavailable`, and the intake then answers 503 so
that the caller sends again. A 503 promises nothing either way: some records of the request may
have been written, and the resend is deduplicated downstream by `event_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingRecord:
    """One event ready for `pantau.events`: its key, its JSON value, and its id for the reply."""

    key: bytes
    value: bytes
    event_id: str


class PublishUnavailable(Exception):
    """The records could not be acknowledged in time; the message is safe to show to callers."""


class EventPublisher(Protocol):
    """Hands events to the event log durably, or says it could not."""

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Return when every record is acknowledged; raise PublishUnavailable otherwise."""
        ...

    async def ready(self) -> bool:
        """True when the event log is reachable and the events topic exists."""
        ...

    async def close(self) -> None:
        """Finish what was sent (briefly) and release connections."""
        ...


class InMemoryPublisher:
    """A fake event log for tests: records in a list; can be switched to fail like a dead broker."""

    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []
        self.available = True
        self.closed = False

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if not self.available or self.closed:
            raise PublishUnavailable("the event log is unavailable")
        self.records.extend(records)

    async def ready(self) -> bool:
        return self.available and not self.closed

    async def close(self) -> None:
        self.closed = True


class _Acknowledgements:
    """Counts a request's acknowledgements in the producer's I/O thread and wakes the event loop
    once: when the last record is acknowledged, or at the first failure.

    One asyncio future per request instead of one per record: the per-record bridge (a future,
    two callbacks and a loop wake-up each) cost more than the records themselves.
    """

    def __init__(
        self, count: int, loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]
    ) -> None:
        self._left = count
        self._loop = loop
        self._done = done
        self._lock = threading.Lock()
        self._settled = False

    def acknowledged(self, _metadata: object) -> None:
        with self._lock:
            self._left -= 1
            if self._left or self._settled:
                return
            self._settled = True
        self._wake(None)

    def failed(self, error: BaseException) -> None:
        with self._lock:
            if self._settled:
                return
            self._settled = True
        self._wake(error)

    def _wake(self, error: BaseException | None) -> None:
        # A closed loop means nobody is waiting for the answer any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._settle, error)

    def _settle(self, error: BaseException | None) -> None:
        if self._done.done():  # the request timed out meanwhile
            return
        if error is None:
            self._done.set_result(None)
        else:
            self._done.set_exception(error)


class KafkaPublisher:
    """Publishes to one topic with an idempotent kafka-python producer and acks=all.

    kafka-python is blocking, so `send` runs on a small thread pool and the acknowledgements are
    counted into one asyncio future per request: the event loop never waits on Kafka. The
    producer is created on first use, so the intake starts (and reports not ready) while Kafka is
    down, and it reconnects by itself when Kafka returns.
    """

    def __init__(
        self,
        servers: Sequence[str],
        topic: str,
        *,
        timeout: float = 5.0,
        client_id: str = "pantau-intake",
    ) -> None:
        self.servers = list(servers)
        self.topic = topic
        self.timeout = timeout
        self.client_id = client_id
        self._producer: Any = None
        self._generation = 0  # counts producers created, so a failure replaces only its own
        self._closing: list[threading.Thread] = []  # failed producers being closed
        self._producer_lock = threading.Lock()
        self._senders = ThreadPoolExecutor(max_workers=4, thread_name_prefix="intake-send")
        self._probes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-probe")
        self._ready_cache: tuple[float, bool] | None = None

    # --- publishing ------------------------------------------------------------------------------

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if not records:
            return
        loop = asyncio.get_running_loop()
        acknowledged: asyncio.Future[None] = loop.create_future()
        acks = _Acknowledgements(len(records), loop, acknowledged)
        generation: int | None = None
        try:
            async with asyncio.timeout(self.timeout):
                generation = await loop.run_in_executor(
                    self._senders, self._send_all, records, acks
                )
                await acknowledged
        except TimeoutError:
            self._discard_producer(generation)
            raise PublishUnavailable(
                f"Kafka did not acknowledge the events within {self.timeout:g} s"
            ) from None
        except PublishUnavailable:
            raise
        except Exception as error:  # any client error means: not acknowledged
            log.warning("publishing to %s failed: %s", self.topic, type(error).__name__)
            self._discard_producer(generation)
            raise PublishUnavailable(
                f"Kafka did not acknowledge the events ({type(error).__name__})"
            ) from None
        finally:
            acknowledged.cancel()  # settled already, or nobody will wait for it any more

    def _send_all(self, records: Sequence[OutgoingRecord], acks: _Acknowledgements) -> int:
        producer, generation = self._ensure_producer()
        try:
            for r in records:
                delivery = producer.send(self.topic, key=r.key, value=r.value)
                delivery.add_callback(acks.acknowledged)
                delivery.add_errback(acks.failed)
        except Exception:
            self._discard_producer(generation)
            raise
        return generation

    def _ensure_producer(self) -> tuple[Any, int]:
        with self._producer_lock:
            if self._producer is None:
                from kafka import KafkaProducer  # imported here: the module loads without it

                # A refused connection answers at once; kafka-python would instead spend the
                # whole timeout bootstrapping (holding a sender thread) and drop its sockets.
                if not any(broker_answers(server, self.timeout) for server in self.servers):
                    raise PublishUnavailable("Kafka is not reachable")
                timeout_ms = int(self.timeout * 1000)
                try:
                    self._producer = KafkaProducer(
                        bootstrap_servers=self.servers,
                        client_id=self.client_id,
                        acks="all",
                        enable_idempotence=True,
                        linger_ms=1,
                        max_block_ms=timeout_ms,
                        request_timeout_ms=timeout_ms,
                        delivery_timeout_ms=timeout_ms + 1,
                        bootstrap_timeout_ms=timeout_ms,
                        # Reconnect within seconds once the broker is back, not the default 30 s.
                        reconnect_backoff_max_ms=2000,
                    )
                except Exception as error:
                    raise PublishUnavailable(
                        f"cannot connect to Kafka ({type(error).__name__})"
                    ) from None
                self._generation += 1
            return self._producer, self._generation

    def _discard_producer(self, generation: int | None) -> None:
        """Replace the producer after a failed delivery.

        An idempotent producer whose batch expired must get a new producer id before it can
        send again, and kafka-python does not always manage that once the broker returns, so a
        producer that failed is closed (in the background, letting its other requests finish)
        and the next request starts a fresh one. Only the generation that failed is replaced,
        so many requests failing at once replace it once.
        """
        if generation is None:
            return
        with self._producer_lock:
            if self._producer is None or generation != self._generation:
                return
            failed, self._producer = self._producer, None
        closing = threading.Thread(
            target=failed.close, kwargs={"timeout": self.timeout}, daemon=True
        )
        closing.start()
        with self._producer_lock:
            self._closing = [t for t in self._closing if t.is_alive()] + [closing]

    # --- readiness -------------------------------------------------------------------------------

    async def ready(self) -> bool:
        # A fresh admin connection per probe: it proves the broker answers now, not that it
        # answered when a long-lived client last looked. Cached for a second against probe floods.
        # The probe pool has one thread, so concurrent probes queue instead of piling up.
        now = time.monotonic()
        if self._ready_cache is not None and now - self._ready_cache[0] < 1.0:
            return self._ready_cache[1]
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                ok = await loop.run_in_executor(self._probes, self._probe)
        except TimeoutError:
            ok = False
        self._ready_cache = (time.monotonic(), ok)
        return ok

    def _probe(self) -> bool:
        seconds = max(0.5, self.timeout - 0.5)
        if not any(broker_answers(server, seconds) for server in self.servers):
            # Checked first with a bare socket: kafka-python's admin client leaks its I/O thread
            # and sockets when it cannot bootstrap, and probes repeat for as long as Kafka is down.
            return False
        from kafka.admin import KafkaAdminClient

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.servers,
                client_id=f"{self.client_id}-probe",
                request_timeout_ms=int(seconds * 1000),
                bootstrap_timeout_ms=int(seconds * 1000),
            )
        except Exception:
            return False
        try:
            described = admin.describe_topics([self.topic])
            return bool(described) and all(t.get("error_code", 0) == 0 for t in described)
        except Exception:
            return False
        finally:
            admin.close()

    # --- shutdown --------------------------------------------------------------------------------

    async def close(self) -> None:
        # Sends still running (each bounded by the timeout) finish first, so the producer they
        # may create is closed too; all of it on a helper thread, never on the event loop.
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._senders.shutdown(wait=True, cancel_futures=True)
        self._probes.shutdown(wait=True, cancel_futures=True)
        self._close_producer()

    def _close_producer(self) -> None:
        with self._producer_lock:
            producer, self._producer = self._producer, None
            closing, self._closing = self._closing, []
        for thread in closing:
            thread.join(self.timeout)
        if producer is None:
            return
        try:
            producer.close(timeout=self.timeout)
        except Exception as error:
            # Only records whose requests already got a 503 can still be pending here.
            log.warning("closing the Kafka producer: %s", type(error).__name__)


def broker_answers(server: str, seconds: float) -> bool:
    """True when a Kafka broker at `host:port` answers an ApiVersions request (v0)."""
    host, _, port = server.rpartition(":")
    client_id = b"pantau-intake-probe"
    # ApiVersions v0 is the one request every broker answers before version negotiation.
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds) as sock:
            sock.settimeout(seconds)
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _read_exactly(sock, 4))
            reply = _read_exactly(sock, min(size, 1 << 20))
    except (OSError, ValueError, struct.error):
        return False
    if len(reply) < 6:
        return False
    correlation_id, error_code = struct.unpack(">ih", reply[:6])
    return bool(correlation_id == 1 and error_code == 0)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data
