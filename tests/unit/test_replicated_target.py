"""Several ClickHouse hosts in PANTAU_CLICKHOUSE are the replicas of one shard."""

from __future__ import annotations

import pytest

from pantau.adapters.clickhouse_schema import (
    Migration,
    apply_replicated,
    is_alter,
    is_insert,
    load_migrations,
    replicated_statement,
)
from pantau.settings import ClickHouseTarget


def test_one_host_is_one_server_without_quorum() -> None:
    """The URL of today: one server, no replicas, no insert quorum."""
    target = ClickHouseTarget.parse("clickhouse://default@127.0.0.1:9000/pantau")
    assert (target.host, target.port, target.replicated, target.insert_quorum) == (
        "127.0.0.1",
        9000,
        False,
        0,
    )


def test_several_hosts_are_replicas_with_a_majority_quorum() -> None:
    """Comma-separated hosts: the first is tried first, a majority holds each insert."""
    two = ClickHouseTarget.parse("clickhouse://auditor:s%40cret@ch-1:9000,ch-2:9001/pantau")
    assert two.replicas == (("ch-1", 9000), ("ch-2", 9001))
    assert (two.host, two.port, two.user, two.password) == ("ch-1", 9000, "auditor", "s@cret")
    assert (two.replicated, two.insert_quorum) == (True, 2)
    three = ClickHouseTarget.parse("clickhouse://default@a:1,b:2,c:3/pantau")
    assert three.insert_quorum == 2
    assert three.at("b", 2).replicas == ()


def test_a_malformed_host_is_refused() -> None:
    """A port that is not a number is an error naming it."""
    with pytest.raises(ValueError, match="'b:x' is not host:port"):
        ClickHouseTarget.parse("clickhouse://default@a:1,b:x/pantau")


def test_every_history_table_becomes_replicated_and_nothing_else_changes() -> None:
    """In the replicated schema each MergeTree table has its own path under the shard macro;
    views and ALTERs are the statements of one server."""
    for migration in load_migrations():
        plain = migration.statements("db")
        replicated = migration.statements("db", replicated=True)
        for one, other in zip(plain, replicated, strict=True):
            if "ENGINE = MergeTree" in one:
                table = one.split("`db`.", 1)[1].split()[0]
                assert f"ReplicatedMergeTree('/clickhouse/tables/{{shard}}/db/{table}', " in other
                assert "'{replica}')" in other
                assert one.replace("ENGINE = MergeTree", "") == (
                    other.replace(
                        f"ENGINE = ReplicatedMergeTree('/clickhouse/tables/{{shard}}/db/{table}', "
                        "'{replica}')",
                        "",
                    )
                )
            else:
                assert one == other
    assert replicated_statement("CREATE VIEW `db`.v AS SELECT 1", "db") == (
        "CREATE VIEW `db`.v AS SELECT 1"
    )
    assert is_alter("ALTER TABLE `db`.events ADD COLUMN x UInt8")
    assert not is_alter("CREATE TABLE `db`.t (x UInt8) ENGINE = MergeTree ORDER BY x")


class _Replica:
    """A server that records what it is asked; it has applied nothing yet."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, query: str, params: object = None) -> object:
        self.statements.append(query)
        return []


def test_rows_a_migration_writes_are_written_once_and_replicated_by_the_servers() -> None:
    """A migration's INSERT (like an ALTER) runs on the first replica only: the replicas hand
    its rows on to each other, and running it on each would store them once per replica."""
    migration = Migration(
        "0099",
        "rows",
        "CREATE TABLE IF NOT EXISTS {db}.t (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
        "INSERT INTO {db}.t (x) SELECT 1;\n",
    )
    first, second = _Replica(), _Replica()
    applied = apply_replicated([first, second], "db", [migration], report=lambda _: None)
    assert applied == ["0099"]
    insert = "INSERT INTO `db`.t (x) SELECT 1"
    assert is_insert(insert)
    assert not is_insert("CREATE TABLE `db`.t (x UInt8) ENGINE = MergeTree ORDER BY x")
    assert first.statements.count(insert) == 1
    assert insert not in second.statements
    assert any("ReplicatedMergeTree" in s for s in second.statements)
