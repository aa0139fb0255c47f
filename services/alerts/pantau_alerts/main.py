"""`pantau alerts`: the composition root — settings, Kafka, webhooks, the API, uvicorn."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from pantau.adapters.kafka_topics import ensure_topics
from pantau.adapters.standards_topic import StandardsFollower, log_version
from pantau.cli import http_server_config, start
from pantau.core.catalog import Catalog, CatalogError, load_catalog
from pantau.core.standards import StandardVersion
from pantau_alerts.adapters.kafka_logs import KafkaLogs, deliveries_topic_spec
from pantau_alerts.adapters.webhooks import HttpWebhookPoster
from pantau_alerts.api import create_app
from pantau_alerts.delivery import DeliveryDispatcher
from pantau_alerts.desk import AlertDesk
from pantau_alerts.domain.operators import OperatorDirectory, OperatorsError
from pantau_alerts.domain.routing import RoutesError, RoutingTable
from pantau_alerts.settings import AlertsSettings

log = logging.getLogger("pantau.alerts")

# `pantau alerts --help`
DESCRIPTION = (
    "Operators' alert API, live stream and dashboard; configured by PANTAU_* "
    "variables (see `pantau --help`)."
)

RESTART_DELAY_S = 2.0
DIGEST_CHECK_S = 60.0


def utc_now() -> datetime:
    """The adapters' clock; the core only ever gets times passed in."""
    return datetime.now(UTC)


class AlertsRuntime:
    """The adapters around one desk: the Kafka reader, the standards follower and (when
    enabled) the webhook dispatcher, started and stopped with the app."""

    def __init__(
        self,
        settings: AlertsSettings,
        routes: RoutingTable,
        catalog: Catalog | None,
        follow_standards: bool = False,
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.catalog = catalog
        self.dispatcher: DeliveryDispatcher | None = None
        self.poster: HttpWebhookPoster | None = None
        topics = settings.topics
        self.logs = KafkaLogs(
            settings.kafka_servers,
            handlers={
                topics.alerts: lambda _k, v: self.desk.on_alert(v),
                topics.alert_actions: lambda _k, v: self.desk.on_action(v),
                topics.cases: lambda k, v: self.desk.on_case(k, v),
                settings.deliveries_topic: lambda _k, v: self.desk.on_delivery(v),
            },
            action_topic=topics.alert_actions,
            delivery_topic=settings.deliveries_topic,
            on_caught_up=self.caught_up,
            client_id=f"{settings.topic_prefix}alerts",
        )
        self.desk = AlertDesk(self.logs, catalog, utc_now)
        self.follower: StandardsFollower | None = None
        if follow_standards:
            self.follower = StandardsFollower(
                settings.kafka_servers,
                topics.standards,
                self.use_standards,
                client_id=f"{settings.topic_prefix}alerts-standards",
            )

    def caught_up(self) -> None:
        """The logs are read to where they ended at start: answer, and deliver from now on."""
        if self.desk.ready:
            return
        self.desk.ready = True
        if self.dispatcher is not None:
            self.dispatcher.catch_up()
            self.desk.alert_listeners.append(self.dispatcher.submit)

    def use_standards(self, version: StandardVersion) -> None:
        """Keep a version read from the standards topic: each case's timeline is drawn with the
        version it follows, each digest with the version in force on its day."""
        if self.desk.standards.learn(version):
            log_version(log, version)

    async def follow_logs(self) -> None:
        # Re-reading after a failed start is safe: every record folds in idempotently.
        while True:
            try:
                await self.logs.start()
                await self.logs.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Kafka reader failed; retrying in %.0f s", RESTART_DELAY_S)
                await self.logs.stop()
                await asyncio.sleep(RESTART_DELAY_S)

    async def send_digests(self) -> None:
        # Yesterday's digests go out soon after each local midnight; the outcome records make
        # the check idempotent, so checking every minute sends each one once.
        while True:
            await asyncio.sleep(DIGEST_CHECK_S)
            if self.dispatcher is not None and self.desk.ready:
                self.dispatcher.send_digests()

    def delivery_metrics(self, registry: CollectorRegistry) -> None:
        """The webhook dispatcher's metrics, when this instance delivers."""
        dispatcher = self.dispatcher
        if dispatcher is None:
            return
        outcomes = Gauge(
            "pantau_alerts_webhook_outcomes",
            "final webhook outcomes recorded here",
            ["status"],
            registry=registry,
        )
        for status, count in dispatcher.outcomes.items():
            outcomes.labels(status).set(count)
        Gauge(
            "pantau_alerts_webhook_attempts", "webhook attempts made here", registry=registry
        ).set(dispatcher.attempts_made)
        registry.register(_DeliveryCounters(dispatcher))

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        """Start the dispatcher (when enabled), the reader, the digests and the follower; stop
        them, drain the deliveries and close the clients at shutdown."""
        settings = self.settings
        if settings.alerts_deliver and self.routes.routes:
            self.poster = HttpWebhookPoster(settings.webhook_timeout)
            self.dispatcher = DeliveryDispatcher(
                self.desk.board,
                self.routes,
                self.poster,
                self.logs.publish_delivery,
                utc_now,
                attempts=settings.webhook_attempts,
                backoff=settings.webhook_backoff,
                standards=self.desk.standards,
            )
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self.follow_logs()), loop.create_task(self.send_digests())]
        if self.follower is not None:
            tasks.append(loop.create_task(self.follower.run()))
        try:
            yield
        finally:
            await self._stop(tasks)

    async def _stop(self, tasks: list[asyncio.Task[None]]) -> None:
        self.desk.hub.close()
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        if self.dispatcher is not None:
            self.dispatcher.cancel()
            await self.dispatcher.drain()
        if self.poster is not None:
            await self.poster.close()
        await self.logs.stop()


