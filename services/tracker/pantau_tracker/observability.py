"""The tracker's Prometheus metrics, served on its web port at `/metrics`.

Names and labels as `deploy/observability/README.md` lists them; labels are partitions, rule ids
and DLQ error codes only, never a case, an officer or an applicant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


class TrackerGauges(Collector):
    """Gauges read at scrape time from the running worker."""

    def __init__(
        self,
        lag: Callable[[], Mapping[int, int]],
        due_depth: Callable[[], int],
        oldest_overdue: Callable[[], float],
        ready: Callable[[], bool],
        held: Callable[[], int] = lambda: 0,
        fetches_held: Callable[[], bool] = lambda: False,
    ) -> None:
        self._lag = lag
        self._due_depth = due_depth
        self._oldest_overdue = oldest_overdue
        self._ready = ready
        self._held = held
        self._fetches_held = fetches_held

    def collect(self) -> Iterable[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "pantau_tracker_consumer_lag",
            "Records of the events topic not yet processed, by partition",
            labels=["partition"],
        )
        for partition, behind in sorted(self._lag().items()):
            lag.add_metric([str(partition)], behind)
        yield lag
        yield GaugeMetricFamily(
            "pantau_tracker_due_queue_depth", "Cases with a due timer", value=self._due_depth()
        )
        yield GaugeMetricFamily(
            "pantau_tracker_oldest_unchecked_overdue_seconds",
            "How far past its time the oldest due timer not yet checked is (0: none)",
            value=self._oldest_overdue(),
        )
        yield GaugeMetricFamily(
            "pantau_tracker_held_steps",
            "Steps the cross-case rules hold until the event-time watermark passes them",
            value=self._held(),
        )
        yield GaugeMetricFamily(
            "pantau_tracker_fetches_held",
            "1 while the broker holds the worker's fetches to gather records (a steady flow "
            "kept up with), 0 while it answers them at once (idle, a trickle, a backlog)",
            value=1.0 if self._fetches_held() else 0.0,
        )
        yield GaugeMetricFamily(
            "pantau_tracker_ready",
            "1 once the worker has recovered its state and is consuming",
            value=1.0 if self._ready() else 0.0,
        )


class TrackerCounters:
    """The counters and the batch-size histogram the agents update."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "pantau_tracker_events",
            "Events handled, by partition",
            ["partition"],
            registry=registry,
        )
        self.checks = Counter(
            "pantau_tracker_checks",
            "Due-timer checks handled, by partition",
            ["partition"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "pantau_tracker_batch_size",
            "Records per folded batch",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.alerts = Counter(
            "pantau_tracker_alerts", "Alerts raised, by rule", ["rule"], registry=registry
        )
        self.late_steps = Counter(
            "pantau_tracker_late_steps",
            "Steps the cross-case rules judged on arrival, behind the event-time watermark",
            registry=registry,
        )
        self.redelivered = Counter(
            "pantau_tracker_redelivered_records",
            "Records of the oversight topic read again after a restart or a rebalance and "
            "skipped, their effects already in the state",
            registry=registry,
        )
        self.rebalances = Counter(
            "pantau_tracker_rebalances",
            "Partition assignments the worker took, its first included: a count that keeps "
            "rising says the group does not settle",
            registry=registry,
        )
        self.dlq = Counter(
            "pantau_tracker_dlq",
            "Records sent to the DLQ, by pantau.error code",
            ["error"],
            registry=registry,
        )
