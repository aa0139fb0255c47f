"""The sink's Kafka consumer: aiokafka, driven from the sink's own (blocking) thread.

aiokafka parses record batches in compiled code, several times faster per record than
kafka-python; the sink's loop and ClickHouse's blocking client stay on the sink's thread. The
consumer lives on an event loop in a thread of its own, and this class offers the sink the
calls it makes (`poll`, `pause`, `resume`, `paused`, `assignment`, `commit`, `close`), each run
on that loop while the sink's thread waits for its result.

Rebalance callbacks are run on the sink's thread too, never on the loop: when the group takes
partitions away, aiokafka waits in the listener while the sink's thread (inside `poll`, or at
its next call) stores what it holds and commits, so no other thread touches the sink's state
and no ClickHouse call blocks the loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, Collection, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError as AioKafkaError
from aiokafka.structs import TopicPartition
from kafka.errors import KafkaError

log = logging.getLogger("pantau.sink")

T = TypeVar("T")

# How often the sink's thread, waiting for a fetch, looks for a rebalance callback to run.
_CALLBACK_CHECK_SECONDS = 0.05


class PartitionListener(Protocol):
    """What the sink does when partitions move (called on the sink's thread)."""

    def on_partitions_revoked(self, revoked: Collection[Any]) -> None: ...

    def on_partitions_assigned(self, assigned: Collection[Any]) -> None: ...


class KafkaSource(Protocol):
    """The consumer calls the sink makes (this module's `ThreadedConsumer`, or a test's fake)."""

    def poll(self, timeout_ms: int = 0) -> Mapping[Any, list[Any]]: ...

    def assignment(self) -> set[Any]: ...

    def paused(self) -> set[Any]: ...

    def pause(self, *partitions: Any) -> None: ...

    def resume(self, *partitions: Any) -> None: ...

    def commit(self, offsets: Mapping[Any, Any]) -> None: ...


class CommitError(KafkaError):  # type: ignore[misc]
    """An offset commit Kafka refused (e.g. the group rebalanced meanwhile)."""


class _Bridge(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's listener: hands each callback to the sink's thread and waits for it."""

    def __init__(self, owner: ThreadedConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        await self._owner._handed_over("revoked", set(revoked))

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        await self._owner._handed_over("assigned", set(assigned))


class ThreadedConsumer:
    """An aiokafka consumer subscribed to `topics`, used from one other (blocking) thread."""

    def __init__(
        self,
        topics: list[str],
        listener: PartitionListener,
        *,
        max_poll_records: int,
        **config: Any,
    ) -> None:
        self._listener = listener
        self._max_records = max_poll_records
        self._callbacks: queue.SimpleQueue[tuple[str, set[TopicPartition], Future[None]]] = (
            queue.SimpleQueue()
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="pantau-sink-kafka", daemon=True
        )
        self._thread.start()
        try:
            self._consumer = self._run(self._start(topics, max_poll_records, config))
        except BaseException:
            self._stop_loop()
            raise

    async def _start(
        self, topics: list[str], max_poll_records: int, config: dict[str, Any]
    ) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(max_poll_records=max_poll_records, **config)
        consumer.subscribe(topics, listener=_Bridge(self))
        await consumer.start()
        return consumer

    # --- running things on the loop, waiting on the sink's thread -------------------------------

    def _run(self, work: Awaitable[T]) -> T:
        """Run `work` on the loop; meanwhile run any rebalance callback it waits for."""
        future = asyncio.run_coroutine_threadsafe(_awaited(work), self._loop)
        while True:
            self._run_callbacks()
            try:
                return future.result(timeout=_CALLBACK_CHECK_SECONDS)
            except FutureTimeout:
                continue

    def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Call a plain consumer method on the loop's thread."""

        async def call() -> T:
            return function(*args)

        return self._run(call())

    async def _handed_over(self, kind: str, partitions: set[TopicPartition]) -> None:
        done: Future[None] = Future()
        self._callbacks.put((kind, partitions, done))
        await asyncio.wrap_future(done)

    def _run_callbacks(self) -> None:
        while True:
            try:
                kind, partitions, done = self._callbacks.get_nowait()
            except queue.Empty:
                return
            try:
                if kind == "revoked":
                    self._listener.on_partitions_revoked(partitions)
                else:
                    self._listener.on_partitions_assigned(partitions)
            except Exception:  # the group must go on; the sink logs its own failures
                log.exception("rebalance callback (%s) failed", kind)
            finally:
                done.set_result(None)

    # --- what the sink calls --------------------------------------------------------------------

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Any]]:
        """Records fetched since the last poll (at most `max_poll_records`), by partition."""
        return self._run(
            self._consumer.getmany(timeout_ms=timeout_ms, max_records=self._max_records)
        )

    def assignment(self) -> set[TopicPartition]:
        return set(self._call(self._consumer.assignment))

    def paused(self) -> set[TopicPartition]:
        return set(self._call(self._consumer.paused))

    def pause(self, *partitions: TopicPartition) -> None:
        self._call(self._consumer.pause, *partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._call(self._consumer.resume, *partitions)

    def commit(self, offsets: Mapping[Any, Any]) -> None:
        """Commit the next offsets to read (values: an offset, or anything with `.offset`);
        raises `CommitError` (a kafka-python `KafkaError`) when Kafka refuses."""
        plain = {
            TopicPartition(tp.topic, tp.partition): getattr(value, "offset", value)
            for tp, value in offsets.items()
        }
        try:
            self._run(self._consumer.commit(plain))
        except AioKafkaError as error:
            raise CommitError(str(error)) from error

    def close(self, autocommit: bool = False) -> None:
        """Leave the group and stop the loop; nothing is committed (`autocommit` is ignored:
        the sink commits only what it stored)."""
        del autocommit
        try:
            self._run(self._consumer.stop())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()


async def _awaited(work: Awaitable[T]) -> T:
    return await work