def build_app(
    settings: AlertsSettings,
    operators: OperatorDirectory,
    routes: RoutingTable,
    catalog: Catalog | None,
    follow_standards: bool = False,
) -> FastAPI:
    """The app with its Kafka reader, publisher and (when enabled) webhook dispatcher.

    With `follow_standards`, every published version of the standards is read from the
    standards topic and each case's timeline drawn with the version it follows (until a
    version is read, with `catalog`)."""
    runtime = AlertsRuntime(settings, routes, catalog, follow_standards)
    app = create_app(
        runtime.desk,
        operators,
        lifespan=runtime.lifespan,
        extra_metrics=runtime.delivery_metrics,
    )
    app.state.desk = runtime.desk
    return app


def _load(settings: AlertsSettings) -> tuple[OperatorDirectory, RoutingTable, Catalog | None]:
    if settings.operators is None:
        raise OperatorsError(
            "PANTAU_OPERATORS is not set: name the operators file "
            "(deploy/dev-operators.yaml for local development)"
        )
    operators = OperatorDirectory.from_yaml(
        _read(settings.operators, "PANTAU_OPERATORS"), str(settings.operators)
    )
    routes = RoutingTable()
    if settings.alert_routes is not None:
        routes = RoutingTable.from_yaml(
            _read(settings.alert_routes, "PANTAU_ALERT_ROUTES"), str(settings.alert_routes)
        )
    catalog: Catalog | None
    try:
        catalog = load_catalog(settings.catalog)
    except CatalogError as error:
        # Without the catalog only timelines lose their computed deadlines; alerts still flow.
        log.warning("catalog unusable, timelines show only the tracker's deadlines: %s", error)
        catalog = None
    return operators, routes, catalog


def _read(path: Path, variable: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise OperatorsError(f"{variable}: cannot read {path}: {error.strerror}") from None


def main(argv: list[str]) -> int:
    settings = start("alerts", DESCRIPTION, AlertsSettings, argv)
    try:
        operators, routes, catalog = _load(settings)
    except (OperatorsError, RoutesError) as error:
        print(f"pantau alerts: {error}", file=sys.stderr)
        return 2
    try:
        ensure_topics(
            settings.kafka_servers,
            [deliveries_topic_spec(settings.deliveries_topic, settings.partitions)],
            report=log.info,
        )
    except RuntimeError as error:
        print(f"pantau alerts: {error}", file=sys.stderr)
        return 1
    log.info(
        "%d operators, %d routes, webhooks %s",
        len(operators),
        len(routes.routes),
        "delivered here" if settings.alerts_deliver else "left to another instance",
    )
    app = build_app(settings, operators, routes, catalog, follow_standards=True)
    config = http_server_config(app, settings.alerts_host, settings.alerts_port, settings.log_level)
    _Server(config, on_shutdown=app.state.desk.hub.close).run()
    return 0


class _Server(uvicorn.Server):
    """uvicorn waits for open connections before the app's shutdown; live streams never end by
    themselves, so they are ended first."""

    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_shutdown()
        await super().shutdown(sockets)


class _DeliveryCounters(Collector):
    """Deliveries by route and outcome, and failed attempts by route, as Prometheus counters."""

    def __init__(self, dispatcher: DeliveryDispatcher) -> None:
        self._dispatcher = dispatcher

    def collect(self) -> Iterator[CounterMetricFamily]:
        outcomes = CounterMetricFamily(
            "pantau_alerts_deliveries",
            "Final webhook outcomes recorded here, by route and outcome (delivered, dead_letter).",
            labels=["route", "outcome"],
        )
        for (route, outcome), count in sorted(self._dispatcher.outcomes_by_route.items()):
            outcomes.add_metric([route, outcome], count)
        yield outcomes
        failed = CounterMetricFamily(
            "pantau_alerts_webhook_failed_attempts",
            "Webhook attempts that failed (and were retried or dead-lettered), by route.",
            labels=["route"],
        )
        for route, count in sorted(self._dispatcher.failed_attempts_by_route.items()):
            failed.add_metric([route], count)
        yield failed
