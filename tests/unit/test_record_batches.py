"""A tracker batch's alerts and case views, sent as one aiokafka record batch per partition.

The Kafka client is faked at the calls `RecordBatches` makes; the record batches are aiokafka's
own builders, read back with its own reader, and the partitions its default partitioner's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from pantau_tracker.stream_runtime import Placements, RecordBatches

PARTITIONS = {"alerts": 12, "cases": 3}


class FakeClient:
    def __init__(self) -> None:
        self.metadata_waits: list[str] = []

    async def _wait_on_metadata(self, topic: str) -> None:
        self.metadata_waits.append(topic)


class FakeMetadata:
    def __init__(self) -> None:
        self.partitions = dict(PARTITIONS)

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions[topic]))


class FakeKafka:
    """The calls of aiokafka's producer that `RecordBatches` uses, sending nowhere."""

    def __init__(self, batch_size: int) -> None:
        self.client = FakeClient()
        self._metadata = FakeMetadata()
        self.batch_size = batch_size
        self.partitioner = DefaultPartitioner()
        self.placed: list[tuple[str, bytes]] = []
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes | None]], bool]] = []

    def _partition(self, topic: str, partition: Any, key: bytes, *_: Any) -> int:
        assert partition is None
        self.placed.append((topic, key))
        everyone = sorted(self._metadata.partitions_for_topic(topic))
        return int(self.partitioner(key, everyone, everyone))

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)  # no compression

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> str:
        closed = batch._closed  # before reading it back, which closes it
        records = [(r.key, r.value) for r in DefaultRecordBatch(bytes(batch._build()))]
        self.sent.append((topic, partition, records, closed))
        return f"future {len(self.sent)}"


def send(records: RecordBatches, kafka: FakeKafka) -> list[Any]:
    return asyncio.run(records.send(type("Producer", (), {"_producer": kafka})()))


def test_each_record_goes_once_in_order_to_the_partition_of_its_key() -> None:
    kafka = FakeKafka(batch_size=512 * 1024)
    records = RecordBatches()
    queued: list[tuple[str, bytes, bytes | None]] = []
    for n in range(200):
        key = f"kota-malang.dpmptsp|PBG-{n % 37:04d}".encode()
        topic = "alerts" if n % 3 else "cases"
        value = None if n % 50 == 49 else f'{{"n":{n}}}'.encode()  # tombstones too
        records.add(topic, key, value)
        queued.append((topic, key, value))
    assert len(records) == 200

    futures = send(records, kafka)

    assert futures == [f"future {n}" for n in range(1, len(kafka.sent) + 1)]
    assert sorted(set(kafka.client.metadata_waits)) == ["alerts", "cases"]
    assert all(closed for *_, closed in kafka.sent)  # none lingers: the sender takes it at once
    assert len({(topic, partition) for topic, partition, *_ in kafka.sent}) == len(kafka.sent)
    for topic, partition, sent, _ in kafka.sent:
        expected = [
            (key, value)
            for t, key, value in queued
            if t == topic and kafka._partition(t, None, key) == partition
        ]
        assert sent == expected
    assert sum(len(sent) for _, _, sent, _ in kafka.sent) == 200
    assert len(records) == 0
    assert send(records, kafka) == []  # sent once: nothing is queued any more


def test_a_partition_beyond_one_batch_is_split_in_order_and_a_large_record_still_goes() -> None:
    kafka = FakeKafka(batch_size=1024)
    records = RecordBatches()
    key = b"kota-malang.dpmptsp|PBG-0001"
    values = [f'{{"n":{n},"pad":"{"x" * 200}"}}'.encode() for n in range(20)]
    values.insert(7, b"y" * 5000)  # more than a whole batch: a batch of its own
    for value in values:
        records.add("cases", key, value)

    send(records, kafka)

    assert len(kafka.sent) > 2
    home = kafka._partition("cases", None, key)
    assert {partition for _, partition, _, _ in kafka.sent} == {home}
    assert [value for *_, sent, _ in kafka.sent for _, value in sent] == values
    assert any(sent == [(key, b"y" * 5000)] for *_, sent, _ in kafka.sent)


def test_placements_are_kept_between_batches_until_a_topic_changes_or_the_bound() -> None:
    kafka = FakeKafka(batch_size=512 * 1024)
    placements = Placements(kept=50)
    keys = [f"kota-malang.dpmptsp|PBG-{n:04d}".encode() for n in range(30)]

    def batch(topics: tuple[str, ...], chosen: list[bytes]) -> list[tuple[str, int, bytes]]:
        records = RecordBatches(placements)
        for key in chosen:
            for topic in topics:
                records.add(topic, key, b"{}")
        kafka.placed.clear()
        kafka.sent.clear()
        send(records, kafka)
        return [(t, p, k) for t, p, sent, _ in kafka.sent for k, _ in sent if k is not None]

    first = batch(("alerts", "cases"), keys)
    assert sorted(kafka.placed) == sorted((t, k) for t in ("alerts", "cases") for k in keys)
    again = batch(("alerts", "cases"), keys[:10])
    assert kafka.placed == []  # kept from the first batch
    assert set(again) <= set(first)
    for topic, partition, key in again:
        assert partition == kafka._partition(topic, None, key)

    kafka._metadata.partitions["cases"] = 6  # the topic grew: placed anew, on 6 partitions
    grown = batch(("alerts", "cases"), keys[:10])
    assert sorted(kafka.placed) == sorted(("cases", k) for k in keys[:10])
    assert {p for t, p, _ in grown if t == "cases"} <= set(range(6))
    for topic, partition, key in grown:
        assert partition == kafka._partition(topic, None, key)

    batch(("alerts",), keys[:20] + [b"x|%d" % n for n in range(40)])  # passes the bound of 50
    batch(("alerts",), keys[:5])
    assert sorted(kafka.placed) == sorted(("alerts", k) for k in keys[:5])  # forgotten at 50
