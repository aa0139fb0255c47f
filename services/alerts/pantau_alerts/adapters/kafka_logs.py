"""Kafka for the alerts service: read four topics from the beginning, publish with acks=all.

No consumer group: every instance assigns itself every partition, seeks to the beginning and
rebuilds its full view, then follows live. Nothing is committed, so instances never steal
partitions from each other and a restart always rebuilds the same state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from pantau.adapters.kafka_topics import TopicSpec

__all__ = ["KafkaLogs", "deliveries_topic_spec"]

log = logging.getLogger("pantau.alerts.kafka")

SEND_TIMEOUT_S = 15.0


def deliveries_topic_spec(name: str, partitions: int) -> TopicSpec:
    """The internal deliveries topic: one final outcome per (alert, target), compacted."""
    return TopicSpec(name, max(1, partitions // 4), {"cleanup.policy": "compact"})


class KafkaLogs:
    """The reader and the publisher of one alerts instance.

    `handlers` maps a topic to a function of (key, value) called in partition order.
    `on_caught_up` is called once, when every partition has been read up to where it ended at
    start.
    """

    def __init__(
        self,
        servers: list[str],
        handlers: dict[str, Callable[[bytes | None, bytes | None], None]],
        action_topic: str,
        delivery_topic: str,
        on_caught_up: Callable[[], None],
        client_id: str = "pantau-alerts",
    ) -> None:
        self._servers = servers
        self._handlers = handlers
        self._action_topic = action_topic
        self._delivery_topic = delivery_topic
        self._on_caught_up = on_caught_up
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
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
        log.info("reading %d partitions from the beginning", len(partitions))

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
                        # A record the board cannot take must not stop the view for the rest.
                        log.exception("skipping record %s@%d", tp, record.offset)
                    self.records_read[tp.topic] += 1
            if not self.caught_up:
                positions = {tp: await consumer.position(tp) for tp in self._ends}
                if all(positions[tp] >= end for tp, end in self._ends.items()):
                    self._caught_up()

    def _caught_up(self) -> None:
        self.caught_up = True
        log.info("caught up with the logs: %s", self.records_read)
        self._on_caught_up()

    async def _send(self, topic: str, key: str, value: bytes) -> None:
        producer = self._producer
        if producer is None:
            raise RuntimeError("the producer is not started")
        await asyncio.wait_for(
            producer.send_and_wait(topic, value=value, key=key.encode("utf-8")),
            timeout=SEND_TIMEOUT_S,
        )

    async def publish_action(self, key: str, value: bytes) -> None:
        """An action record, keyed by alert_id; returns after acks=all."""
        await self._send(self._action_topic, key, value)

    async def publish_delivery(self, key: str, value: bytes) -> None:
        """A delivery outcome, keyed `<alert_id>|<target>`; returns after acks=all."""
        await self._send(self._delivery_topic, key, value)

    async def stop(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # shutting down: nothing left to do about it
                    log.debug("error while stopping a Kafka client", exc_info=True)
