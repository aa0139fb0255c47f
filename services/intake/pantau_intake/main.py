"""`pantau intake`: build the settings, the Kafka publisher and the app, then serve with uvicorn.

With `PANTAU_INTAKE_WORKERS` above 1, uvicorn's supervisor binds the port once and starts that
many worker processes on it; each builds its own app and Kafka producer (`worker_app`), and the
Prometheus metrics of all of them are summed through a shared folder (prometheus_client's
multiprocess mode), so `/metrics` on any worker reports the whole intake.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile

import uvicorn
from fastapi import FastAPI

from pantau.cli import process_settings, start
from pantau.core.catalog import CatalogError
from pantau.metrics import MULTIPROCESS_DIR
from pantau_intake.adapters.kafka_publisher import KafkaPublisher
from pantau_intake.app import create_app
from pantau_intake.settings import ConfigurationError, IntakeSettings

# `pantau intake --help`
DESCRIPTION = (
    "HTTP intake for agency systems; configured by PANTAU_* variables (see `pantau --help`)."
)


def _app(settings: IntakeSettings) -> FastAPI:
    publisher = KafkaPublisher(
        settings.kafka_servers, settings.topics.events, timeout=settings.intake_publish_timeout
    )
    key_publisher = None
    if settings.sealing() is not None:
        key_publisher = KafkaPublisher(
            settings.kafka_servers,
            settings.topics.applicant_keys,
            timeout=settings.intake_publish_timeout,
            client_id="pantau-intake-keys",
        )
    app = create_app(
        settings,
        publisher=publisher,
        key_publisher=key_publisher,
        follow_standards=True,
        follow_erasures=True,
    )
    # Everything built so far (modules, the catalog, the app) lives as long as the process: the
    # collector need not walk it again on every full collection under load.
    gc.freeze()
    return app


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn's factory when there are several)."""
    return _app(process_settings("intake", IntakeSettings))


def main(argv: list[str]) -> int:
    """Serve the intake until interrupted; 2 for a configuration it cannot run with."""
    settings = start("intake", DESCRIPTION, IntakeSettings, argv)
    try:
        app = _app(settings)  # also checks the configuration before any worker starts
    except (ConfigurationError, CatalogError) as error:
        print(f"pantau intake: cannot start: {error}", file=sys.stderr)
        return 2
    options = {
        "host": settings.intake_host,
        "port": settings.intake_port,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # uvicorn's loggers go through the handler configure_logging set
        "access_log": False,  # a line per request costs more than the request; /metrics counts
        "server_header": False,
        # The intake reads no client address, so uvicorn's X-Forwarded-* layer is left out of
        # every request's path.
        "proxy_headers": False,
        "timeout_keep_alive": 15,
        "timeout_graceful_shutdown": 10,
    }
    if settings.intake_workers == 1:
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return 0
    metrics_dir = tempfile.mkdtemp(prefix="pantau-intake-metrics-")
    os.environ[MULTIPROCESS_DIR] = metrics_dir  # inherited by the workers before they import
    try:
        uvicorn.run(
            "pantau_intake.main:worker_app",
            factory=True,
            workers=settings.intake_workers,
            **options,  # type: ignore[arg-type]
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
