"""The `auditor` user of the project's ClickHouse reads the history and cannot change it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException

from integration.history.engines import ServerEngine
from stacks import CLICKHOUSE_PORT


@pytest.fixture
def auditor(server_engine: ServerEngine) -> Iterator[Client]:
    """A connection as `auditor` to the database holding the known history."""
    client = Client(
        host="127.0.0.1", port=CLICKHOUSE_PORT, user="auditor", database=server_engine.database
    )
    yield client
    client.disconnect()


def test_auditor_can_select_from_tables_and_views(auditor: Client) -> None:
    """SELECT works on the views and the raw tables."""
    assert auditor.execute("SELECT count() FROM v_events")[0][0] > 0
    assert auditor.execute("SELECT count() FROM events")[0][0] > 0


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO alert_actions (action_id, alert_id, action) VALUES ('x', 'y', 'resolve')",
        "ALTER TABLE events DELETE WHERE 1",
        "ALTER TABLE events UPDATE officer_id = 'X' WHERE 1",
        "DROP TABLE events",
        "CREATE TABLE notes (a String) ENGINE = Memory",
    ],
)
def test_auditor_cannot_change_anything(auditor: Client, statement: str) -> None:
    """INSERT, ALTER, DROP and CREATE are refused for the auditor (readonly profile)."""
    with pytest.raises(ServerException, match="readonly"):
        auditor.execute(statement)
