"""`pantau auditor add`: a read-only ClickHouse user who sees one agency's history and nothing else.

Two ways, chosen by what the server can do (`--mode auto`):

- `database` (ClickHouse 18.16 and any later server): an agency database `<db>__<agency>` of
  materialized views that copy the agency's rows out of every history table as they are
  inserted (and once, at creation, the rows already stored), plus the auditors' `v_*` views
  defined over those copies. The user is written to the server's `users.d` directory with the
  read-only profile and `allow_databases` naming only the agency database. ClickHouse 18.16
  refuses such a user any query that names another database, also inside a view, and in
  read-only mode every table function (`remote`, `url`, `file`, `merge`, ...); its `system`
  tables list only the allowed database.
- `row-policy` (ClickHouse with SQL access control, 20.5 and later): `CREATE USER` with
  `readonly = 1`, `GRANT SELECT` on the history database, and a row policy per table that lets
  the user see only the agency's rows, through the tables and every view over them.

The statements are built here (pure); `main` runs them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from pantau.adapters.clickhouse_schema import Migration, load_migrations
from pantau.settings import REPO_DIR, CommonSettings

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_AGENCY = re.compile(r"^[a-z0-9][a-z0-9.-]{2,63}$")
# A migration that redefines an auditors' view drops it first (18.16 drops views with DROP TABLE).
_DROPS_VIEW = re.compile(r"^DROP TABLE IF EXISTS \S+\.v_\w+$", re.I)

# Each history table, how its copy is stored, and which of its rows belong to an agency
# (`{agency}` is the quoted agency code, `{db}` the history database).
_TABLES: tuple[tuple[str, str, str], ...] = (
    (
        "events",
        "PARTITION BY toYYYYMM(received_at) "
        "ORDER BY (agency, service, case_id, position, event_id)",
        "agency = {agency}",
    ),
    (
        "alerts",
        "PARTITION BY toYYYYMM(detected_at) ORDER BY (agency, rule, detected_at, alert_id)",
        "agency = {agency}",
    ),
    (
        "alert_actions",
        "PARTITION BY toYYYYMM(at) ORDER BY (alert_id, at, action_id)",
        "alert_id IN (SELECT alert_id FROM {db}.alerts WHERE agency = {agency})",
    ),
    ("case_states", "ORDER BY (agency, service, case_id, version)", "agency = {agency}"),
    ("service_standards", "ORDER BY (agency, service, version, loaded_at)", "agency = {agency}"),
    (
        "service_steps",
        "ORDER BY (agency, service, version, step, loaded_at)",
        "agency = {agency}",
    ),
)
TABLES = tuple(name for name, _, _ in _TABLES)
# History tables whose rows name every agency at once (a published standards version holds the
# whole catalog; an erasure names an applicant, not an agency): an agency's auditor sees none of
# them, nor the views over them.
UNSCOPED_TABLES = ("standards", "erasures")
# The sink's own index of where each case's events are stored: no auditor's business, copied to
# no agency database, and behind a row policy that shows none of it.
INTERNAL_TABLES = ("case_services",)
_READS_UNSCOPED = re.compile(r"\.`?(?:" + "|".join(UNSCOPED_TABLES) + r")`?\b")


def quoted(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def agency_database(database: str, agency: str) -> str:
    """The agency database of an agency: `<db>__<agency with . and - as _>`."""
    return f"{database}__{re.sub(r'[^a-z0-9]', '_', agency)}"


def default_name(agency: str) -> str:
    """The user name when none is given: `auditor_<agency with . and - as _>`."""
    return f"auditor_{re.sub(r'[^a-z0-9]', '_', agency)}"


def agency_filter(table: str, database: str, agency: str) -> str:
    """The condition that keeps an agency's rows of a history table."""
    condition = next(c for name, _, c in _TABLES if name == table)
    return condition.format(agency=quoted(agency), db=f"`{database}`")


def copy_statements(database: str, agency: str) -> tuple[list[str], list[str]]:
    """(statements creating the agency database, its copies and views; the statements copying
    the rows already stored). The copies take new rows from the moment they exist; the rows
    stored between that moment and the backfill are copied twice, which the `v_*` views and
    `pantau verify` treat as the retried inserts they resemble."""
    scoped = agency_database(database, agency)
    create = [f"CREATE DATABASE IF NOT EXISTS `{scoped}`"]
    backfill = []
    for table, storage, _ in _TABLES:
        where = agency_filter(table, database, agency)
        create.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS `{scoped}`.{table} ENGINE = MergeTree "
            f"{storage} AS SELECT * FROM `{database}`.{table} WHERE {where}"
        )
        backfill.append(
            f"INSERT INTO `{scoped}`.{table} SELECT * FROM `{database}`.{table} WHERE {where}"
        )
    create += view_statements(scoped, load_migrations())
    return create, backfill


