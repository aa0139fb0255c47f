"""The history compares each case with the version of the service standards it follows.

Version 2 of the standards shortens PBG's verification from 3 working days to 1 and raises its
minimum fee while PBG-OLD is open; PBG-NEW is submitted after the change; version 3 is
scheduled far ahead. The case states come from the tracker's own core, the rows from the sink's
own row code. On both ClickHouse engines, PBG-OLD is compared with version 1 and PBG-NEW with
version 2. Then `pantau sink` itself, against the real broker and server, writes the services and
steps of a version it reads from the standards topic, and at start those of a version stored
before the tables had versions.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_driver import Client

from integration.history.engines import Engine
from integration.history.known_history import KM, chained_rows
from integration.history.sink_process import SinkProcess, publish, wait_for
from pantau.adapters.clickhouse_schema import apply_migrations, load_migrations
from pantau.core.catalog import load_catalog, load_catalog_documents
from pantau.core.events import Event, canonical_bytes
from pantau.core.standards import StandardsBook, StandardVersion, canonical_document, new_version
from pantau.history.chain import ChainHead
from pantau.history.records import (
    CASE_STATE_COLUMNS,
    EVENT_COLUMNS,
    SERVICE_STANDARD_COLUMNS,
    SERVICE_STEP_COLUMNS,
    STANDARD_VERSION_COLUMNS,
    AcceptedEvent,
    case_state_row,
    event_row,
    receipt_bytes,
    standard_rows,
    taken_version,
)
from pantau.settings import SAMPLE_CATALOG, CommonSettings
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.case_view import case_view
from pantau_tracker.domain.standards import Standards
from pantau_tracker.domain.tracking import handle_event

STORED_AT = datetime(2026, 11, 28, tzinfo=UTC)
PUBLISHED = datetime(2026, 1, 1, tzinfo=UTC)
CHANGE = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # version 2 takes effect (Mon 08:00 WIB)
SCHEDULED = datetime(2099, 1, 1, tzinfo=UTC)  # version 3, not yet in force


def _document(verify_sla: str, fee_min: int, sla: str = "28 working_days") -> dict[str, Any]:
    _, documents = load_catalog_documents(SAMPLE_CATALOG)
    document = copy.deepcopy(canonical_document(documents))
    pbg = next(s for s in document["services"] if s["code"] == "pbg" and s["agency"] == KM)
    pbg["sla"] = sla
    pbg["fee"]["min"] = fee_min
    next(s for s in pbg["steps"] if s["code"] == "verified")["sla"] = verify_sla
    return document


def versions() -> list[StandardVersion]:
    """Version 1 (verification 3 working days, fee from 100,000), version 2 from CHANGE
    (1 working day, fee from 150,000), version 3 scheduled (a 10-day case limit)."""
    specs = [
        (1, _document("3 working_days", 100000), PUBLISHED),
        (2, _document("1 working_days", 150000), CHANGE),
        (3, _document("1 working_days", 150000, "10 working_days"), SCHEDULED),
    ]
    return [
        new_version(number, doc, valid_from=at, published_by="dinas", published_at=PUBLISHED)
        for number, doc, at in specs
    ]


def _events(case_id: str, submitted: datetime) -> list[Event]:
    """Submitted, verified two working days later, paid 120,000 (within version 1's tariff,
    under version 2's)."""
    steps = [
        ("submitted", submitted, {}),
        ("verified", submitted + timedelta(days=2), {"officer": {"id": "V1", "role": "verifier"}}),
        ("fee_assessed", submitted + timedelta(days=3), {}),
        ("paid", submitted + timedelta(days=3, hours=2), {"payment": {"amount": "120000.00"}}),
    ]
    return [
        Event.model_validate_json(
            json.dumps(
                {
                    "event_id": f"{KM}:{case_id}:{seq}",
                    "agency": KM,
                    "service": "pbg",
                    "case_id": case_id,
                    "step": step,
                    "occurred_at": at.isoformat(),
                    "seq": seq,
                    **extra,
                }
            )
        )
        for seq, (step, at, extra) in enumerate(steps, start=1)
    ]


def tracked() -> tuple[list[Event], list[bytes]]:
    """The events of PBG-OLD (submitted before the change, while only version 1 is known) and
    PBG-NEW (after version 2 was learnt), and the case states the tracker publishes."""
    v1, v2, _ = versions()
    standards = Standards(book=StandardsBook((v1,)))
    events: list[Event] = []
    states: list[bytes] = []
    for case_id, submitted in (
        ("PBG-OLD", CHANGE - timedelta(days=6)),  # Tue 10 Nov, 08:00 WIB
        ("PBG-NEW", CHANGE + timedelta(days=1)),  # Tue 17 Nov, 08:00 WIB
    ):
        if submitted > CHANGE:
            assert standards.learn(v2)
        state: CaseState | None = None
        for event in _events(case_id, submitted):
            standard = standards.for_event(state, event)
            assert standard is not None
            outcome = handle_event(state, event, event.occurred_at, standard)
            assert outcome.state is not None
            state = outcome.state
            states.append(orjson.dumps(case_view(state, standard)))
            events.append(event)
    return events, states


def load(engine: Engine, database: str) -> None:
    """The two cases as the sink stores them, the three versions with their services and
    steps, and the sample catalog as version 0."""
    events, states = tracked()
    rows = chained_rows(
        events, lambda event: event.occurred_at.astimezone(UTC) + timedelta(seconds=5), STORED_AT
    )
    engine.insert(f"`{database}`.events", EVENT_COLUMNS, rows)
    case_rows = []
    for offset, state in enumerate(states):
        document = json.loads(state)
        key = f"{document['agency']}|{document['case_id']}".encode()
        row = case_state_row(state, key, 1_790_000_000_000, offset, STORED_AT)
        assert row is not None
        case_rows.append(row)
    engine.insert(f"`{database}`.case_states", CASE_STATE_COLUMNS, case_rows)
    services, steps = standard_rows(load_catalog(SAMPLE_CATALOG), STORED_AT)
    engine.insert(f"`{database}`.service_standards", SERVICE_STANDARD_COLUMNS, services)
    engine.insert(f"`{database}`.service_steps", SERVICE_STEP_COLUMNS, steps)
    for version in versions():
        taken = taken_version(version.to_record(), STORED_AT)
        assert taken is not None
        engine.insert(f"`{database}`.standards", STANDARD_VERSION_COLUMNS, [taken.row])
        engine.insert(f"`{database}`.service_standards", SERVICE_STANDARD_COLUMNS, taken.services)
        engine.insert(f"`{database}`.service_steps", SERVICE_STEP_COLUMNS, taken.steps)


@pytest.fixture
def changed(engine: Engine) -> Iterator[tuple[Engine, str]]:
    """A database of its own holding the two cases and the versions."""
    database = f"pantau_versions_{uuid.uuid4().hex[:8]}"
    apply_migrations(engine, database, load_migrations(), report=lambda _: None)
    load(engine, database)
    yield engine, database
    engine.execute(f"DROP DATABASE IF EXISTS `{database}`")


def _pbg_rows(
    engine: Engine, database: str, columns: str, view: str, then: str = ""
) -> list[tuple[str, ...]]:
    """`columns` of Kota Malang's PBG rows of `view` in `database`; `then` adds to the query
    (a further condition, a grouping)."""
    return engine.rows(
        f"SELECT {columns} FROM `{database}`.{view} "
        f"WHERE agency = '{KM}' AND service = 'pbg' {then}"
    )


def test_the_tracker_pins_each_case_to_its_version(changed: tuple[Engine, str]) -> None:
    """The premise: v_cases says PBG-OLD follows version 1 and PBG-NEW version 2."""
    engine, database = changed
    rows = engine.rows(
        f"SELECT case_id, standard_version FROM `{database}`.v_cases ORDER BY case_id"
    )
    assert rows == [("PBG-NEW", "2"), ("PBG-OLD", "1")]


def test_steps_are_compared_with_the_limit_of_their_case_version(
    changed: tuple[Engine, str],
) -> None:
    """v_step_durations gives PBG-OLD's verification version 1's 3 working days and PBG-NEW's
    version 2's 1 working day, naming the version."""
    engine, database = changed
    rows = engine.rows(
        f"SELECT case_id, step_sla, standard_version FROM `{database}`.v_step_durations "
        "WHERE step = 'verified' ORDER BY case_id"
    )
    assert rows == [("PBG-NEW", "1 working_days", "2"), ("PBG-OLD", "3 working_days", "1")]


def test_a_payment_is_compared_with_the_tariff_of_its_case_version(
    changed: tuple[Engine, str],
) -> None:
    """The same 120,000 payment is within version 1's tariff (PBG-OLD) and under version 2's
    (PBG-NEW): only PBG-NEW's is a discrepancy, 30,000 short."""
    engine, database = changed
    rows = engine.rows(
        f"SELECT case_id, amount, fee_min, difference, standard_version "
        f"FROM `{database}`.v_fee_discrepancies"
    )
    assert rows == [("PBG-NEW", "120000", "150000", "30000", "2")]


def test_every_version_is_kept_and_the_one_in_force_is_shown_as_the_standard(
    changed: tuple[Engine, str],
) -> None:
    """The by-version views hold versions 0 to 3 once each; v_service_standards and
    v_service_steps show version 2, in force now (version 3 is still scheduled)."""
    engine, database = changed
    by_version = _pbg_rows(
        engine,
        database,
        "version, count(), any(sla)",
        "v_service_standards_by_version",
        "GROUP BY version ORDER BY version",
    )
    assert by_version == [
        ("0", "1", "28 working_days"),
        ("1", "1", "28 working_days"),
        ("2", "1", "28 working_days"),
        ("3", "1", "10 working_days"),
    ]
    in_force = _pbg_rows(engine, database, "version, valid_from, fee_min", "v_service_standards")
    assert in_force == [("2", "2026-11-16 01:00:00", "150000")]
    step = _pbg_rows(engine, database, "version, sla", "v_service_steps", "AND step = 'verified'")
    assert step == [("2", "1 working_days")]
    counts = _pbg_rows(
        engine,
        database,
        "version, count()",
        "v_service_steps_by_version",
        "GROUP BY version ORDER BY version",
    )
    assert [count for _, count in counts] == [counts[0][1]] * 4


def test_rows_stored_before_migration_0007_become_version_0(engine: Engine) -> None:
    """A database at migration 0006 holding a catalog snapshot (no version columns yet) is
    migrated: its rows are version 0, and the in-force views and v_step_durations still give
    their limits to a case that follows no published version."""
    database = f"pantau_upgrade_{uuid.uuid4().hex[:8]}"
    migrations = load_migrations()
    assert [m.version for m in migrations].index("0007") == 6
    apply_migrations(engine, database, migrations[:6], report=lambda _: None)
    try:
        services, steps = standard_rows(load_catalog(SAMPLE_CATALOG), STORED_AT)
        old_services = SERVICE_STANDARD_COLUMNS[:-2]  # without version, valid_from
        old_steps = SERVICE_STEP_COLUMNS[:-1]  # without version
        engine.insert(
            f"`{database}`.service_standards",
            old_services,
            [row[: len(old_services)] for row in services],
        )
        engine.insert(
            f"`{database}`.service_steps", old_steps, [row[: len(old_steps)] for row in steps]
        )
        events, _ = tracked()
        accepted = AcceptedEvent(events[0], canonical_bytes(events[0]), events[0].occurred_at, 0, 0)
        extended = ChainHead.empty().extended(
            events[0].event_id, accepted.canonical, receipt_bytes(accepted)
        )
        assert extended is not None
        engine.insert(
            f"`{database}`.events", EVENT_COLUMNS, [event_row(accepted, extended[1], STORED_AT)]
        )
        assert apply_migrations(engine, database, migrations[:7], report=lambda _: None) == ["0007"]
        in_force = _pbg_rows(engine, database, "version, sla", "v_service_standards")
        assert in_force == [("0", "28 working_days")]
        step = _pbg_rows(
            engine, database, "version, sla", "v_service_steps", "AND step = 'verified'"
        )
        assert step == [("0", "3 working_days")]
        durations = engine.rows(
            f"SELECT case_id, step, standard_version FROM `{database}`.v_step_durations"
        )
        assert durations == [("PBG-OLD", "submitted", "0")]
    finally:
        engine.execute(f"DROP DATABASE IF EXISTS `{database}`")


# --- the sink itself ---------------------------------------------------------------------------


def test_the_sink_stores_the_services_and_steps_of_each_version_it_reads(
    history_stack: dict[str, str], history_client: Client, tmp_path: Path
) -> None:
    """A version stored before the tables had versions (only its `standards` row, as after
    migration 0007) gets its services and steps when the sink starts; a version published
    while the sink runs gets them when the sink stores it; the sink's own catalog is version 0."""
    _, v2, v3 = versions()
    stale = taken_version(v3.to_record(), STORED_AT)
    assert stale is not None
    history_client.execute(
        f"INSERT INTO standards ({', '.join(STANDARD_VERSION_COLUMNS)}) VALUES", [stale.row]
    )
    settings = CommonSettings(
        kafka=history_stack["PANTAU_KAFKA"], topic_prefix=history_stack["PANTAU_TOPIC_PREFIX"]
    )
    sink = SinkProcess(
        {**history_stack, "PANTAU_CATALOG": os.fspath(SAMPLE_CATALOG)}, tmp_path / "sink.log"
    )

    def versions_of(table: str) -> list[int]:
        rows = history_client.execute(f"SELECT DISTINCT version FROM {table} ORDER BY version")
        return [int(version) for (version,) in rows]

    try:
        # Version 1 is the stack's bootstrap publication; version 3 was stored before.
        wait_for(lambda: versions_of("service_standards") == [0, 1, 3], timeout=60)
        publish(settings.kafka_servers, settings.topics.standards, [(b"2", v2.to_record())])
        wait_for(lambda: versions_of("service_standards") == [0, 1, 2, 3], timeout=30)
        wait_for(lambda: versions_of("service_steps") == [0, 1, 2, 3], timeout=30)
    finally:
        assert sink.stop() == 0, sink.log.read_text()
    rows = history_client.execute(
        "SELECT version, sla, valid_from FROM v_service_standards_by_version "
        f"WHERE agency = '{KM}' AND service = 'pbg' ORDER BY version"
    )
    assert [(v, sla) for v, sla, _ in rows] == [
        (0, "28 working_days"),
        (1, "28 working_days"),
        (2, "28 working_days"),
        (3, "10 working_days"),
    ]
    assert rows[2][2] == CHANGE.replace(tzinfo=None)
    steps = history_client.execute(
        "SELECT version, sla FROM v_service_steps_by_version "
        f"WHERE agency = '{KM}' AND service = 'pbg' AND step = 'verified' ORDER BY version"
    )
    assert steps == [
        (0, "3 working_days"),
        (1, "3 working_days"),
        (2, "1 working_days"),
        (3, "1 working_days"),
    ]
    assert "Traceback" not in sink.log.read_text()
