"""The history schema and views on ClickHouse 18.16 and on current ClickHouse (chdb)."""

from __future__ import annotations

import copy
import re
import uuid
from datetime import UTC, timedelta
from typing import Any

from integration.history.engines import Engine, migrate
from integration.history.known_history import (
    ALERTS,
    CASES,
    JUDGED_BY_VERSION_2,
    STORED_AT,
    event_rows,
    events,
)
from pantau.adapters.clickhouse_schema import load_migrations
from pantau.core.events import Event, canonical_bytes
from pantau.core.sealing import DataKey, applicant_key_id, seal
from pantau.history.chain import ChainHead
from pantau.history.records import (
    ERASURE_COLUMNS,
    EVENT_COLUMNS,
    AcceptedEvent,
    event_row,
    receipt_bytes,
)

VIEWS = sorted(
    set(
        re.findall(
            r"CREATE VIEW IF NOT EXISTS \{db\}\.(\w+)",
            "".join(m.sql for m in load_migrations()),
        )
    )
)


def test_every_view_is_documented_by_a_comment() -> None:
    """Each view in the migrations is preceded by a comment naming the question it answers."""
    text = "".join(m.sql for m in load_migrations())
    for view in VIEWS:
        documented = rf"--[^\n]*\n(--[^\n]*\n)*CREATE VIEW IF NOT EXISTS \{{db\}}\.{view} "
        assert re.search(documented, text)
    assert {"v_events", "v_alerts", "v_cases", "v_sla_compliance"} <= set(VIEWS)


def test_migrations_apply_once(engine: Engine) -> None:
    """Applying the migrations again changes nothing on either engine."""
    assert migrate(engine) == []


def test_every_view_answers(engine: Engine) -> None:
    """Every view can be selected from on both engines."""
    for view in VIEWS:
        engine.rows(f"SELECT count() FROM {view}")


def test_v_events_shows_each_event_once(engine: Engine) -> None:
    """A row stored twice appears once in v_events; the raw table holds both copies."""
    assert engine.rows("SELECT count() FROM events") == [(str(len(events()) + 1),)]
    assert engine.rows("SELECT count(), uniqExact(event_id) FROM v_events") == [
        (str(len(events())), str(len(events())))
    ]


def test_v_alerts_shows_each_alert_once(engine: Engine) -> None:
    """An alert published twice appears once in v_alerts."""
    assert engine.rows("SELECT count() FROM v_alerts") == [(str(len(ALERTS)),)]


def test_v_cases_shows_the_latest_state_of_each_case(engine: Engine) -> None:
    """v_cases has one row per case with its latest state (the highest version)."""
    rows = engine.rows(
        "SELECT case_id, status, current_step, opened_at, closed_at, due_at, breached "
        "FROM v_cases ORDER BY case_id"
    )
    assert len(rows) == len(CASES)
    by_case = {row[0]: row[1:] for row in rows}
    assert by_case["PBG-1"] == (
        "closed",
        "issued",
        "2026-11-02 02:00:00",
        "2026-11-09 02:00:00",
        "2026-12-11 09:00:00",
        "0",
    )
    assert by_case["PBG-3"][:2] == ("open", "verified")
    assert by_case["PBG-3"][3] == "NULL"
    assert by_case["R-1"][5] == "1"


def test_v_standards_lists_each_version_once_and_v_cases_names_each_case_version(
    engine: Engine,
) -> None:
    """Every published version once (one was stored twice), with its hash, validity and
    publisher; v_cases gives the version each case is judged by (0: none published)."""
    assert engine.rows("SELECT count() FROM standards") == [("3",)]
    rows = engine.rows(
        "SELECT version, published_by, valid_from, substring(content_hash, 1, 7), "
        "length(catalog) > 1000 FROM v_standards ORDER BY version"
    )
    assert rows == [
        ("1", "bootstrap", "2026-10-01 00:00:00", "sha256:", "1"),
        ("2", "dinas", "2026-10-02 00:00:00", "sha256:", "1"),
    ]
    hashes = engine.rows("SELECT uniqExact(content_hash) FROM v_standards")
    assert hashes == [("2",)]
    versions = {
        case: version
        for case, version in engine.rows("SELECT case_id, standard_version FROM v_cases")
    }
    assert versions.pop(JUDGED_BY_VERSION_2) == "2"
    assert set(versions.values()) == {"0"}


