"""Fetches held at the broker while records flow steadily, answered at once otherwise."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pantau_tracker.stream_runtime import (
    HOLD_FROM_EVENTS_PER_S,
    HOLD_UP_TO_LAG,
    FetchHold,
    should_hold_fetches,
)


@pytest.mark.parametrize(
    ("events_per_s", "lag", "held"),
    [
        (0.0, 0, False),  # idle: the long poll answers at the first record
        (HOLD_FROM_EVENTS_PER_S - 1, 0, False),  # a trickle
        (HOLD_FROM_EVENTS_PER_S, 0, True),
        (800.0, HOLD_UP_TO_LAG, True),  # a steady flow kept up with
        (800.0, HOLD_UP_TO_LAG + 1, False),  # a backlog: never stalled behind a held fetch
        (5.0, 50_000, False),
    ],
)
def test_fetches_are_held_only_while_records_flow_and_the_worker_keeps_up(
    events_per_s: float, lag: int, held: bool
) -> None:
    assert should_hold_fetches(events_per_s, lag) is held


def consumer_with(fetcher: Any) -> Any:
    """The shape of Faust's thread-delegating consumer around aiokafka's fetcher."""
    return SimpleNamespace(_thread=SimpleNamespace(_consumer=SimpleNamespace(_fetcher=fetcher)))


def test_holding_sets_the_fetch_settings_and_letting_go_restores_the_consumers_own() -> None:
    fetcher = SimpleNamespace(_fetch_min_bytes=1, _fetch_max_wait_ms=1500)
    hold = FetchHold(consumer_with(fetcher), min_bytes=65_536, max_wait_ms=20)
    assert hold.update(200.0, 0) is True
    assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == (65_536, 20)
    assert hold.holding
    assert hold.update(200.0, 50_000) is False
    assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == (1, 1500)
    assert hold.update(200.0, 0) is True
    assert hold.update(0.0, 0) is False
    assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == (1, 1500)


def test_a_hold_of_zero_milliseconds_never_holds() -> None:
    fetcher = SimpleNamespace(_fetch_min_bytes=1, _fetch_max_wait_ms=1500)
    hold = FetchHold(consumer_with(fetcher), min_bytes=65_536, max_wait_ms=0)
    assert hold.update(800.0, 0) is False
    assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == (1, 1500)


def test_nothing_changes_before_the_consumer_has_started() -> None:
    hold = FetchHold(SimpleNamespace(_thread=SimpleNamespace(_consumer=None)), 65_536, 20)
    assert hold.update(800.0, 0) is False
    assert not hold.holding


def test_a_fetcher_without_the_settings_is_left_alone_for_good() -> None:
    fetcher = SimpleNamespace(min_bytes=1)  # another client version: nothing to switch
    hold = FetchHold(consumer_with(fetcher), min_bytes=65_536, max_wait_ms=20)
    assert hold.update(800.0, 0) is False
    assert vars(fetcher) == {"min_bytes": 1}
    fetcher._fetch_min_bytes = 1
    fetcher._fetch_max_wait_ms = 1500
    assert hold.update(800.0, 0) is False  # disabled once found missing
