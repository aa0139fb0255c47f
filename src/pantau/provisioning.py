"""Provisioning a stack (`pantau bootstrap`): the topics of PANTAU_TOPIC_PREFIX, the schema of
PANTAU_CLICKHOUSE, and the catalog of PANTAU_CATALOG published as the first standards version
(see `publish_at_bootstrap`)."""

from __future__ import annotations

import argparse
import sys

from clickhouse_driver.errors import Error as ClickHouseError

from pantau.adapters.clickhouse_schema import apply_migrations, apply_replicated, load_migrations
from pantau.adapters.kafka_topics import contract_topics, ensure_topics
from pantau.adapters.key_store import personal_data_topics
from pantau.history.auditors import refresh_agency_databases
from pantau.history.store import connect
from pantau.settings import CommonSettings


def provision(settings: CommonSettings, *, kafka: bool = True, clickhouse: bool = True) -> None:
    """Create the topics, apply the schema and publish the first standards version, as far as
    they are missing; leave what exists untouched."""
    if kafka:
        ensure_topics(settings.kafka_servers, contract_topics(settings.topics, settings.partitions))
        ensure_topics(settings.kafka_servers, personal_data_topics(settings.topics))
        from datetime import UTC, datetime

        from pantau.catalog_publish import publish_at_bootstrap  # its Kafka clients only here

        done = publish_at_bootstrap(settings, datetime.now(UTC))
        if done is None:
            print("standards: versions published with `pantau catalog publish` are the standard")
        elif done.new:
            print(f"standards: published {settings.catalog} as version {done.version.number}")
        else:
            print(f"standards: {settings.catalog} is version {done.version.number}")
    if clickhouse:
        target = settings.clickhouse_target
        servers = list(target.replicas) or [(target.host, target.port)]
        clients = [
            connect(target, timeout=5, server=server, send_receive_timeout=60) for server in servers
        ]
        try:
            migrations = load_migrations()
            if target.replicated:
                apply_replicated(clients, target.database, migrations)
            else:
                versions = apply_migrations(clients[0], target.database, migrations)
                applied = [m for m in migrations if m.version in versions]
                refresh_agency_databases(clients[0], target.database, applied, print)
        finally:
            for client in clients:
                client.disconnect()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pantau bootstrap", description=__doc__)
    parser.add_argument("--kafka-only", action="store_true", help="only create the topics")
    parser.add_argument("--clickhouse-only", action="store_true", help="only apply the schema")
    args = parser.parse_args(argv)
    settings = CommonSettings()
    try:
        provision(settings, kafka=not args.clickhouse_only, clickhouse=not args.kafka_only)
    except (RuntimeError, ValueError, ClickHouseError, OSError) as exc:
        print(f"pantau bootstrap: {exc}", file=sys.stderr)
        return 1
    return 0
