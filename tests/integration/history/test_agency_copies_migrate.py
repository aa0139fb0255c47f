"""A schema migration reaches the agency databases made before it (ClickHouse 18.16).

An agency copy selects `*` from its history table into storage whose columns were fixed when
the auditor was added. Migration 0007 adds `version` and `valid_from` to `service_standards`:
unless the copies get them too, every insert of the sink into that table fails on 18.16 and
the sink stalls. `pantau bootstrap` brings every agency database up to date after migrating.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from integration.history.engines import ServerEngine
from integration.history.known_history import load
from pantau.adapters.clickhouse_schema import Migration, apply_migrations, load_migrations
from pantau.core.catalog import load_catalog
from pantau.history.auditors import agency_database, copy_statements, view_statements
from pantau.history.records import SERVICE_STANDARD_COLUMNS, SERVICE_STEP_COLUMNS, standard_rows
from pantau.provisioning import provision
from pantau.settings import SAMPLE_CATALOG, CommonSettings
from stacks import CLICKHOUSE_PORT

KM, SL = "kota-malang.dpmptsp", "kab-sleman.dpmptsp"


@pytest.fixture
def at_0006(local_servers: None) -> Iterator[tuple[ServerEngine, str]]:
    """A history database at migration 0006 with the known history and KM's agency database."""
    engine = ServerEngine("127.0.0.1", CLICKHOUSE_PORT, f"pantau_upgrade_{uuid.uuid4().hex[:8]}")
    migrations = load_migrations()
    assert [m.version for m in migrations][5] == "0006"
    apply_migrations(engine, engine.database, migrations[:6], report=lambda _: None)
    load_before_0007(engine)
    scoped = agency_database(engine.database, KM)
    for statement in agency_database_at_0006(engine.database, migrations[:6]):
        engine.client.execute(statement)
    try:
        yield engine, scoped
    finally:
        engine.client.execute(f"DROP DATABASE IF EXISTS `{scoped}`")
        engine.drop()


def agency_database_at_0006(database: str, migrations: list[Migration]) -> list[str]:
    """KM's agency database as `pantau auditor add` made it before 0007: the copies of the
    standards ordered without `version`, and the views of the migrations up to 0006."""
    create, backfill = copy_statements(database, KM)
    scoped = agency_database(database, KM)
    tables = [
        statement.replace("service, version, ", "service, ")
        for statement in create
        if statement.startswith(("CREATE DATABASE", "CREATE MATERIALIZED VIEW"))
    ]
    return tables + view_statements(scoped, migrations) + backfill


def load_before_0007(engine: ServerEngine) -> None:
    """The known history's tables that exist before 0007, without its standards rows."""
    columns = SERVICE_STANDARD_COLUMNS[: SERVICE_STANDARD_COLUMNS.index("version")]
    services, _ = standard_rows(load_catalog(SAMPLE_CATALOG), datetime(2026, 11, 1, tzinfo=UTC))
    engine.insert("service_standards", columns, [row[: len(columns)] for row in services])


def test_bootstrap_brings_agency_copies_up_to_date_so_inserts_keep_working(
    at_0006: tuple[ServerEngine, str],
) -> None:
    engine, scoped = at_0006
    settings = CommonSettings(
        clickhouse=f"clickhouse://default@127.0.0.1:{CLICKHOUSE_PORT}/{engine.database}"
    )
    provision(settings, kafka=False)
    # The sink's insert of a published version's standards (0007's columns) goes through ...
    services, steps = standard_rows(
        load_catalog(SAMPLE_CATALOG),
        datetime(2026, 12, 1, tzinfo=UTC),
        3,
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    engine.insert("service_standards", SERVICE_STANDARD_COLUMNS, services)
    engine.insert("service_steps", SERVICE_STEP_COLUMNS, steps)
    # ... and the rest of the known history after it.
    load(engine)
    # The agency copy holds KM's rows of version 3 and none of another agency.
    copied = engine.client.execute(
        f"SELECT DISTINCT agency, version FROM `{scoped}`.service_standards ORDER BY version"
    )
    assert (KM, 3) in copied
    assert all(agency == KM for agency, _ in copied)
    # The views 0007 redefined are redefined in the agency database too.
    [(in_force,)] = engine.client.execute(
        f"SELECT max(version) FROM `{scoped}`.v_service_standards_by_version"
    )
    assert in_force == 3
    # Running it again changes nothing.
    provision(settings, kafka=False)
    engine.insert("service_standards", SERVICE_STANDARD_COLUMNS, services)
