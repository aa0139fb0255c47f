"""Fixtures of the history tests: the known history loaded into both ClickHouse engines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.history.engines import ChdbEngine, Engine, ServerEngine, migrate
from integration.history.known_history import load
from stacks import CLICKHOUSE_PORT, isolated_stack

CHECKPOINT_KEY = "test-checkpoint-key"


@pytest.fixture(scope="session")
def chdb_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbEngine]:
    """Current ClickHouse (chdb) with every migration applied and the known history loaded."""
    path: Path = tmp_path_factory.mktemp("chdb")
    engine = ChdbEngine(str(path), "pantau_known")
    migrate(engine)
    load(engine)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def server_engine(local_servers: None) -> Iterator[ServerEngine]:
    """The ClickHouse 18.16 server, a fresh database with the migrations and the known history."""
    engine = ServerEngine("127.0.0.1", CLICKHOUSE_PORT, f"pantau_known_{uuid.uuid4().hex[:8]}")
    migrate(engine)
    load(engine)
    yield engine
    engine.drop()


@pytest.fixture(params=["server", "chdb"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each ClickHouse engine in turn: the 18.16 server, then current ClickHouse."""
    fixture: Engine = request.getfixturevalue(f"{request.param}_engine")
    return fixture


@pytest.fixture
def history_stack(local_servers: None) -> Iterator[dict[str, str]]:
    """PANTAU_* variables of a stack of one's own (topics and database), for one test.

    The sink tests each publish the same known history and need topics, a consumer group and a
    database that nothing else wrote to.
    """
    with isolated_stack("history") as env:
        yield env


@pytest.fixture
def sink_env(history_stack: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The isolated stack's variables plus a checkpoint key and directory."""
    return {
        **history_stack,
        "PANTAU_CHECKPOINT_KEY": CHECKPOINT_KEY,
        "PANTAU_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "PANTAU_SINK_CHECKPOINT_SECONDS": "1",
    }


@pytest.fixture
def history_client(history_stack: dict[str, str]) -> Iterator[Any]:
    """A native client on the private stack's database, closed after the test."""
    from clickhouse_driver import Client

    from pantau.settings import ClickHouseTarget

    target = ClickHouseTarget.parse(history_stack["PANTAU_CLICKHOUSE"])
    client = Client(host=target.host, port=target.port, database=target.database)
    yield client
    client.disconnect()
