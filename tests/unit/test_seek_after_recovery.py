"""After a table restore, the tracker seeks its stream partitions back before it reads them.

Records fetched while the flow was stopped are dropped and must be fetched again. For a
partition the group never committed, "again" means from its beginning: seeking "to the
committed offset" would leave it where the dropped fetch had moved it, and its records would
never be handled.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition

from pantau_tracker.stream_runtime import never_committed, seek_with_flow_stopped

EVENTS = "p.events"
CHANGELOG = "p.tracker-cases-changelog"


class Tables:
    changelog_topics = frozenset({CHANGELOG})


class App:
    tables = Tables()


class Thread:
    def __init__(self) -> None:
        self.to_beginning: list[TopicPartition] = []

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self.to_beginning.extend(partitions)


class Consumer:
    """Faust's consumer at the port the tracker changes: its seek asks for the committed
    offsets through `seek_to_committed`, as Faust's `Consumer.perform_seek` does."""

    def __init__(self, committed: dict[TopicPartition, int | None]) -> None:
        self.app = App()
        self._thread = Thread()
        self.committed = committed
        self.flow_active = True
        self.read_offset: dict[TopicPartition, int | None] = {}

    def stop_flow(self) -> None:
        self.flow_active = False

    async def seek_to_committed(self) -> dict[TopicPartition, int | None]:
        return dict(self.committed)

    async def perform_seek(self) -> None:
        self.read_offset.update(await self.seek_to_committed())


def test_a_partition_never_committed_goes_back_to_its_beginning_and_no_other() -> None:
    committed: dict[TopicPartition, int | None] = {
        TopicPartition(EVENTS, 0): 120,  # committed: the seek itself puts it there
        TopicPartition(EVENTS, 1): None,  # never committed
        TopicPartition(EVENTS, 2): 0,  # committed at the start: the beginning as well
        TopicPartition(CHANGELOG, 1): None,  # table recovery places changelog partitions
    }
    consumer: Any = Consumer(committed)
    seek_with_flow_stopped(consumer)
    asyncio.run(consumer.perform_seek())
    assert not consumer.flow_active
    assert consumer._thread.to_beginning == [TopicPartition(EVENTS, 1), TopicPartition(EVENTS, 2)]
    # Faust's own bookkeeping still gets the committed offsets it asked for.
    assert consumer.read_offset == committed


def test_nothing_is_sent_back_when_every_stream_partition_is_committed() -> None:
    consumer: Any = Consumer({TopicPartition(EVENTS, 0): 7, TopicPartition(CHANGELOG, 0): None})
    seek_with_flow_stopped(consumer)
    asyncio.run(consumer.perform_seek())
    # An empty call would send every assigned partition back: it is not made.
    assert consumer._thread.to_beginning == []


def test_never_committed_orders_by_topic_and_partition() -> None:
    committed = {
        TopicPartition("b", 1): None,
        TopicPartition("a", 3): None,
        TopicPartition("a", 2): 0,
    }
    assert never_committed(committed, []) == [
        TopicPartition("a", 2),
        TopicPartition("a", 3),
        TopicPartition("b", 1),
    ]
