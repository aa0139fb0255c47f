"""Reading a topic from its beginning without a consumer group: to the end it has now
(`read_to_end`), or following it (every record of every partition, then each new one, until
cancelled; after a Kafka failure the reading starts again)."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer
from kafka.errors import KafkaError

from pantau.adapters.kafka_client import KafkaConsumer
from pantau.adapters.kafka_client import TopicPartition as SyncTopicPartition

RecordHandler = Callable[[str, int, bytes | None], None]
"""Takes one record: its topic, its offset and its value."""

ItemT = TypeVar("ItemT")


def read_to_end(
    servers: list[str], topic: str, client_id: str, timeout_s: float = 15.0
) -> Iterator[Any]:
    """Every record of `topic` (kafka-python's `ConsumerRecord`), from the beginning to the end
    it has now; none when the topic is empty or missing. Raises RuntimeError when Kafka cannot
    be reached or the topic does not end in time."""
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=servers,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=int(timeout_s * 1000) + 1000,
            consumer_timeout_ms=int(timeout_s * 1000),
        )
    except KafkaError as error:
        raise RuntimeError(f"cannot reach Kafka at {','.join(servers)}: {error}") from error
    try:
        found = consumer.partitions_for_topic(topic)
        if not found:
            return
        partitions = [SyncTopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            polled = consumer.poll(timeout_ms=int(timeout_s * 1000))
            if not polled:
                raise RuntimeError(f"timed out reading {topic}")
            for records in polled.values():
                yield from records
            remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()


async def follow_topic(
    servers: list[str],
    topic: str,
    client_id: str,
    on_record: RecordHandler,
    *,
    logger: logging.Logger,
    reader: str,
) -> None:
    """Hand every record of `topic` to `on_record`, from the beginning and then as they come.

    A topic created later is picked up when the metadata is next refreshed (every few seconds).
    Failures are logged on `logger`; `reader` names this reader in them.
    """
    while True:
        # No group: every partition is read from the beginning and nothing is committed.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=servers,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=200,
            metadata_max_age_ms=5000,
        )
        try:
            await consumer.start()
            consumer.subscribe([topic])
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        on_record(tp.topic, record.offset, record.value)
        except KafkaError as error:
            logger.warning("reading %s failed, retrying: %s", topic, error)
            await asyncio.sleep(2.0)
        finally:
            try:
                await consumer.stop()
            except Exception:  # stopping after a failure: nothing left to do about it
                logger.debug("error while stopping the %s reader", reader, exc_info=True)


class TopicFollower(ABC, Generic[ItemT]):
    """Follows a topic from the beginning and calls `on_item` with what each record holds
    (`read_item`); a record that holds none is passed over."""

    reader = ""  # names the reader in log lines
    logger = logging.getLogger(__name__)  # where its failures are logged

    def __init__(
        self, servers: list[str], topic: str, on_item: Callable[[ItemT], None], client_id: str
    ) -> None:
        self._servers = servers
        self._topic = topic
        self._on_item = on_item
        self._client_id = client_id

    async def run(self) -> None:
        """Read and follow until cancelled; retried after a Kafka failure; a topic created later
        is picked up when the metadata is next refreshed (every few seconds)."""
        await follow_topic(
            self._servers,
            self._topic,
            self._client_id,
            self._read,
            logger=self.logger,
            reader=self.reader,
        )

    def _read(self, topic: str, offset: int, value: bytes | None) -> None:
        item = self.read_item(value, f"{topic}@{offset}")
        if item is not None:
            self._on_item(item)

    @abstractmethod
    def read_item(self, value: bytes | None, where: str) -> ItemT | None:
        """What the record's `value` holds, or None; `where` names the record in log lines."""
