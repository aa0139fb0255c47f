"""The sink's Prometheus metrics, read from the running `HistorySink` at scrape time.

Nothing here sits in the sink's insert path: the counters the sink keeps anyway
(`SinkCounters`, the buffered batches, the paused flag) are turned into metric families when
Prometheus asks, and insert latency is measured by wrapping the store the sink writes through.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from pantau.history.store import ClickHouseHistory
    from pantau_sink.app import HistorySink

TABLES = ("events", "alerts", "case_states", "alert_actions")


class SinkMetrics:
    """The sink's registry: insert latency by table, and the sink's own counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.insert_seconds = Histogram(
            "pantau_sink_insert_seconds",
            "Time of one INSERT into ClickHouse, by table and outcome (ok, failed).",
            ["table", "outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self._collector: _SinkCollector | None = None

    def watch(self, sink: HistorySink) -> None:
        """Report this sink's counters, buffered rows and pause from now on."""
        self._collector = _SinkCollector(sink)
        self.registry.register(self._collector)

    def timed(self, store: ClickHouseHistory) -> ClickHouseHistory:
        """`store`, with every `insert` timed into `pantau_sink_insert_seconds`."""
        return _TimedStore(store, self.insert_seconds)  # type: ignore[return-value]


class _TimedStore:
    """Delegates everything to the store; times `insert`."""

    def __init__(self, store: ClickHouseHistory, seconds: Histogram) -> None:
        self._store = store
        self._seconds = seconds

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Any]) -> None:
        started = time.perf_counter()
        outcome = "failed"
        try:
            self._store.insert(table, columns, rows)
            outcome = "ok"
        finally:
            self._seconds.labels(table, outcome).observe(time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _SinkCollector(Collector):
    def __init__(self, sink: HistorySink) -> None:
        self._sink = sink

    def collect(self) -> Iterator[Metric]:
        sink = self._sink
        counters = sink.counters
        rows = CounterMetricFamily(
            "pantau_sink_rows",
            "Rows stored in ClickHouse, by table (rate() gives rows/s).",
            labels=["table"],
        )
        invalid = CounterMetricFamily(
            "pantau_sink_invalid_records",
            "Records that could not be read into a row, by table (skipped; events go to the DLQ "
            "by the tracker).",
            labels=["table"],
        )
        for table in TABLES:
            rows.add_metric([table], counters.stored.get(table, 0))
            invalid.add_metric([table], counters.invalid.get(table, 0))
        yield rows
        yield invalid
        yield CounterMetricFamily(
            "pantau_sink_duplicate_events",
            "Events already chained for their case (redelivered or resent), not stored again.",
            value=counters.duplicates,
        )
        yield CounterMetricFamily(
            "pantau_sink_failed_inserts",
            "INSERTs that failed (ClickHouse down or refusing); the batch is retried.",
            value=counters.failed_inserts,
        )
        yield CounterMetricFamily(
            "pantau_sink_commits", "Offset commits after stored batches.", value=counters.commits
        )
        yield CounterMetricFamily(
            "pantau_sink_rebalances",
            "Partition assignments this sink took, its first included: a count that keeps "
            "rising says the group does not settle.",
            value=counters.rebalances,
        )
        pending = GaugeMetricFamily(
            "pantau_sink_pending_rows",
            "Records buffered in memory, not yet stored, by table.",
            labels=["table"],
        )
        for table, count in sorted(sink.pending_by_table.items()):
            pending.add_metric([table], count)
        yield pending
        yield GaugeMetricFamily(
            "pantau_sink_paused",
            "1 while consumption is paused because ClickHouse does not take inserts.",
            value=1.0 if sink.paused else 0.0,
        )
