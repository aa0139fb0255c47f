"""The fetcher's per-record hand-over runs in place, and still goes through Faust's own
`wait_first` (dropped when a rebalance stops the flow) whenever it has to wait."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from mode import Service

from pantau_tracker import stream_runtime

WHERE = contextvars.ContextVar("where", default="outside")


class Fetching(Service):
    """What the workaround reads of Faust's consumer: its callback, its suspend-flow event,
    and mode's `wait_first` (which counts its calls here)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suspend_flow = asyncio.Event()
        self.handed: list[str] = []
        self.gate: asyncio.Event | None = None
        self.faust_waits = 0
        self.finished: list[str] = []
        self.cancelled: list[str] = []

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:  # noqa: ASYNC109
        self.faust_waits += 1
        return await super().wait_first(*coros, timeout=timeout)

    async def callback(self, message: str) -> str:
        WHERE.set(f"in {message}")
        self.handed.append(message)
        if self.gate is not None:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled.append(message)
                raise
        self.finished.append(message)
        return f"handed {message}"

    def fetch(self, message: str) -> Any:
        """The fetcher's call for one record, as Faust makes it."""
        return self.wait_first(self.callback(message), self.suspend_flow.wait())


def _fetching() -> Fetching:
    fetching = Fetching()
    stream_runtime.hand_over_eagerly(fetching)
    fetching.faust_waits = 0
    return fetching


async def _held_hand_over() -> tuple[Fetching, asyncio.Event, asyncio.Future[Any]]:
    """A fetcher whose hand-over of `r1` waits at a closed gate, the gate, and the fetch."""
    fetching = _fetching()
    gate = fetching.gate = asyncio.Event()
    waiting = asyncio.ensure_future(fetching.fetch("r1"))
    await asyncio.sleep(0.01)  # one turn of the loop starts the hand-over
    return fetching, gate, waiting


def test_a_hand_over_that_does_not_wait_runs_in_place_with_faust_s_outcome() -> None:
    async def run() -> None:
        fetching = _fetching()
        tasks_before = len(asyncio.all_tasks())
        result = await fetching.fetch("r1")
        assert fetching.faust_waits == 0  # no task was made for it
        assert len(asyncio.all_tasks()) == tasks_before
        assert len(result.done) == 1
        assert result.results == ["handed r1"]
        assert not result.stopped
        assert fetching.finished == ["r1"]
        assert WHERE.get() == "outside"  # its context was its own, as in a task

    asyncio.run(run())


def test_a_hand_over_that_waits_finishes_through_faust_s_wait_first() -> None:
    async def run() -> None:
        fetching, gate, waiting = await _held_hand_over()
        assert fetching.handed == ["r1"]
        assert fetching.finished == []
        assert fetching.faust_waits == 1
        gate.set()
        result = await asyncio.wait_for(waiting, 1)
        assert fetching.finished == ["r1"]
        assert result.results == ["handed r1"]
        assert WHERE.get() == "outside"

    asyncio.run(run())


def test_a_waiting_hand_over_is_dropped_when_a_rebalance_stops_the_flow() -> None:
    async def run() -> None:
        fetching, _, waiting = await _held_hand_over()
        fetching.suspend_flow.set()
        await asyncio.wait_for(waiting, 1)
        await asyncio.sleep(0.01)
        assert fetching.cancelled == ["r1"]
        assert fetching.finished == []

    asyncio.run(run())


def test_with_the_flow_stopped_the_hand_over_goes_to_faust_s_wait_first_at_once() -> None:
    async def run() -> None:
        fetching = _fetching()
        fetching.suspend_flow.set()
        await fetching.fetch("r1")
        assert fetching.faust_waits == 1

    asyncio.run(run())


def test_other_waits_are_faust_s_own() -> None:
    async def run() -> None:
        fetching = _fetching()
        other = asyncio.Event()
        other.set()
        result = await fetching.wait_first(other.wait(), timeout=1.0)
        assert fetching.faust_waits == 1
        assert result.results == [True]

    asyncio.run(run())


def test_an_error_in_the_hand_over_reaches_the_fetcher() -> None:
    async def run() -> None:
        fetching = _fetching()

        async def failing(message: str) -> str:
            raise ValueError(message)

        fetching.callback = failing  # type: ignore[method-assign]
        stream_runtime.hand_over_eagerly(fetching)  # bound to the new callback
        with pytest.raises(ValueError, match="r1"):
            await fetching.fetch("r1")

    asyncio.run(run())
