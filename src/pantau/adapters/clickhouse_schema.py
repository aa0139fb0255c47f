"""Applies the versioned ClickHouse migrations in deploy/clickhouse/migrations, each once.

A migration is a `NNNN_name.sql` file of statements separated by `;` at the end of a line. The
placeholder `{db}` stands for the target database, so several stacks can share one server. Applied
migrations are recorded with their checksum in `<db>.schema_migrations`; an applied migration whose
file changed afterwards is an error, never silently re-applied.

On the replicas of one shard (`apply_replicated`) the same files give the replicated schema: each
`ENGINE = MergeTree` table becomes a `ReplicatedMergeTree` under
`/clickhouse/tables/{shard}/<db>/<table>` (the `{shard}` and `{replica}` macros come from each
server's config), views are created on every replica, and an `ALTER TABLE` runs on one replica
only, which hands it to the others through ZooKeeper (or ClickHouse Keeper).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pantau.settings import REPO_DIR

MIGRATIONS_DIR = REPO_DIR / "deploy" / "clickhouse" / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SqlExecutor(Protocol):
    """The slice of clickhouse_driver.Client the runner needs."""

    def execute(self, query: str, params: object = None) -> object: ...


@dataclass(frozen=True)
class Migration:
    """One versioned schema change."""

    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self, database: str, *, replicated: bool = False) -> list[str]:
        text = self.sql.replace("{db}", f"`{database}`")
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        found = [s.strip() for s in re.split(r";\s*$", body, flags=re.M) if s.strip()]
        return [replicated_statement(s, database) for s in found] if replicated else found


_CREATE_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?`?[\w]+`?\.`?(\w+)`?", re.I)
_PLAIN_ENGINE = re.compile(r"\bENGINE\s*=\s*MergeTree\b(?:\(\s*\))?", re.I)


def replicated_statement(statement: str, database: str) -> str:
    """The statement for a replica: a MergeTree table becomes a ReplicatedMergeTree."""
    table = _CREATE_TABLE.match(statement)
    if table is None or not _PLAIN_ENGINE.search(statement):
        return statement
    path = f"/clickhouse/tables/{{shard}}/{database}/{table.group(1)}"
    return _PLAIN_ENGINE.sub(f"ENGINE = ReplicatedMergeTree('{path}', '{{replica}}')", statement)


def is_alter(statement: str) -> bool:
    """A change of an existing table, which replicas hand on to each other."""
    return statement.lstrip().upper().startswith("ALTER TABLE")


def is_insert(statement: str) -> bool:
    """Rows written by a migration, which replicas hand on to each other."""
    return statement.lstrip().upper().startswith("INSERT INTO")


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file in version order; a misnamed file or a repeated version is an error."""
    migrations: list[Migration] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path}: migration files are named NNNN_snake_name.sql")
        version = match.group(1)
        if version in seen:
            raise ValueError(f"{path}: version {version} is used twice")
        seen.add(version)
        migrations.append(Migration(version, match.group(2), path.read_text(encoding="utf-8")))
    return migrations


def _applied(client: SqlExecutor, database: str) -> dict[str, str]:
    """Create the database and the bookkeeping table; the versions applied with checksums."""
    client.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    # Each server's own record of what it holds: a plain MergeTree on a replica too.
    client.execute(
        f"CREATE TABLE IF NOT EXISTS `{database}`.schema_migrations "
        "(version String, name String, checksum String, applied_at DateTime) "
        "ENGINE = MergeTree ORDER BY version"
    )
    rows = client.execute(f"SELECT version, checksum FROM `{database}`.schema_migrations")
    return dict(rows) if isinstance(rows, list) else {}


def _pending(
    applied: dict[str, str], database: str, migrations: list[Migration]
) -> list[Migration]:
    pending = []
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise RuntimeError(
                    f"migration {migration.version}_{migration.name} was changed after it was "
                    f"applied to {database}; add a new migration instead"
                )
            continue
        pending.append(migration)
    return pending


def _record(client: SqlExecutor, database: str, migration: Migration) -> None:
    client.execute(
        f"INSERT INTO `{database}`.schema_migrations (version, name, checksum, applied_at) VALUES",
        [(migration.version, migration.name, migration.checksum, _now_utc())],
    )


def apply_migrations(
    client: SqlExecutor,
    database: str,
    migrations: list[Migration],
    report: Callable[[str], None] = print,
) -> list[str]:
    """Create the database, apply the migrations not yet applied; return the versions applied."""
    done: list[str] = []
    for migration in _pending(_applied(client, database), database, migrations):
        for statement in migration.statements(database):
            client.execute(statement)
        _record(client, database, migration)
        done.append(migration.version)
        report(f"clickhouse {database}: applied {migration.version}_{migration.name}")
    if not done:
        report(f"clickhouse {database}: schema up to date ({len(migrations)} migrations)")
    return done


def apply_replicated(
    replicas: list[SqlExecutor],
    database: str,
    migrations: list[Migration],
    report: Callable[[str], None] = print,
    settle_seconds: float = 60.0,
) -> list[str]:
    """The migrations on every replica of one shard, statement by statement in step (a replica
    is created with the columns the others have at that point); return the versions applied.

    Every replica must be at the same version: one that lags (a replica added later) is an
    error naming the versions, not a guess.
    """
    pending = [_pending(_applied(client, database), database, migrations) for client in replicas]
    versions = {tuple(m.version for m in p) for p in pending}
    if len(versions) > 1:
        raise RuntimeError(
            f"the replicas of {database} are at different schema versions (pending: "
            f"{sorted(versions)}); bring them to one version before migrating"
        )
    done: list[str] = []
    for migration in pending[0]:
        for statement in migration.statements(database, replicated=True):
            if is_alter(statement):
                replicas[0].execute(statement)
                _wait_same_columns(replicas, database, settle_seconds)
            elif is_insert(statement):
                # Rows the replicas hand on to each other: written once, on the first.
                replicas[0].execute(statement)
            else:
                for client in replicas:
                    client.execute(statement)
        for client in replicas:
            _record(client, database, migration)
        done.append(migration.version)
        report(
            f"clickhouse {database}: applied {migration.version}_{migration.name} "
            f"on {len(replicas)} replicas"
        )
    if not done:
        report(f"clickhouse {database}: schema up to date ({len(migrations)} migrations)")
    return done


def _wait_same_columns(replicas: list[SqlExecutor], database: str, seconds: float) -> None:
    """Until every replica has the first replica's columns (an ALTER reached them all)."""
    query = (
        "SELECT table, name, type FROM system.columns "
        f"WHERE database = '{database}' AND table != 'schema_migrations' ORDER BY table, name"
    )
    want = replicas[0].execute(query)
    deadline = time.monotonic() + seconds
    while any(client.execute(query) != want for client in replicas[1:]):
        if time.monotonic() > deadline:
            raise RuntimeError(f"an ALTER of {database} did not reach every replica in {seconds} s")
        time.sleep(0.2)


def _now_utc() -> datetime:
    # Bookkeeping only: the time a migration ran is not domain time.
    return datetime.now(UTC).replace(tzinfo=None)