@dataclass(frozen=True)
class Column:
    """A column of a table as `system.columns` describes it."""

    name: str
    type: str
    default_kind: str = ""  # DEFAULT, MATERIALIZED, ALIAS or empty
    default_expression: str = ""


def missing_column_statements(
    copy: str, source: Sequence[Column], present: Collection[str]
) -> list[str]:
    """The `ALTER`s that give an agency copy's storage (`copy`, quoted) the columns a migration
    added to its history table since the copy was made, in the table's order. A copy selects
    `*` from its table: without them, every insert into the table would fail on 18.16."""
    statements = []
    for column in source:
        if column.name in present or column.default_kind in ("MATERIALIZED", "ALIAS"):
            continue
        default = f" DEFAULT {column.default_expression}" if column.default_kind else ""
        statements.append(f"ALTER TABLE {copy} ADD COLUMN `{column.name}` {column.type}{default}")
    return statements


def view_statements(scoped: str, migrations: Sequence[Migration]) -> list[str]:
    """The statements of `migrations` that (re)define the auditors' views, for an agency
    database (those reading an unscoped table are left out, as at its creation)."""
    found = []
    for migration in migrations:
        for statement in migration.statements(scoped):
            if _READS_UNSCOPED.search(statement):
                continue
            if statement.upper().startswith("CREATE VIEW") or _DROPS_VIEW.match(statement):
                found.append(statement)
    return found


def agency_databases(client: Any, database: str) -> list[str]:
    """The agency databases made for `database` in database mode (they hold its copies)."""
    rows = client.execute(
        "SELECT database FROM system.tables WHERE startsWith(database, %(prefix)s) "
        "AND name = 'events' AND engine = 'MaterializedView' ORDER BY database",
        {"prefix": f"{database}__"},
    )
    return [str(name) for (name,) in rows]


def _columns(client: Any, database: str, table: str) -> list[Column]:
    rows = client.execute(
        "SELECT name, type, default_kind, default_expression FROM system.columns "
        "WHERE database = %(database)s AND table = %(table)s",
        {"database": database, "table": table},
    )
    return [Column(str(n), str(t), str(k), str(e)) for n, t, k, e in rows]


def _storage_of(client: Any, scoped: str, table: str) -> str | None:
    """The table an agency copy stores its rows in: `.inner.<copy>` (18.16 and Ordinary
    databases) or `.inner_id.<uuid>` (Atomic databases of current ClickHouse)."""
    for name in (f".inner.{table}",):
        if _columns(client, scoped, name):
            return name
    rows = client.execute(
        "SELECT toString(uuid) FROM system.tables WHERE database = %(db)s AND name = %(name)s",
        {"db": scoped, "name": table},
    )
    if rows and _columns(client, scoped, f".inner_id.{rows[0][0]}"):
        return f".inner_id.{rows[0][0]}"
    return None


def refresh_agency_databases(
    client: Any, database: str, applied: Sequence[Migration], report: Callable[[str], None]
) -> None:
    """Bring every agency database of `database` up to its schema after migrations: the
    columns added to the history tables reach the copies' storage (so inserts keep working),
    and the views the `applied` migrations (re)define are (re)defined in it too."""
    for scoped in agency_databases(client, database):
        changes = 0
        for table in TABLES:
            storage = _storage_of(client, scoped, table)
            if storage is None:
                continue
            present = {column.name for column in _columns(client, scoped, storage)}
            source = _columns(client, database, table)
            for statement in missing_column_statements(f"`{scoped}`.`{storage}`", source, present):
                client.execute(statement)
                changes += 1
        for statement in view_statements(scoped, applied):
            client.execute(statement)
            changes += 1
        report(f"clickhouse {scoped}: agency copies brought up to date ({changes} statements)")


def users_xml(name: str, password: str, scoped: str) -> str:
    """A `users.d` file of a read-only user allowed into the one database `scoped`."""
    digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
    return f"""<?xml version="1.0"?>
<!-- Written by `pantau auditor add`: a read-only auditor of the agency database {scoped}. -->
<yandex>
    <users>
        <{name}>
            <password_sha256_hex>{digest}</password_sha256_hex>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>readonly</profile>
            <quota>default</quota>
            <allow_databases>
                <database>{scoped}</database>
            </allow_databases>
        </{name}>
    </users>
</yandex>
"""


def row_policy_statements(database: str, agency: str, name: str, password: str) -> list[str]:
    """SQL access control (ClickHouse 20.5 and later): the user, SELECT on the history database
    only, and one row policy per table keeping the agency's rows (none of an unscoped table's)."""
    statements = [
        f"CREATE USER IF NOT EXISTS {name} IDENTIFIED WITH sha256_password BY {quoted(password)} "
        f"DEFAULT DATABASE `{database}` SETTINGS readonly = 1",
        f"GRANT SELECT ON `{database}`.* TO {name}",
    ]
    for table in TABLES:
        statements.append(
            f"CREATE ROW POLICY IF NOT EXISTS {name}_{table} ON `{database}`.{table} "
            f"FOR SELECT USING {agency_filter(table, database, agency)} TO {name}"
        )
    for table in (*UNSCOPED_TABLES, *INTERNAL_TABLES):
        statements.append(
            f"CREATE ROW POLICY IF NOT EXISTS {name}_{table} ON `{database}`.{table} "
            f"FOR SELECT USING 0 TO {name}"
        )
    return statements


