"""A partition whose stream buffer drained ends the fetcher's wait for records at once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from pantau_tracker.stream_runtime import wake_fetch_on_buffer_drop


@pytest.fixture
def thread_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running on a thread of its own, as the consumer's runs in Faust."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def faust_consumer(fetcher: Any) -> Any:
    """The parts of Faust's consumer the wake uses: its buffer-drop callback (which puts the
    partition back among the active ones), the partitions paused by a full buffer, and
    aiokafka's fetcher inside its consumer thread."""
    consumer = SimpleNamespace(
        _buffered_partitions=set(),
        _active_partitions=set(),
        _thread=SimpleNamespace(_consumer=SimpleNamespace(_fetcher=fetcher)),
    )

    def on_buffer_drop(tp: str) -> None:
        if tp in consumer._buffered_partitions:
            consumer._buffered_partitions.discard(tp)
            consumer._active_partitions.add(tp)

    consumer.on_buffer_drop = on_buffer_drop
    return consumer


def waiting(loop: asyncio.AbstractEventLoop, fetcher: Any) -> asyncio.Future[None]:
    """A fetch waiter made on the consumer's loop, as `fetched_records` makes one."""

    async def make() -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = loop.create_future()
        fetcher._fetch_waiters.add(waiter)
        return waiter

    return asyncio.run_coroutine_threadsafe(make(), loop).result(timeout=5)


def settled(loop: asyncio.AbstractEventLoop) -> None:
    """Return once every callback scheduled on the loop before this call has run."""
    done = threading.Event()
    loop.call_soon_threadsafe(done.set)
    assert done.wait(timeout=5)


def test_a_drained_partition_wakes_the_fetcher_waiting_on_its_thread(
    thread_loop: asyncio.AbstractEventLoop,
) -> None:
    fetcher = SimpleNamespace(_fetch_waiters=set(), _loop=thread_loop)
    consumer = faust_consumer(fetcher)
    consumer._buffered_partitions.add("events-3")
    wake_fetch_on_buffer_drop(consumer)
    waiter = waiting(thread_loop, fetcher)

    consumer.on_buffer_drop("events-3")

    settled(thread_loop)
    assert waiter.done()
    assert consumer._active_partitions == {"events-3"}  # Faust's own callback still ran


def test_a_drop_of_a_partition_that_was_not_paused_wakes_nothing(
    thread_loop: asyncio.AbstractEventLoop,
) -> None:
    fetcher = SimpleNamespace(_fetch_waiters=set(), _loop=thread_loop)
    consumer = faust_consumer(fetcher)
    wake_fetch_on_buffer_drop(consumer)
    waiter = waiting(thread_loop, fetcher)

    consumer.on_buffer_drop("events-3")

    settled(thread_loop)
    assert not waiter.done()
    thread_loop.call_soon_threadsafe(waiter.cancel)


def test_many_partitions_back_at_once_wake_once_and_later_drops_wake_again(
    thread_loop: asyncio.AbstractEventLoop,
) -> None:
    fetcher = SimpleNamespace(_fetch_waiters=set(), _loop=thread_loop)
    consumer = faust_consumer(fetcher)
    wakes: list[object] = []
    call_soon_threadsafe = thread_loop.call_soon_threadsafe

    def counted(callback: Any, *args: Any) -> Any:
        wakes.append(callback)
        return call_soon_threadsafe(callback, *args)

    fetcher._loop = SimpleNamespace(call_soon_threadsafe=counted, is_closed=lambda: False)
    consumer._buffered_partitions.update(f"events-{n}" for n in range(12))
    wake_fetch_on_buffer_drop(consumer)
    first = waiting(thread_loop, fetcher)
    busy = threading.Event()
    call_soon_threadsafe(busy.wait, 5)  # the consumer's thread busy while all twelve come back
    for n in range(12):
        consumer.on_buffer_drop(f"events-{n}")
    busy.set()
    settled(thread_loop)
    assert first.done()
    assert len(wakes) == 1

    consumer._buffered_partitions.add("events-5")
    second = waiting(thread_loop, fetcher)
    consumer.on_buffer_drop("events-5")
    settled(thread_loop)
    assert second.done()
    assert len(wakes) == 2


def test_before_the_consumer_started_a_drop_only_does_what_faust_does() -> None:
    consumer = faust_consumer(None)
    consumer._thread = SimpleNamespace(_consumer=None)
    consumer._buffered_partitions.add("events-1")
    wake_fetch_on_buffer_drop(consumer)
    consumer.on_buffer_drop("events-1")
    assert consumer._active_partitions == {"events-1"}
