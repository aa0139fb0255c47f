"""The replicated schema: two ClickHouse 18.16 replicas of one shard (deploy/clickhouse.sh with
PANTAU_CLICKHOUSE_REPLICAS=2 and ZooKeeper) answer the views and the cookbook exactly as one
server does, from whichever replica is asked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.history.engines import ServerEngine, normalise
from integration.history.known_history import load
from integration.history.test_cookbook import EXPECTED, _as_text, cookbook_queries
from pantau.adapters.clickhouse_schema import apply_replicated, load_migrations
from pantau.history.store import connect
from pantau.settings import ClickHouseTarget
from replicas import PrivateReplicas


class ReplicatedEngine:
    """The known history written through the sink's kind of client (quorum inserts, failover)
    into the replicated schema; reads go to one replica chosen by the test."""

    name = "replicated"

    def __init__(self, replicas: PrivateReplicas, database: str) -> None:
        from clickhouse_driver import Client

        self.database = database
        self.target = ClickHouseTarget.parse(replicas.url(database))
        self.servers = [Client(host="127.0.0.1", port=port) for port in replicas.ports]
        apply_replicated(self.servers, database, load_migrations(), report=lambda _: None)
        self.client = connect(self.target)

    def execute(self, query: str, params: object = None) -> object:
        return self.client.execute(query, params)

    def insert(self, table: str, columns: Any, rows: Any) -> None:
        self.client.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", list(rows))

    def rows_on(self, replica: int, query: str) -> list[tuple[str, ...]]:
        self.servers[replica].execute(f"USE `{self.database}`")
        return [tuple(normalise(v) for v in row) for row in self.servers[replica].execute(query)]

    def close(self) -> None:
        for client in self.servers:
            client.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
            client.disconnect()
        self.client.disconnect()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateReplicas]:
    """Two replicas and their ZooKeeper for this module, stopped afterwards."""
    directory: Path = tmp_path_factory.mktemp("replicas") / "local"
    with PrivateReplicas(directory, replicas=2).started() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def replicated(replicas: PrivateReplicas) -> Iterator[ReplicatedEngine]:
    """The known history in the replicated schema, fetched by both replicas."""
    engine = ReplicatedEngine(replicas, f"pantau_replicated_{uuid.uuid4().hex[:8]}")
    load(engine)
    replicas.sync(engine.database)
    yield engine
    engine.close()


def test_each_table_is_replicated_with_the_columns_of_one_server(
    replicated: ReplicatedEngine, server_engine: ServerEngine
) -> None:
    """Every history table is a ReplicatedMergeTree on both replicas, under one ZooKeeper path
    per table, with the same columns as on a single server."""
    tables = (
        "SELECT name, engine FROM system.tables WHERE database = '{db}' "
        "AND engine NOT IN ('View') AND name != 'schema_migrations' ORDER BY name"
    )
    columns = (
        "SELECT table, name, type FROM system.columns WHERE database = '{db}' "
        "AND table != 'schema_migrations' ORDER BY table, name"
    )
    single_tables = server_engine.rows(tables.format(db=server_engine.database))
    single_columns = server_engine.rows(columns.format(db=server_engine.database))
    assert {engine for _, engine in single_tables} == {"MergeTree"}
    for replica in (0, 1):
        found = replicated.rows_on(replica, tables.format(db=replicated.database))
        assert found == [(name, "ReplicatedMergeTree") for name, _ in single_tables]
        assert replicated.rows_on(replica, columns.format(db=replicated.database)) == (
            single_columns
        )
    paths = replicated.rows_on(
        1,
        f"SELECT table, zookeeper_path, replica_name, total_replicas, active_replicas "
        f"FROM system.replicas WHERE database = '{replicated.database}' ORDER BY table",
    )
    assert [p[0] for p in paths] == [name for name, _ in single_tables]
    for table, path, replica_name, total, active in paths:
        assert path == f"/clickhouse/tables/01/{replicated.database}/{table}"
        assert (replica_name, total, active) == ("replica-2", "2", "2")


@pytest.mark.parametrize("number", sorted(EXPECTED))
def test_cookbook_answers_alike_on_each_replica_and_on_one_server(
    replicated: ReplicatedEngine, server_engine: ServerEngine, number: int
) -> None:
    """The cookbook's query gives the known answer on either replica, the same rows in the
    same order as on one server."""
    query = cookbook_queries()[number]
    single = server_engine.rows(query)
    assert single == _as_text(EXPECTED[number])
    assert replicated.rows_on(0, query) == single
    assert replicated.rows_on(1, query) == single


def test_every_view_holds_the_same_rows_on_each_replica_as_on_one_server(
    replicated: ReplicatedEngine, server_engine: ServerEngine
) -> None:
    """Each auditor view, read whole, is the same on both replicas as on one server."""
    views = server_engine.rows(
        f"SELECT name FROM system.tables WHERE database = '{server_engine.database}' "
        "AND engine = 'View' ORDER BY name"
    )
    assert len(views) >= 10
    for (view,) in views:
        single = sorted(server_engine.rows(f"SELECT * FROM {view}"))
        assert single, f"{view} is empty on the known history"
        for replica in (0, 1):
            assert sorted(replicated.rows_on(replica, f"SELECT * FROM {view}")) == single, view


def test_current_clickhouse_parses_the_replicated_schema(chdb_engine: Any) -> None:
    """Current ClickHouse (chdb) reads every statement of the replicated schema as the same
    statement (it has no ZooKeeper to create them: the compose cluster profile does that)."""
    for migration in load_migrations():
        for statement in migration.statements("pantau", replicated=True):
            formatted = chdb_engine.rows(f"SELECT formatQuery({_quoted(statement)})")
            assert formatted, statement
            assert formatted[0][0], statement
            if "ReplicatedMergeTree" in statement:
                assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/pantau/" in (
                    formatted[0][0].replace("\\'", "'")
                )


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
