"""Topics read from the beginning into an in-memory view, and records published with acks=all.

For the services that keep a read model of their own (the alerts service, the status page): no
consumer group, nothing committed. Every instance assigns itself every partition, seeks to the
beginning and rebuilds its full view, then follows live, so instances never steal partitions
from each other and a restart always rebuilds the same state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

__all__ = ["SEND_TIMEOUT_S", "Handler", "ReplayedLogs"]

SEND_TIMEOUT_S = 15.0
Handler = Callable[[bytes | None, bytes | None], None]


class ReplayedLogs:
    """The reader and the publisher of one service instance.

    `handlers` maps a topic to a function of (key, value) called in partition order.
    `on_caught_up` is called once, when every partition has been read up to where it ended at
    start.
    """

    def __init__(
        self,
        servers: list[str],
        handlers: dict[str, Handler],
        on_caught_up: Callable[[], None],
        client_id: str,
        log: logging.Logger,
    ) -> None:
        self._servers = servers
        self._handlers = handlers
        self._on_caught_up = on_caught_up
        self._client_id = client_id
        self._log = log
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._ends: dict[TopicPartition, int] = {}
        self.records_read: dict[str, int] = dict.fromkeys(handlers, 0)
        self.caught_up = False

    async def start(self) -> None:
        """Connect, assign every partition of the topics, seek to the beginning."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._servers,
            client_id=f"{self._client_id}-producer",
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=10000,
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            client_id=f"{self._client_id}-reader",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        await self._consumer.start()
        partitions: list[TopicPartition] = []
        for topic in self._handlers:
            try:
                # The producer's metadata call waits for the topic; the consumer's does not.
                found = await asyncio.wait_for(self._producer.partitions_for(topic), 10)
            except (TimeoutError, KafkaError):
                found = None
            if not found:
                raise RuntimeError(f"topic {topic} does not exist: run `pantau bootstrap` first")
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        self._ends = await self._consumer.end_offsets(partitions)
        self._log.info("reading %d partitions from the beginning", len(partitions))

    async def run(self) -> None:
        """Apply records until cancelled."""
        consumer = self._consumer
        assert consumer is not None, "start() first"
        if not any(self._ends.values()):
            self._caught_up()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            for tp, records in batches.items():
                handler = self._handlers[tp.topic]
                for record in records:
                    try:
                        handler(record.key, record.value)
                    except Exception:
                        # A record the view cannot take must not stop it for the rest.
                        self._log.exception("skipping record %s@%d", tp, record.offset)
                    self.records_read[tp.topic] += 1
            if not self.caught_up:
                positions = {tp: await consumer.position(tp) for tp in self._ends}
                if all(positions[tp] >= end for tp, end in self._ends.items()):
                    self._caught_up()

    def _caught_up(self) -> None:
        self.caught_up = True
        self._log.info("caught up with the logs: %s", self.records_read)
        self._on_caught_up()

    async def send(self, topic: str, key: str, value: bytes) -> None:
        """One record keyed `key`; returns after acks=all (TimeoutError after 15 s)."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("the producer is not started")
        await asyncio.wait_for(
            producer.send_and_wait(topic, value=value, key=key.encode("utf-8")),
            timeout=SEND_TIMEOUT_S,
        )

    async def stop(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # shutting down: nothing left to do about it
                    self._log.debug("error while stopping a Kafka client", exc_info=True)
        self._consumer = self._producer = None