def test_v_sla_compliance_counts_closed_cases_per_month(engine: Engine) -> None:
    """Closed cases per agency, service and month, with those within and past the standard."""
    rows = engine.rows(
        "SELECT agency, service, month, cases_closed, within_sla, breached, compliance_pct "
        "FROM v_sla_compliance ORDER BY agency, service, month"
    )
    assert rows == [
        ("kab-sleman.dpmptsp", "reklame-insidentil", "2026-11-01", "1", "0", "1", "0"),
        ("kota-malang.disdukcapil", "ktp-el", "2026-10-01", "1", "1", "0", "100"),
        ("kota-malang.disdukcapil", "ktp-el", "2026-11-01", "1", "1", "0", "100"),
        ("kota-malang.dpmptsp", "pbg", "2026-11-01", "2", "2", "0", "100"),
        ("kota-malang.dpmptsp", "slf", "2026-11-01", "1", "1", "0", "100"),
    ]


def test_hash_chain_can_be_recomputed_in_sql(engine: Engine) -> None:
    """hash = SHA-256 over prev_hash, the canonical event, a newline and the sealed receipt,
    checkable with SQL on both engines."""
    assert engine.rows(
        "SELECT countIf(lower(hex(SHA256(concat(prev_hash, canonical, "
        "if(chain_version = 2, concat('\\n', receipt), ''))))) != hash), "
        "countIf(chain_version != 2) FROM events"
    ) == [("0", "0")]


def _sealed_event_rows() -> list[tuple[Any, ...]]:
    """Two cases of two applicants, each one event with sealed personal data, as stored."""
    rows = []
    for offset, (case_id, ref) in enumerate(
        (("S-1", "k1:" + "1a" * 32), ("S-2", "k1:" + "2b" * 32))
    ):
        document = {
            "event_id": f"{case_id}:1",
            "agency": "kota-malang.dpmptsp",
            "service": "pbg",
            "case_id": case_id,
            "step": "submitted",
            "occurred_at": "2026-11-23T09:00:00+07:00",
            "applicant": {"ref": ref},
            "attributes": {"address": "Jl. Kawi 12", "assessed_amount": "1.00"},
        }
        event = Event.model_validate(
            seal(document, DataKey("d1:" + case_id, applicant_key_id(ref), b"k" * 32))
        )
        received = event.occurred_at.astimezone(UTC) + timedelta(seconds=5)
        accepted = AcceptedEvent(event, canonical_bytes(event), received, 0, offset)
        extended = ChainHead.empty().extended(
            event.event_id, accepted.canonical, receipt_bytes(accepted)
        )
        assert extended is not None
        rows.append(event_row(accepted, extended[1], STORED_AT))
    return rows


def test_v_personal_data_and_v_erasures_say_what_is_sealed_and_erased(
    engine: Engine,
) -> None:
    """In a database of its own on each engine: v_personal_data names each sealed event's data
    key and flags it erased once an erasure lists that key; events without an envelope are not
    sealed; v_erasures shows an erasure stored twice once."""
    scratch = copy.copy(engine)
    scratch.database = f"pantau_erasure_{uuid.uuid4().hex[:8]}"
    engine.execute(f"CREATE DATABASE IF NOT EXISTS `{scratch.database}`")
    db = f"`{scratch.database}`"
    try:
        migrate(scratch)
        engine.insert(f"{db}.events", EVENT_COLUMNS, _sealed_event_rows() + event_rows()[:1])
        erasure = (
            "e-1",
            STORED_AT.replace(tzinfo=None),
            "ppid",
            "PDP-7",
            "applicant",
            "a1:x",
            ["d1:S-1"],
            STORED_AT.replace(tzinfo=None),
        )
        engine.insert(f"{db}.erasures", ERASURE_COLUMNS, [erasure, erasure])
        assert engine.rows(
            f"SELECT case_id, data_key, sealed, erased FROM {db}.v_personal_data ORDER BY case_id"
        ) == [
            ("PBG-1", "", "0", "0"),
            ("S-1", "d1:S-1", "1", "1"),
            ("S-2", "d1:S-2", "1", "0"),
        ]
        assert engine.rows(
            f"SELECT erasure_id, erased_by, why, data_keys FROM {db}.v_erasures"
        ) == [("e-1", "ppid", "PDP-7", "[d1:S-1]")]
    finally:
        engine.execute(f"DROP DATABASE IF EXISTS {db}")
