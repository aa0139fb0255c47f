"""v_step_durations judges each step against its own deadline, on both ClickHouse engines.

The alerts come from the tracker's own core (`handle_event`, `check_deadlines`) run over two
PBG cases in which `verified` is done, the file goes back for clarification, and a new wait for
`verified` starts: in one case the second verification comes late, in the other it never comes.
Only the late second verification may be overdue; the first, done on time, never.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from integration.history.engines import Engine
from integration.history.known_history import KM, chained_rows
from pantau.adapters.clickhouse_schema import apply_migrations, load_migrations
from pantau.core.alerts import Alert
from pantau.core.catalog import load_catalog
from pantau.core.events import Event
from pantau.history.records import (
    ALERT_COLUMNS,
    EVENT_COLUMNS,
    SERVICE_STANDARD_COLUMNS,
    SERVICE_STEP_COLUMNS,
    alert_row,
    standard_rows,
)
from pantau.settings import SAMPLE_CATALOG
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.standards import Standards, TrackerPolicy
from pantau_tracker.domain.tracking import check_deadlines, handle_event

STORED_AT = datetime(2026, 12, 1, tzinfo=UTC)
TIMER_AT = datetime(2026, 11, 30, tzinfo=UTC)  # the timer's last look at open cases
ASKED = {"reason": "gambar struktur belum lengkap"}

# (case_id, [(step, local time +07:00, officer, role, extra)])
CASES: list[tuple[str, list[tuple[str, str, str, str, dict[str, Any]]]]] = [
    ("REV-LATE", [
        ("submitted", "2026-11-02T09:00", "", "", {}),
        ("verified", "2026-11-03T10:00", "V1", "verifier", {}),  # 1 working day: on time
        ("clarification_requested", "2026-11-04T10:00", "V1", "verifier", ASKED),
        ("clarification_received", "2026-11-05T10:00", "", "", {}),
        ("verified", "2026-11-19T10:00", "V1", "verifier", {}),  # 10 working days: late
    ]),
    ("REV-NEVER", [
        ("submitted", "2026-11-02T09:00", "", "", {}),
        ("verified", "2026-11-03T10:00", "V2", "verifier", {}),  # on time
        ("clarification_requested", "2026-11-04T10:00", "V2", "verifier", ASKED),
        ("clarification_received", "2026-11-05T10:00", "", "", {}),
    ]),
]  # fmt: skip


def _events() -> list[Event]:
    out = []
    for case_id, steps in CASES:
        for seq, (step, local, officer, role, extra) in enumerate(steps, start=1):
            document: dict[str, Any] = {
                "event_id": f"{KM}:{case_id}:{seq}",
                "agency": KM,
                "service": "pbg",
                "case_id": case_id,
                "step": step,
                "occurred_at": local + ":00+07:00",
                "seq": seq,
                **extra,
            }
            if officer:
                document["officer"] = {"id": officer, "role": role}
            out.append(Event.model_validate_json(json.dumps(document)))
    return out


def _tracked(events: list[Event]) -> list[Alert]:
    """Every alert the tracker's core raises on the events, and from its timer afterwards."""
    standard = Standards(load_catalog(SAMPLE_CATALOG), TrackerPolicy()).for_case(KM, "pbg")
    assert standard is not None
    states: dict[str, CaseState] = {}
    alerts: list[Alert] = []
    for offset, event in enumerate(events):
        received = event.occurred_at.astimezone(UTC).replace(second=5)
        outcome = handle_event(states.get(event.case_id), event, received, standard, (0, offset))
        alerts.extend(outcome.alerts)
        assert outcome.state is not None
        states[event.case_id] = outcome.state
    for state in states.values():
        alerts.extend(check_deadlines(state, TIMER_AT, standard).alerts)
    return alerts


@pytest.fixture
def revisited(engine: Engine) -> Iterator[tuple[Engine, str, list[Alert]]]:
    """A database of its own holding the two cases and the tracker's alerts on them."""
    database = f"pantau_revisit_{uuid.uuid4().hex[:8]}"
    apply_migrations(engine, database, load_migrations(), report=lambda _: None)
    events = _events()
    alerts = _tracked(events)
    rows = chained_rows(
        events, lambda event: event.occurred_at.astimezone(UTC).replace(second=5), STORED_AT
    )
    services, steps = standard_rows(load_catalog(SAMPLE_CATALOG), STORED_AT)
    engine.insert(f"`{database}`.service_standards", SERVICE_STANDARD_COLUMNS, services)
    engine.insert(f"`{database}`.service_steps", SERVICE_STEP_COLUMNS, steps)
    engine.insert(f"`{database}`.events", EVENT_COLUMNS, rows)
    alert_rows = [alert_row(a.to_json_bytes(), STORED_AT) for a in alerts]
    engine.insert(f"`{database}`.alerts", ALERT_COLUMNS, [r for r in alert_rows if r])
    yield engine, database, alerts
    engine.execute(f"DROP DATABASE IF EXISTS `{database}`")


def test_the_tracker_alerts_both_second_waits(
    revisited: tuple[Engine, str, list[Alert]],
) -> None:
    """The premise: in both cases the wait for `verified` after the clarification was alerted,
    while the first verification met its deadline."""
    _, _, alerts = revisited
    late = sorted((a.case_id, a.event_ids[0]) for a in alerts if a.rule == "sla.step_overdue")
    assert late == [("REV-LATE", f"{KM}:REV-LATE:4"), ("REV-NEVER", f"{KM}:REV-NEVER:4")]


def test_only_the_step_that_missed_its_own_deadline_is_overdue(
    revisited: tuple[Engine, str, list[Alert]],
) -> None:
    """A revisited step: the first `verified` (on time) is not overdue, the second (late) is,
    with the missed deadline and the step its wait ran from; a wait that nothing ended marks no
    row, even though the step it waited for was done earlier in the case."""
    engine, database, alerts = revisited
    due = {
        a.case_id: a.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        for a in alerts
        if a.rule == "sla.step_overdue" and a.occurred_at is not None
    }
    rows = engine.rows(
        "SELECT case_id, event_id, step, overdue, due_at, waited_from "
        f"FROM `{database}`.v_step_durations ORDER BY case_id, occurred_at"
    )
    overdue = [row for row in rows if row[3] == "1"]
    assert overdue == [
        ("REV-LATE", f"{KM}:REV-LATE:5", "verified", "1", due["REV-LATE"], "clarification_received")
    ]
    assert len(rows) == 9
    assert {row[4] for row in rows if row[3] == "0"} == {"NULL"}
