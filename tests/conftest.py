"""Shared fixtures: the real local servers and an isolated stack (own prefix and database)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

# kafka-python as the product runs it: its connections close their sockets however they end
import pantau.adapters.kafka_client  # noqa: F401
from stacks import isolated_stack

REPO = Path(__file__).resolve().parents[1]


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


@pytest.fixture(scope="module")
def stack_env(local_servers: None) -> Iterator[dict[str, str]]:
    """PANTAU_* variables of a fresh stack for one test module: its own topic prefix and database.

    Tests share the servers with a running `make up`, and modules never see each other's records.
    """
    with isolated_stack("t") as env:
        yield env
