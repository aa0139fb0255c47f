"""Shared fixtures: the real local servers and an isolated stack (own prefix and database)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The same variables the deploy scripts read, so a whole test run can use other ports.
KAFKA_PORT = int(os.environ.get("PANTAU_KAFKA_PORT", "9092"))
CLICKHOUSE_PORT = int(os.environ.get("PANTAU_CLICKHOUSE_TCP_PORT", "9000"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by tier from their folder, so `-m integration` selects them."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        elif "e2e" in parts:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def local_servers() -> None:
    """Start the Kafka broker and ClickHouse server through the deploy scripts, or reuse them."""
    for script in ("kafka.sh", "clickhouse.sh"):
        subprocess.run([str(REPO / "deploy" / script), "start"], check=True)


@pytest.fixture(scope="session")
def stack_env(local_servers: None) -> Iterator[dict[str, str]]:
    """PANTAU_* variables of a fresh stack: its own topic prefix and database, bootstrapped.

    Tests share the servers with a running `make up` without touching its topics or tables.
    """
    from clickhouse_driver import Client
    from kafka.admin import KafkaAdminClient

    from pantau.bootstrap import bootstrap
    from pantau.settings import CommonSettings

    tag = uuid.uuid4().hex[:10]
    env = {
        "PANTAU_TOPIC_PREFIX": f"test-{tag}.",
        "PANTAU_CLICKHOUSE": f"clickhouse://default@127.0.0.1:{CLICKHOUSE_PORT}/pantau_test_{tag}",
        "PANTAU_KAFKA": f"127.0.0.1:{KAFKA_PORT}",
        "PANTAU_PARTITIONS": "12",
    }
    settings = CommonSettings(
        topic_prefix=env["PANTAU_TOPIC_PREFIX"],
        clickhouse=env["PANTAU_CLICKHOUSE"],
        kafka=env["PANTAU_KAFKA"],
    )
    bootstrap(settings)
    yield env
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(settings.topic_prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()
    target = settings.clickhouse_target
    client = Client(host=target.host, port=target.port)
    client.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
    client.disconnect()
