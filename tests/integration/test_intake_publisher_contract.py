"""One contract for every EventPublisher: the in-memory fake and the Kafka adapter pass it alike."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from aiokafka.partitioner import DefaultPartitioner
from kafka import KafkaConsumer, TopicPartition

from pantau.settings import TopicNames
from pantau_intake.adapters.kafka_publisher import KafkaPublisher
from pantau_intake.domain.publishing import (
    EventPublisher,
    InMemoryPublisher,
    OutgoingRecord,
    PublishUnavailable,
)
from ports import free_port


@dataclass
class Subject:
    """A publisher under test, how to read back what it published, and a broken twin."""

    publisher: EventPublisher
    published: Callable[[], list[tuple[bytes, bytes]]]
    broken: EventPublisher


def _kafka_records(servers: str, topic: str) -> list[tuple[bytes, bytes]]:
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        out: list[tuple[bytes, bytes]] = []
        while any(consumer.position(p) < ends[p] for p in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                out.extend((record.key, record.value) for record in records)
        return out
    finally:
        consumer.close()


@pytest.fixture(params=["in-memory", "kafka"])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    if request.param == "in-memory":
        fake, broken = InMemoryPublisher(), InMemoryPublisher()
        broken.available = False
        yield Subject(fake, lambda: [(r.key, r.value) for r in fake.records], broken)
        return
    stack_env: dict[str, str] = request.getfixturevalue("stack_env")
    servers = stack_env["PANTAU_KAFKA"]
    topic = TopicNames(stack_env["PANTAU_TOPIC_PREFIX"]).events
    kafka = KafkaPublisher([servers], topic, timeout=10)
    dead = KafkaPublisher([f"127.0.0.1:{free_port()}"], topic, timeout=1)
    yield Subject(kafka, lambda: _kafka_records(servers, topic), dead)
    asyncio.run(kafka.close())
    asyncio.run(dead.close())


def _records(n: int) -> list[OutgoingRecord]:
    run = uuid.uuid4().hex
    return [
        OutgoingRecord(
            key=f"contract.agency|{run}-{i % 2}".encode(),
            value=json.dumps({"event_id": f"{run}:{i}"}).encode(),
            event_id=f"{run}:{i}",
        )
        for i in range(n)
    ]


def test_published_records_are_there_when_publish_returns(subject: Subject) -> None:
    """Once publish returns, every record is in the log with its key, in order per key."""
    records = _records(6)
    asyncio.run(subject.publisher.publish(records))
    mine = [kv for kv in subject.published() if kv in {(r.key, r.value) for r in records}]
    assert sorted(mine) == sorted((r.key, r.value) for r in records)
    for key in {r.key for r in records}:
        assert [v for k, v in mine if k == key] == [r.value for r in records if r.key == key]


def test_publishing_nothing_is_a_no_op(subject: Subject) -> None:
    """An empty request publishes nothing and does not fail."""
    before = len(subject.published())
    asyncio.run(subject.publisher.publish([]))
    assert len(subject.published()) == before


def test_ready_when_the_log_is_reachable(subject: Subject) -> None:
    """ready() is true for a reachable log."""
    assert asyncio.run(subject.publisher.ready())


def test_unreachable_log_fails_fast_and_is_not_ready(subject: Subject) -> None:
    """Without a reachable log, publish raises PublishUnavailable in bounded time, not ready."""
    started = time.monotonic()
    with pytest.raises(PublishUnavailable):
        asyncio.run(subject.broken.publish(_records(2)))
    assert time.monotonic() - started < 5
    assert not asyncio.run(subject.broken.ready())


def test_kafka_records_land_on_the_partition_the_java_clients_choose(
    stack_env: dict[str, str],
) -> None:
    """A case's records go to murmur2(key) mod partitions, where every other producer of the
    events topic (the Java clients, aiokafka, Faust) puts them and the tracker looks for them."""
    servers = stack_env["PANTAU_KAFKA"]
    topic = TopicNames(stack_env["PANTAU_TOPIC_PREFIX"]).events
    records = _records(40)
    records = [
        OutgoingRecord(f"contract.agency|case-{i}".encode(), r.value, r.event_id)
        for i, r in enumerate(records)
    ]
    publisher = KafkaPublisher([servers], topic, timeout=10)
    try:
        asyncio.run(publisher.publish(records))
    finally:
        asyncio.run(publisher.close())
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        partitions = sorted(consumer.partitions_for_topic(topic))
        assignment = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        ends = consumer.end_offsets(assignment)
        found: dict[bytes, int] = {}
        while any(consumer.position(p) < ends[p] for p in assignment):
            for part, batch in consumer.poll(timeout_ms=500).items():
                found.update((record.key, part.partition) for record in batch)
    finally:
        consumer.close()
    expected = {r.key: DefaultPartitioner()(r.key, partitions, partitions) for r in records}
    assert {key: found.get(key) for key in expected} == expected
    assert len(set(expected.values())) > 1, "all keys on one partition: the check proves nothing"
