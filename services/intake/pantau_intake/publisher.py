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

from aiokafka import AIOKafkaProducer

log = logging.getLogger(__name__)

BATCH_BYTES = 512 * 1024  # largest record batch handed to the producer


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


class KafkaPublisher:
    """Publishes to one topic with an idempotent aiokafka producer and acks=all.

    The producer runs on an event loop of its own, on a thread of its own, so it serves any
    caller's loop (and outlives a test's) and the intake's loop never waits on Kafka: a request
    crosses to the producer's loop once and back once, however many records it has (the records'
    own futures are settled on the producer's loop, without a thread hop each). The producer is
    created on first use, so the intake starts (and reports not ready) while Kafka is down; a
    producer that failed is replaced by a fresh one on the next request.
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
        self._loop: asyncio.AbstractEventLoop | None = None  # the producer's own loop
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._closed = False
        # Touched only on the producer's loop:
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock: asyncio.Lock | None = None
        self._generation = 0  # counts producers created, so a failure replaces only its own
        self._stopping: set[asyncio.Task[None]] = set()
        self._probes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-probe")
        self._ready_cache: tuple[float, bool] | None = None

    # --- publishing ------------------------------------------------------------------------------

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if not records:
            return
        if self._closed:
            raise PublishUnavailable("the intake is shutting down")
        handed = asyncio.run_coroutine_threadsafe(self._publish(records), self._producer_loop())
        try:
            # The producer's loop enforces the timeout itself; this bound only guards a stuck one.
            async with asyncio.timeout(self.timeout + 1):
                await asyncio.wrap_future(handed)
        except TimeoutError:
            handed.cancel()
            raise PublishUnavailable(
                f"Kafka did not acknowledge the events within {self.timeout:g} s"
            ) from None

    async def _publish(self, records: Sequence[OutgoingRecord]) -> None:
        """On the producer's loop: every record acknowledged, or PublishUnavailable."""
        generation: int | None = None
        try:
            async with asyncio.timeout(self.timeout):
                producer, generation = await self._ensure_producer()
                await asyncio.gather(*await self._send_all(producer, records))
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

    async def _send_all(
        self, producer: AIOKafkaProducer, records: Sequence[OutgoingRecord]
    ) -> list[asyncio.Future[Any]]:
        # Each record goes into the producer's open batch of its partition, shared with the
        # records of concurrent requests: one produce request carries many requests' events.
        # (Handing over one pre-built batch per partition costs less per record, but aiokafka
        # queues one pending batch per partition, so concurrent requests wait on each other.)
        send = producer.send
        topic = self.topic
        return [await send(topic, value=r.value, key=r.key) for r in records]

    def _producer_loop(self) -> asyncio.AbstractEventLoop:
        with self._thread_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="intake-kafka", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _ensure_producer(self) -> tuple[AIOKafkaProducer, int]:
        if self._producer_lock is None:
            self._producer_lock = asyncio.Lock()
        async with self._producer_lock:
            if self._producer is None:
                # A refused connection answers at once; the client would instead spend the
                # whole timeout bootstrapping.
                reachable = await asyncio.to_thread(
                    lambda: any(broker_answers(server, self.timeout) for server in self.servers)
                )
                if not reachable:
                    raise PublishUnavailable("Kafka is not reachable")
                timeout_ms = int(self.timeout * 1000)
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.servers,
                    client_id=self.client_id,
                    acks="all",
                    enable_idempotence=True,
                    request_timeout_ms=timeout_ms,
                    # Below the broker's 1 MiB message limit: a 1 MiB request of pseudonymised
                    # events (a ref is longer than a NIK) may need two batches per partition.
                    max_batch_size=BATCH_BYTES,
                )
                try:
                    await producer.start()
                except Exception as error:
                    self._stop_in_background(producer)
                    raise PublishUnavailable(
                        f"cannot connect to Kafka ({type(error).__name__})"
                    ) from None
                self._producer = producer
                self._generation += 1
            return self._producer, self._generation

    def _discard_producer(self, generation: int | None) -> None:
        """Replace the producer after a failed delivery.

        An idempotent producer whose batch expired must get a new producer id before it can send
        again, so a producer that failed is stopped (in the background, letting its other
        requests finish) and the next request starts a fresh one. Only the generation that
        failed is replaced, so many requests failing at once replace it once.
        """
        if generation is None or self._producer is None or generation != self._generation:
            return
        failed, self._producer = self._producer, None
        self._stop_in_background(failed)

    def _stop_in_background(self, producer: AIOKafkaProducer) -> None:
        task = asyncio.get_running_loop().create_task(self._stop(producer))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _stop(self, producer: AIOKafkaProducer) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await producer.stop()
        except Exception as error:
            # Only records whose requests already got a 503 can still be pending here.
            log.warning("stopping a Kafka producer: %s", type(error).__name__)

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
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            stopped = asyncio.run_coroutine_threadsafe(self._stop_all(), loop)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.wrap_future(stopped), 2 * self.timeout + 1)
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, self.timeout)
            if not thread.is_alive():
                loop.close()
        await asyncio.to_thread(self._probes.shutdown, wait=True, cancel_futures=True)

    async def _stop_all(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._stop(producer)
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)


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
