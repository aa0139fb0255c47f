"""`pantau intake`: build the settings, the Kafka publisher and the app, then serve with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from pantau.core.catalog import CatalogError
from pantau_intake.app import create_app
from pantau_intake.publisher import KafkaPublisher
from pantau_intake.settings import ConfigurationError, IntakeSettings


def main(argv: list[str]) -> int:
    """Serve the intake until interrupted; 2 for a configuration it cannot run with."""
    argparse.ArgumentParser(
        prog="pantau intake",
        description="HTTP intake for agency systems; configured by PANTAU_* variables "
        "(see `pantau --help`).",
    ).parse_args(argv)
    settings = IntakeSettings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if settings.log_level.upper() != "DEBUG":
        # kafka-python narrates every connection at INFO; its warnings and errors still show.
        logging.getLogger("kafka").setLevel(logging.WARNING)
    publisher = KafkaPublisher(
        settings.kafka_servers, settings.topics.events, timeout=settings.intake_publish_timeout
    )
    try:
        app = create_app(settings, publisher=publisher)
    except (ConfigurationError, CatalogError) as error:
        print(f"pantau intake: cannot start: {error}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=settings.intake_host,
        port=settings.intake_port,
        log_level=settings.log_level.lower(),
        server_header=False,
        timeout_keep_alive=15,
        timeout_graceful_shutdown=10,
    )
    return 0
