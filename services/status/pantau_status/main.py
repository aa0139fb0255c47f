"""`pantau status`: the composition root — settings, catalog, Kafka, the app, uvicorn."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI

from pantau.adapters.standards_topic import StandardsFollower, log_version
from pantau.cli import http_server_config, start
from pantau.core.catalog import Catalog, CatalogError, load_catalog
from pantau.core.standards import StandardVersion
from pantau_intake.api_keys import AgencyKeyring
from pantau_intake.settings import ConfigurationError
from pantau_status.adapters.kafka_logs import StatusLogs
from pantau_status.api import create_app
from pantau_status.book import CaseBook
from pantau_status.domain.codes import MIN_KEY_BYTES
from pantau_status.domain.limits import AddressLimiter
from pantau_status.settings import StatusSettings

log = logging.getLogger("pantau.status")

# `pantau status --help`
DESCRIPTION = (
    "Applicants' status page and reports; configured by PANTAU_* variables (see `pantau --help`)."
)

RESTART_DELAY_S = 2.0


def utc_now() -> datetime:
    """The adapters' clock; the core only ever gets times passed in."""
    return datetime.now(UTC)


def build_app(
    settings: StatusSettings, catalog: Catalog, key: bytes, keyring: AgencyKeyring | None
) -> FastAPI:
    """The app with its Kafka reader and report publisher."""
    book = CaseBook()

    def caught_up() -> None:
        book.ready = True

    topics = settings.topics
    logs = StatusLogs(
        settings.kafka_servers,
        handlers={topics.cases: book.on_case, topics.alerts: book.on_alert},
        alerts_topic=topics.alerts,
        on_caught_up=caught_up,
        client_id=f"{settings.topic_prefix}status",
    )

    async def follow_logs() -> None:
        # Re-reading after a failed start is safe: every record folds in idempotently.
        while True:
            try:
                await logs.start()
                await logs.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Kafka reader failed; retrying in %.0f s", RESTART_DELAY_S)
                await logs.stop()
                await asyncio.sleep(RESTART_DELAY_S)

    # Every published version is kept: each case is shown against the version it follows.
    def take(version: StandardVersion) -> None:
        if app.state.standards.learn(version):
            log_version(log, version)

    follower = StandardsFollower(
        settings.kafka_servers,
        topics.standards,
        take,
        client_id=f"{settings.topic_prefix}status-standards",
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(follow_logs()), loop.create_task(follower.run())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await logs.stop()

    limiter = AddressLimiter(settings.status_tries_per_minute, settings.status_tries_burst)
    app = create_app(
        book, catalog, key, logs.publish_alert, utc_now, limiter, keyring, lifespan=lifespan
    )
    app.state.book = book
    return app


def main(argv: list[str]) -> int:
    settings = start("status", DESCRIPTION, StatusSettings, argv)
    secret = settings.status_key
    key = b"" if secret is None else secret.get_secret_value().encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        print(
            f"pantau status: PANTAU_STATUS_KEY must be set to a secret of >= {MIN_KEY_BYTES} bytes",
            file=sys.stderr,
        )
        return 2
    try:
        catalog = load_catalog(settings.catalog)
        keyring = None if settings.api_keys is None else AgencyKeyring.load(settings.api_keys)
    except (CatalogError, ConfigurationError) as error:
        print(f"pantau status: {error}", file=sys.stderr)
        return 2
    if keyring is None:
        log.warning("PANTAU_API_KEYS is not set: agency systems cannot fetch check codes")
    app = build_app(settings, catalog, key, keyring)
    config = http_server_config(app, settings.status_host, settings.status_port, settings.log_level)
    uvicorn.Server(config).run()
    return 0
