"""The operators' board: dedupe by alert_id, actions before their alert, case states."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pantau.core.alerts import Alert, make_alert
from pantau.core.catalog import load_catalog
from pantau.settings import SAMPLE_CATALOG
from pantau_alerts.domain.board import AlertBoard, AlertQuery
from pantau_alerts.domain.cases import CaseSnapshot, case_timeline, parse_case_state, service_health
from pantau_alerts.domain.lifecycle import ActionKind, ActionRecord, AlertStatus

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
MALANG = "kota-malang.dpmptsp"


def alert(case_id: str = "PBG-1", trigger: str = "e1", message: str = "first") -> Alert:
    return make_alert(
        "fee.mismatch",
        agency=MALANG,
        service="pbg",
        case_id=case_id,
        trigger=trigger,
        detected_at=T0,
        message=message,
    )


def test_same_alert_id_twice_is_kept_once() -> None:
    """A replayed alert (same id) does not duplicate; the first record wins."""
    board = AlertBoard()
    assert board.add_alert(alert()) is not None
    assert board.add_alert(alert(message="again")) is None
    assert len(board.alerts) == 1
    assert next(iter(board.alerts.values())).alert.message == "first"
    assert board.duplicates == 1


def test_action_read_before_its_alert_applies_when_the_alert_arrives() -> None:
    """Topics are read side by side: an early ack waits for its alert, in log order."""
    board = AlertBoard()
    a = alert()
    ack = ActionRecord("x1", a.alert_id, ActionKind.ACK, "op", None, T0)
    resolve = ActionRecord("x2", a.alert_id, ActionKind.RESOLVE, "op", None, T0)
    assert board.add_action(ack) is None
    assert board.add_action(ack) is None  # duplicate delivery of the same record
    assert board.add_action(resolve) is None
    state = board.add_alert(a)
    assert state is not None
    assert state.status is AlertStatus.RESOLVED
    assert [r.action_id for r in state.history] == ["x1", "x2"]


def test_query_scopes_to_agencies() -> None:
    """An operator's agencies bound every query."""
    board = AlertBoard()
    board.add_alert(alert())
    assert board.query(AlertQuery(), {"kab-sleman.dpmptsp"}) == ([], 0)
    assert board.query(AlertQuery(), {MALANG})[1] == 1


def test_tracker_case_state_becomes_a_timeline() -> None:
    """The tracker's document (steps with officers, deadlines) is read and drawn."""
    document = {
        "agency": MALANG,
        "service": "pbg",
        "case_id": "PBG-7",
        "status": "open",
        "current_step": "verified",
        "opened_at": "2026-11-02T09:00:00+07:00",
        "closed_at": None,
        "steps": [
            {"step": "submitted", "occurred_at": "2026-11-02T09:00:00+07:00", "officers": []},
            {"step": "verified", "occurred_at": "2026-11-04T09:00:00+07:00", "officers": ["o1"]},
        ],
        "due_at": "2026-12-10T09:00:00+07:00",
        "breached": False,
        "deadlines": [
            {
                "step": "fee_assessed",
                "after_step": "verified",
                "due_at": "2026-11-05T09:00:00+07:00",
                "overdue": True,
            }
        ],
    }
    case = parse_case_state(f"{MALANG}|PBG-7", json.dumps(document))
    assert case is not None
    view = case_timeline(case, load_catalog(SAMPLE_CATALOG), T0)
    assert [s["step"] for s in view["steps"]] == ["submitted", "verified"]
    assert view["steps"][1]["officer_id"] == "o1"
    assert view["steps"][1]["late"] is False  # 2 working days < 3
    assert view["pending"] == [
        {"step": "fee_assessed", "due_at": "2026-11-05T09:00:00+07:00", "overdue": True}
    ]
    assert view["due_at"] == "2026-12-10T09:00:00+07:00"


def test_unreadable_case_states_are_none() -> None:
    """Garbage, tombstones and states without a service are skipped."""
    assert parse_case_state("a|b", b"not json") is None
    assert parse_case_state("a|b", b"[1]") is None
    assert parse_case_state("a|b", b'{"case_id": "b"}') is None


def test_service_health_counts_breaches_today_and_this_month() -> None:
    """Open past-due and closed-late cases count as breached in the periods they were open."""
    now = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)

    def case(case_id: str, opened: str, closed: str | None, breached: bool) -> CaseSnapshot:
        doc = {
            "agency": MALANG,
            "service": "pbg",
            "case_id": case_id,
            "opened_at": opened,
            "closed_at": closed,
            "status": "closed" if closed else "open",
            "breached": breached,
        }
        parsed = parse_case_state(None, json.dumps(doc))
        assert parsed is not None
        return parsed

    cases = [
        case("A", "2026-11-01T09:00:00+07:00", None, True),  # open, breached
        case("B", "2026-11-03T09:00:00+07:00", "2026-11-10T09:00:00+07:00", False),
        case("C", "2026-10-01T09:00:00+07:00", "2026-10-20T09:00:00+07:00", True),  # last month
    ]
    rows = service_health(cases, load_catalog(SAMPLE_CATALOG), now)
    pbg = next(r for r in rows if (r["agency"], r["service"]) == (MALANG, "pbg"))
    assert pbg["month"] == {"cases": 2, "open": 1, "breached": 1, "compliance_pct": 50.0}
    assert pbg["today"] == {"cases": 1, "open": 1, "breached": 1, "compliance_pct": 0.0}