def supports_sql_access(version: str) -> bool:
    """Whether a server version has users, grants and row policies in SQL (20.5 and later)."""
    numbers = [int(part) for part in re.findall(r"\d+", version)[:2]] + [0, 0]
    return (numbers[0], numbers[1]) >= (20, 5)


def _local_dir() -> Path:
    """Where the deploy scripts keep the local servers (as deploy/lib.sh decides it)."""
    return Path(os.environ.get("PANTAU_LOCAL_DIR") or REPO_DIR / ".local")


class AuditorSettings(CommonSettings):
    """Where `pantau auditor add` writes users for a server configured by files (18.16)."""

    clickhouse_users_dir: Path = Field(
        default_factory=lambda: _local_dir() / "clickhouse" / "users.d",
        description="the ClickHouse server's users.d directory (for servers without SQL users); "
        "default: that of the local server, under PANTAU_LOCAL_DIR (.local)",
    )


@dataclass(frozen=True)
class Added:
    """What `add_auditor` did."""

    name: str
    password: str
    database: str
    mode: str
    created_database: bool


def add_auditor(
    client: Any,
    database: str,
    agency: str,
    name: str,
    password: str,
    mode: str,
    users_dir: Path,
) -> Added:
    """Create the auditor (and, in `database` mode, the agency database once)."""
    if mode == "auto":
        [(version,)] = client.execute("SELECT version()")
        mode = "row-policy" if supports_sql_access(str(version)) else "database"
    if mode == "row-policy":
        for statement in row_policy_statements(database, agency, name, password):
            client.execute(statement)
        return Added(name, password, database, mode, False)
    scoped = agency_database(database, agency)
    exists = client.execute(
        "SELECT count() FROM system.databases WHERE name = %(name)s", {"name": scoped}
    )[0][0]
    create, backfill = copy_statements(database, agency)
    if not exists:
        for statement in create + backfill:
            client.execute(statement)
    users_dir.mkdir(parents=True, exist_ok=True)
    path = users_dir / f"pantau-{name}.xml"
    path.write_text(users_xml(name, password, scoped), encoding="utf-8")
    path.chmod(0o640)
    return Added(name, password, scoped, mode, not exists)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="pantau auditor", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a read-only auditor of one agency")
    add.add_argument("--agency", required=True, help="the agency code, e.g. kota-malang.dpmptsp")
    add.add_argument("--name", help="the user name (default auditor_<agency>)")
    add.add_argument("--password", help="the password (default: a new random one, printed)")
    add.add_argument(
        "--mode",
        choices=["auto", "database", "row-policy"],
        default="auto",
        help="row-policy where the server has SQL users (20.5+), else database (default auto)",
    )
    args = parser.parse_args(list(argv))
    if not _AGENCY.match(args.agency):
        parser.error("--agency takes an agency code (a-z 0-9 . -)")
    name = args.name or default_name(args.agency)
    if not _NAME.match(name):
        parser.error("--name takes a-z 0-9 _ starting with a letter")
    password = args.password or secrets.token_urlsafe(18)
    settings = AuditorSettings()
    target = settings.clickhouse_target
    from clickhouse_driver.errors import Error as ClickHouseError

    from pantau.history.store import connect

    client = connect(target)
    try:
        known = client.execute(
            f"SELECT count() FROM `{target.database}`.service_standards WHERE agency = %(agency)s",
            {"agency": args.agency},
        )[0][0]
        if not known:
            print(f"note: no service standards of {args.agency} stored yet (is the code right?)")
        added = add_auditor(
            client,
            target.database,
            args.agency,
            name,
            password,
            args.mode,
            settings.clickhouse_users_dir,
        )
    except (ClickHouseError, OSError) as error:
        print(f"pantau auditor: {str(error).split('Stack trace')[0].strip()}", file=sys.stderr)
        return 1
    finally:
        client.disconnect()
    if added.mode == "database":
        state = "created and filled" if added.created_database else "already there"
        print(f"agency database {added.database}: {state}")
        print(f"user {name}: written to {settings.clickhouse_users_dir} (the server reloads it)")
    else:
        print(f"user {name}: created with row policies on {added.database} for {args.agency}")
    shown = "" if args.password else f":{password}"
    print(f"connect: clickhouse://{name}{shown}@{target.host}:{target.port}/{added.database}")
    return 0
