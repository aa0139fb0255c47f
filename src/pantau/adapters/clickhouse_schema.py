"""Applies the versioned ClickHouse migrations in deploy/clickhouse/migrations, each once.

A migration is a `NNNN_name.sql` file of statements separated by `;` at the end of a line. The
placeholder `{db}` stands for the target database, so several stacks can share one server. Applied
migrations are recorded with their checksum in `<db>.schema_migrations`; an applied migration whose
file changed afterwards is an error, never silently re-applied.
"""

from __future__ import annotations

import hashlib
import re
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

    def statements(self, database: str) -> list[str]:
        text = self.sql.replace("{db}", f"`{database}`")
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*$", body, flags=re.M) if s.strip()]


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


def apply_migrations(
    client: SqlExecutor,
    database: str,
    migrations: list[Migration],
    report: Callable[[str], None] = print,
) -> list[str]:
    """Create the database, apply the migrations not yet applied; return the versions applied."""
    client.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    client.execute(
        f"CREATE TABLE IF NOT EXISTS `{database}`.schema_migrations "
        "(version String, name String, checksum String, applied_at DateTime) "
        "ENGINE = MergeTree ORDER BY version"
    )
    rows = client.execute(f"SELECT version, checksum FROM `{database}`.schema_migrations")
    applied = dict(rows) if isinstance(rows, list) else {}
    done: list[str] = []
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise RuntimeError(
                    f"migration {migration.version}_{migration.name} was changed after it was "
                    f"applied to {database}; add a new migration instead"
                )
            continue
        for statement in migration.statements(database):
            client.execute(statement)
        client.execute(
            f"INSERT INTO `{database}`.schema_migrations (version, name, checksum, applied_at) "
            "VALUES",
            [(migration.version, migration.name, migration.checksum, _now_utc())],
        )
        done.append(migration.version)
        report(f"clickhouse {database}: applied {migration.version}_{migration.name}")
    if not done:
        report(f"clickhouse {database}: schema up to date ({len(migrations)} migrations)")
    return done


def _now_utc() -> datetime:
    # Bookkeeping only: the time a migration ran is not domain time.
    return datetime.now(UTC).replace(tzinfo=None)
