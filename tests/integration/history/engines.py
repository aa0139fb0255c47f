"""The two ClickHouse engines the history must work on, behind one small test interface.

`ServerEngine` is the project's ClickHouse server (18.16, native protocol); `ChdbEngine` is the
current ClickHouse engine embedded by chdb. Query results are normalised to text so that the
same expected answer can be checked against both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from pantau.adapters.clickhouse_schema import apply_migrations, load_migrations
from pantau.history.tables import cell

_NUMBER = re.compile(r"-?\d{1,15}(\.\d+)?")


def normalise(value: Any) -> str:
    """One cell as comparable text: numbers without trailing zeros; NULL and times as the
    history's tables show them."""
    if isinstance(value, bool):
        return str(int(value))
    if value is None or isinstance(value, date):  # a datetime is a date too
        return cell(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(normalise(v) for v in value) + "]"
    if isinstance(value, int | float | Decimal):
        value = str(value)
    text = str(value)
    if _NUMBER.fullmatch(text):
        number = round(float(text), 4)
        return str(int(number)) if number == int(number) else repr(number)
    return text


def _tsv_cell(text: str) -> str:
    if text == "\\N":
        return "NULL"
    text = re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "0": "\0"}.get(m[1], m[1]), text)
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1]
        items = re.findall(r"'((?:[^'\\]|\\.)*)'|([^,]+)", inner)
        return "[" + ",".join(normalise(a or b) for a, b in items) + "]"
    if text == "0000-00-00 00:00:00":
        return "1970-01-01 00:00:00"
    return normalise(text)


def sql_literal(value: Any) -> str:
    """A Python value as a ClickHouse literal (for inserting into chdb)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, datetime):
        return f"'{value.strftime('%Y-%m-%d %H:%M:%S')}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(sql_literal(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class Engine(Protocol):
    name: str
    database: str

    def execute(self, query: str, params: object = None) -> object: ...

    def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None: ...

    def rows(self, query: str) -> list[tuple[str, ...]]: ...


class ServerEngine:
    """The ClickHouse server (18.16) through clickhouse-driver."""

    name = "server"

    def __init__(self, host: str, port: int, database: str) -> None:
        from clickhouse_driver import Client

        self.database = database
        self._admin = Client(host=host, port=port)
        self._admin.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        self.client = Client(host=host, port=port, database=database)

    def execute(self, query: str, params: object = None) -> object:
        return self.client.execute(query, params)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        self.client.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", list(rows))

    def rows(self, query: str) -> list[tuple[str, ...]]:
        return [tuple(normalise(v) for v in row) for row in self.client.execute(query)]

    def drop(self) -> None:
        self._admin.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        self.client.disconnect()
        self._admin.disconnect()


class ChdbEngine:
    """Current ClickHouse embedded by chdb, in a private data directory."""

    name = "chdb"

    def __init__(self, path: str, database: str) -> None:
        from chdb import session

        self.database = database
        self._session = session.Session(path)
        self._session.query(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        self._session.query(f"USE `{database}`")

    def execute(self, query: str, params: object = None) -> object:
        if isinstance(params, list):  # clickhouse-driver style: INSERT ... VALUES + rows
            query = query + " " + ", ".join(f"({', '.join(map(sql_literal, r))})" for r in params)
        if query.lstrip().upper().startswith("SELECT"):
            return [tuple(cells) for cells in self._raw_rows(query)]
        self._session.query(query)
        return []

    def _raw_rows(self, query: str) -> list[list[str]]:
        text = self._session.query(query, "TabSeparated").bytes().decode("utf-8")
        return [line.split("\t") for line in text.splitlines()]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", list(rows))

    def rows(self, query: str) -> list[tuple[str, ...]]:
        return [tuple(_tsv_cell(c) for c in cells) for cells in self._raw_rows(query)]

    def close(self) -> None:
        self._session.close()


def migrate(engine: Engine) -> list[str]:
    """Apply every migration to the engine's database; the versions applied."""
    return apply_migrations(engine, engine.database, load_migrations(), report=lambda _: None)
