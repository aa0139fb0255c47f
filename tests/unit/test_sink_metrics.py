"""The sink's metrics report what the sink counted, holds and whether it is paused."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from prometheus_client import generate_latest

from pantau.history.store import ClickHouseHistory
from pantau_sink.adapters.metrics import SinkMetrics
from pantau_sink.app import HistorySink, SinkCounters


@dataclass
class SinkState:
    """What the metrics read from a running HistorySink."""

    counters: SinkCounters = field(default_factory=SinkCounters)
    pending_by_table: dict[str, int] = field(default_factory=dict)
    paused: bool = False


class Store:
    def __init__(self) -> None:
        self.fail = False
        self.closed = False

    def insert(self, table: str, columns: Any, rows: Any) -> None:
        if self.fail:
            raise ConnectionError("ClickHouse is down")

    def close(self) -> None:
        self.closed = True


def test_counters_pending_rows_and_pause_are_reported() -> None:
    """Rows by table, failed inserts, pending rows by table and the pause, as counted."""
    state = SinkState()
    metrics = SinkMetrics()
    metrics.watch(cast(HistorySink, state))  # the fields the metrics read, and only those
    state.counters.add(state.counters.stored, "events", 7)
    state.counters.failed_inserts = 2
    state.pending_by_table = {"events": 3, "alerts": 0}
    state.paused = True
    text = generate_latest(metrics.registry).decode()
    assert 'pantau_sink_rows_total{table="events"} 7.0' in text
    assert 'pantau_sink_rows_total{table="alerts"} 0.0' in text
    assert "pantau_sink_failed_inserts_total 2.0" in text
    assert 'pantau_sink_pending_rows{table="events"} 3.0' in text
    assert "pantau_sink_paused 1.0" in text


def test_inserts_are_timed_by_table_and_outcome_and_the_store_is_otherwise_untouched() -> None:
    """A timed store counts ok and failed INSERTs, re-raises the failure, delegates the rest."""
    metrics = SinkMetrics()
    store = Store()
    timed = metrics.timed(cast(ClickHouseHistory, store))  # insert and close, as the store has
    timed.insert("events", [], [(1,)])
    store.fail = True
    with pytest.raises(ConnectionError):
        timed.insert("events", [], [(1,)])
    timed.close()
    assert store.closed
    text = generate_latest(metrics.registry).decode()
    assert 'pantau_sink_insert_seconds_count{outcome="ok",table="events"} 1.0' in text
    assert 'pantau_sink_insert_seconds_count{outcome="failed",table="events"} 1.0' in text
