"""Fixtures of the fault suite: each test runs the real processes on a stack of its own.

`make faults` runs this tier alone; `make test` runs it after the other tiers (it kills, stops and
freezes processes and takes minutes).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from replicas import PrivateClickHouse


@pytest.fixture
def servers(local_servers: None) -> None:
    """The shared local Kafka broker and ClickHouse server, started or reused."""


@pytest.fixture
def private_clickhouse(tmp_path: Path, servers: None) -> Iterator[PrivateClickHouse]:
    """A ClickHouse server for this test only; thawed and stopped afterwards."""
    with PrivateClickHouse(tmp_path / "local").started() as server:
        try:
            yield server
        finally:
            if server.running:
                os.kill(server.pid, signal.SIGCONT)  # a frozen server cannot stop
