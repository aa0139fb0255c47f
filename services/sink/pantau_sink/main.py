"""`pantau sink`: the history of record, written from Kafka into ClickHouse.

The composition root: settings, logging, the ClickHouse store, the consumer, the metrics
server and the loop (`pantau_sink.app`), started and stopped on signals.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime

import orjson

from pantau.cli import start
from pantau.collector import quiet_collector
from pantau.core.catalog import Catalog, CatalogError, load_catalog, parse_catalog
from pantau.history.records import (
    SERVICE_STANDARD_COLUMNS,
    SERVICE_STEP_COLUMNS,
    standard_rows,
)
from pantau.history.store import ClickHouseHistory, connect
from pantau.metrics import MetricsServer
from pantau_sink.adapters.metrics import SinkMetrics
from pantau_sink.app import CheckpointWriter, HistorySink, Rebalance, build_consumer
from pantau_sink.settings import SinkSettings

log = logging.getLogger("pantau.sink")


def store_standards(store: ClickHouseHistory, catalog: Catalog, now: datetime) -> None:
    """Record the sink's own catalog as version 0 of the service standards (what cases judged
    while no version was published are compared against), and the services and steps of every
    stored version that has none yet (versions stored before the table had versions)."""
    services, steps = standard_rows(catalog, now)
    store.insert("service_standards", SERVICE_STANDARD_COLUMNS, services)
    store.insert("service_steps", SERVICE_STEP_COLUMNS, steps)
    for table, columns, part in (
        ("service_standards", SERVICE_STANDARD_COLUMNS, 0),
        ("service_steps", SERVICE_STEP_COLUMNS, 1),
    ):
        missing = store.query(
            "SELECT version, argMax(valid_from, stored_at), argMax(catalog, stored_at) "
            f"FROM standards WHERE version NOT IN (SELECT version FROM {table}) "
            "GROUP BY version ORDER BY version"
        )
        for number, valid_from, document in missing:
            try:
                catalog_of = parse_catalog(orjson.loads(document), f"standards version {number}")
            except (ValueError, CatalogError) as error:
                log.error("standards version %d in ClickHouse does not validate: %s", number, error)
                continue
            rows = standard_rows(
                catalog_of, now, version=number, valid_from=valid_from.replace(tzinfo=UTC)
            )
            store.insert(table, columns, rows[part])
            log.info("stored the %s of standards version %d", table.replace("_", " "), number)


def writer_name() -> str:
    """A name unique to this sink process, for its checkpoint file."""
    return f"{socket.gethostname()}-{os.getpid()}-{int(time.time())}"


def main(argv: list[str]) -> int:
    settings = start("sink", __doc__.splitlines()[0], SinkSettings, argv)
    catalog = load_catalog(settings.catalog)
    metrics = SinkMetrics()
    store = metrics.timed(ClickHouseHistory(connect(settings.clickhouse_target)))
    if settings.sink_load_standards:
        loaded = False
        while not loaded:
            try:
                store_standards(store, catalog, datetime.now(UTC))
                loaded = True
            except Exception as error:  # ClickHouse not up yet: wait for it like for a batch
                log.warning("could not store the service standards yet: %s", error)
                time.sleep(settings.sink_retry_max_seconds)
    checkpoints = None
    if settings.checkpoint_key is not None:
        key = settings.checkpoint_key.get_secret_value().encode("utf-8")
        checkpoints = CheckpointWriter(settings.checkpoint_dir, key, writer_name())
    else:
        log.warning("PANTAU_CHECKPOINT_KEY unset: no signed checkpoints of chain heads")
    listener = Rebalance()
    consumer = build_consumer(settings, listener)
    sink = HistorySink(settings, catalog, store, consumer, checkpoints)
    listener.sink = sink
    metrics.watch(sink)
    server = _serve_metrics(metrics, settings, sink)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    log.info("sink: %s -> %s", ", ".join(sink.topics), settings.clickhouse_target.database)
    quiet_collector()
    try:
        sink.run(stop)
    finally:
        sink.close()
        consumer.close(autocommit=False)
        store.close()
        if server is not None:
            server.close()
        log.info("sink stopped: %s", sink.counters)
    return 0


def _serve_metrics(
    metrics: SinkMetrics, settings: SinkSettings, sink: HistorySink
) -> MetricsServer | None:
    # The history of record must not stop for a metrics port someone else holds: the error is
    # logged, and Prometheus reports the target down.
    try:
        server = MetricsServer(
            metrics.registry,
            settings.sink_metrics_host,
            settings.sink_metrics_port,
            ready=lambda: not sink.paused,
        ).start()
    except OSError as error:
        log.error(
            "cannot serve /metrics on %s:%d (%s); the sink runs without it",
            settings.sink_metrics_host,
            settings.sink_metrics_port,
            error,
        )
        return None
    log.info("metrics at http://%s:%d/metrics", settings.sink_metrics_host, server.port)
    return server
