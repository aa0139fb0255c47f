"""After a table restore, the tracker seeks its stream partitions back before it reads them.

Records fetched while the flow was stopped are dropped and must be fetched again. For a
partition the group never committed, "again" means from its beginning: seeking "to the
committed offset" would leave it where the dropped fetch had moved it, and its records would
never be handled.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.consumer.subscription_state import SubscriptionState

from pantau_tracker.stream_runtime import (
    check_placed_partitions_only,
    never_committed,
    seek_with_flow_stopped,
)

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


class _Client:
    """aiokafka's consumer at the port the check reads: its subscription state."""

    def __init__(self, subscriptions: SubscriptionState) -> None:
        self._fetcher = type("Fetcher", (), {"_subscriptions": subscriptions})()


class _CheckedConsumer:
    """Faust's consumer at the port of its stalled-stream check, which reads each partition's
    position from aiokafka as Faust's `verify_event_path` does."""

    def __init__(self, client: _Client) -> None:
        self._thread = type("Thread", (), {"_ensure_consumer": lambda _self: client})()
        self.checked: list[TopicPartition] = []

    def verify_event_path(self, now: float, tp: TopicPartition) -> None:
        state = self._thread._ensure_consumer()._fetcher._subscriptions.subscription.assignment
        state.state_value(tp).position  # noqa: B018 (aiokafka asserts there is one)
        self.checked.append(tp)


def test_the_stalled_stream_check_skips_a_partition_not_yet_placed() -> None:
    """A partition sent back to its beginning has no position until the reset is done; the
    check read it and aiokafka's assertion crashed the worker. It is now skipped until placed."""

    async def scenario() -> None:
        subscriptions = SubscriptionState()
        placed, resetting = TopicPartition(EVENTS, 0), TopicPartition(EVENTS, 1)
        subscriptions.assign_from_user({placed, resetting})
        subscriptions.seek(placed, 5)
        consumer = _CheckedConsumer(_Client(subscriptions))
        with pytest.raises(AssertionError):
            consumer.verify_event_path(0.0, resetting)
        check_placed_partitions_only(consumer)
        consumer.verify_event_path(0.0, resetting)
        consumer.verify_event_path(0.0, placed)
        assert consumer.checked == [placed]
        subscriptions.seek(resetting, 0)
        consumer.verify_event_path(0.0, resetting)
        assert consumer.checked == [placed, resetting]

    asyncio.run(scenario())
