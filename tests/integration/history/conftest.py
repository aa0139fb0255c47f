"""Fixtures of the history tests: the known history loaded into both ClickHouse engines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from engines import ChdbEngine, Engine, ServerEngine, migrate
from known_history import load


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
    engine = ServerEngine("127.0.0.1", 9000, f"pantau_known_{uuid.uuid4().hex[:8]}")
    migrate(engine)
    load(engine)
    yield engine
    engine.drop()


@pytest.fixture(params=["server", "chdb"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each ClickHouse engine in turn: the 18.16 server, then current ClickHouse."""
    fixture: Engine = request.getfixturevalue(f"{request.param}_engine")
    return fixture
