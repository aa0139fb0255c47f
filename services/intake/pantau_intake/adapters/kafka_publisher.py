"""The Kafka adapter of the `EventPublisher` port (`pantau_intake.domain.publishing`).

`publish` returns only once every record is acknowledged with acks=all by the in-sync replicas;
anything else raises `PublishUnavailable`.
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

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pantau_intake.domain.publishing import OutgoingRecord, PublishUnavailable

log = logging.getLogger(__name__)

BATCH_BYTES = 512 * 1024  # largest record batch sent, below the broker's 1 MiB message limit
LINGER_MS = 1  # a request's records and concurrent requests' share produce requests
QUEUED_RECORDS = 1_000_000  # room for the in-flight limit's worth of 1000-event requests


class KafkaPublisher:
    """Publishes to one topic with an idempotent librdkafka producer (confluent-kafka), acks=all.

    A request's records are handed to the producer's queue at once (a C call each, no future or
    task per record); librdkafka's own threads batch them with concurrent requests' records,
    send and collect the acknowledgements without the interpreter. A poller thread serves the
    delivery reports and settles each request's one future on its event loop once all of its
    records are reported. The producer is created on first use, so the intake starts (and
    reports not ready) while Kafka is down; a producer that hit a fatal error is replaced by a
    fresh one on the next request. Keys go to the partition Kafka's Java clients choose
    (murmur2), like every other producer of the topic.
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
        self._closed = False
        self._lock = threading.Lock()  # guards the producer's creation and replacement
        self._current: _Producing | None = None
        self._retired: list[_Producing] = []
        self._probes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-probe")
        self._ready_cache: tuple[float, bool] | None = None

    # --- publishing ------------------------------------------------------------------------------

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if not records:
            return
        if self._closed:
            raise PublishUnavailable("the intake is shutting down")
        producing = self._current
        if producing is None or producing.failed:
            producing = await asyncio.to_thread(self._fresh_producer, producing)
        acknowledgement = _Acknowledgement(asyncio.get_running_loop(), len(records))
        produce, topic, delivered = (
            producing.producer.produce,
            self.topic,
            acknowledgement.delivered,
        )
        try:
            for record in records:
                produce(topic, record.value, record.key, on_delivery=delivered)
        except BufferError:
            acknowledgement.abandon()
            raise PublishUnavailable(
                "the intake's queue to Kafka is full (Kafka is slow or unreachable)"
            ) from None
        except KafkaException as error:
            acknowledgement.abandon()
            producing.failed = producing.failed or error.args[0].fatal()
            log.warning("publishing to %s failed: %s", self.topic, error.args[0].name())
            raise PublishUnavailable("Kafka did not take the events") from None
        try:
            # librdkafka reports every record within message.timeout.ms; this bound only guards
            # a poller that stopped.
            async with asyncio.timeout(self.timeout + 1):
                failure = await acknowledgement.future
        except TimeoutError:
            acknowledgement.abandon()
            raise PublishUnavailable(
                f"Kafka did not acknowledge the events within {self.timeout:g} s"
            ) from None
        if failure is not None:
            if failure.fatal():
                producing.failed = True
            if failure.code() == KafkaError._MSG_TIMED_OUT:
                raise PublishUnavailable(
                    f"Kafka did not acknowledge the events within {self.timeout:g} s"
                )
            log.warning("publishing to %s failed: %s", self.topic, failure.name())
            raise PublishUnavailable(f"Kafka did not acknowledge the events ({failure.name()})")

    def _fresh_producer(self, failed: _Producing | None) -> _Producing:
        """The current producer, or a new one when there is none or `failed` is current."""
        with self._lock:
            if self._closed:
                raise PublishUnavailable("the intake is shutting down")
            current = self._current
            if current is not None and not current.failed:
                return current
            if current is not None:
                # An idempotent producer with a fatal error cannot send again: a new one gets
                # a new producer id. The old one finishes or fails what it holds, then stops.
                self._current = None
                self._retired.append(current)
                current.retire(self.timeout)
            # A refused connection answers at once; librdkafka would instead retry quietly
            # until each record's timeout.
            if not any(broker_answers(server, self.timeout) for server in self.servers):
                raise PublishUnavailable("Kafka is not reachable")
            self._current = _Producing(
                Producer(
                    {
                        "bootstrap.servers": ",".join(self.servers),
                        "client.id": self.client_id,
                        "acks": "all",
                        "enable.idempotence": True,
                        "partitioner": "murmur2_random",  # the Java clients' choice for a key
                        "linger.ms": LINGER_MS,
                        "batch.size": BATCH_BYTES,
                        "message.timeout.ms": int(self.timeout * 1000),
                        "queue.buffering.max.messages": QUEUED_RECORDS,
                        "logger": log,
                    }
                )
            )
            return self._current

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
        from pantau.adapters.kafka_client import KafkaAdminClient

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
        with self._lock:
            self._closed = True
            producing, self._current = self._current, None
            retired, self._retired = self._retired, []
        for each in [*retired, *([producing] if producing is not None else [])]:
            # Records of requests still waiting are delivered (or time out) before it stops.
            await asyncio.to_thread(each.stop, self.timeout)
        await asyncio.to_thread(self._probes.shutdown, wait=True, cancel_futures=True)


class _Producing:
    """A librdkafka producer and the thread that serves its delivery reports."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.failed = False
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="intake-kafka", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self.producer.poll(0.05)

    def retire(self, seconds: float) -> None:
        """Stop in the background once what it holds is delivered or timed out."""
        threading.Thread(target=self.stop, args=(seconds,), daemon=True).start()

    def stop(self, seconds: float) -> None:
        """Deliver (or time out) what it holds, then stop polling."""
        try:
            self.producer.flush(seconds + 1)
        finally:
            self._stopping.set()
            self._poller.join(seconds)


class _Acknowledgement:
    """One request's records as librdkafka reports them: the future is settled on the request's
    loop with None (all acknowledged) or the first error, once every record was reported."""

    __slots__ = ("_abandoned", "_failure", "_loop", "_pending", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop, records: int) -> None:
        self._loop = loop
        self._pending = records
        self._failure: KafkaError | None = None
        self._abandoned = False
        self.future: asyncio.Future[KafkaError | None] = loop.create_future()

    def delivered(self, error: KafkaError | None, message: Message) -> None:
        """librdkafka's delivery report of one record (on the poller thread)."""
        if error is not None and self._failure is None:
            self._failure = error
        self._pending -= 1
        if self._pending == 0 and not self._abandoned:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                self._loop.call_soon_threadsafe(self._settle)

    def abandon(self) -> None:
        """Nobody waits any more: reports still to come are dropped."""
        self._abandoned = True

    def _settle(self) -> None:
        if not self.future.done():
            self.future.set_result(self._failure)


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
            # A buffered reader reads until it has the bytes asked for, the end or the timeout.
            with sock.makefile("rb") as replies:
                (size,) = struct.unpack(">i", replies.read(4))
                reply = replies.read(min(size, 1 << 20))
    except (OSError, ValueError, struct.error):
        return False
    if len(reply) < 6:
        return False
    correlation_id, error_code = struct.unpack(">ih", reply[:6])
    return bool(correlation_id == 1 and error_code == 0)
