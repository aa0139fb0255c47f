"""Deemed approval (fiktif positif): a warning before the service limit, the approval by law when
it passes undecided, and a rejection after it; timers and late arrivals agree, exactly once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import samples
from pantau.core.alerts import Alert
from pantau.core.catalog import CatalogError, DeemedApproval, parse_catalog
from pantau.core.durations import Duration, DurationUnit
from pantau.core.events import Event
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.case_view import case_view
from pantau_tracker.domain.deadlines import deemed_deadlines
from pantau_tracker.domain.standards import CaseStandard, Standards
from pantau_tracker.domain.tracking import check_deadlines, due_at

WIB = timezone(timedelta(hours=7))
AGENCY = "kota-malang.dpmptsp"
CASE = "PKKPR-2026-0042"


def catalog(**service: Any) -> dict[str, Any]:
    return samples.catalog_data(
        {
            "code": "pkkpr",
            "agency": AGENCY,
            "name": "Persetujuan Kesesuaian Kegiatan Pemanfaatan Ruang",
            "sla": "3 working_days",
            "fee": 0,
            "deemed_approval": {"warn_before": "8 working_hours"},
            "steps": [
                {"code": "submitted", "start": True},
                {"code": "verified", "roles": ["verifier"]},
                {"code": "approved", "roles": ["head"]},
                {"code": "issued", "terminal": True},
                {"code": "rejected", "terminal": True, "reason_required": True},
                {"code": "revision_requested", "clock": "stop", "reason_required": True},
                {"code": "revision_received", "clock": "resume"},
            ],
            "next": {
                "submitted": ["verified", "rejected", "revision_requested"],
                "verified": ["approved", "rejected"],
                "revision_requested": ["revision_received"],
                "revision_received": ["verified"],
                "approved": ["issued"],
            },
            **service,
        }
    )


def _standard(data: dict[str, Any]) -> CaseStandard:
    found = Standards(parse_catalog(data, "test-catalog")).for_case(AGENCY, "pkkpr")
    assert found is not None
    return found


PKKPR = _standard(catalog())
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=WIB)  # Monday, in office hours
DUE = datetime(2026, 11, 26, 9, 0, tzinfo=WIB)  # three working days later
# Eight working hours before Thursday 09:00: 1.5 h on Thursday, 6.5 h of Wednesday's 8.5.
WARN = datetime(2026, 11, 25, 9, 30, tzinfo=WIB)


def event(step: str, at: datetime, n: int, **extra: Any) -> Event:
    return samples.numbered_event(CASE, "pkkpr", step, at, n, **extra)


def verified(at: datetime, n: int = 2) -> Event:
    return event("verified", at, n, officer={"id": "V1", "role": "verifier"})


def run(
    events: Iterable[Event], state: CaseState | None = None, standard: CaseStandard = PKKPR
) -> tuple[CaseState, list[Alert]]:
    return samples.fold_case(events, standard, state)


def rules(alerts: Iterable[Alert]) -> list[str]:
    return [alert.rule.value for alert in alerts]


def test_the_warning_comes_a_working_day_before_the_limit_and_the_timer_gives_it_once() -> None:
    """Undecided on Wednesday 09:30, eight working hours before the limit: warned once."""
    state, alerts = run([event("submitted", T0, 1), verified(T0 + timedelta(hours=2))])
    assert alerts == []
    assert deemed_deadlines(state, PKKPR) == (WARN, DUE)
    assert due_at(state, PKKPR) == WARN
    assert check_deadlines(state, WARN, PKKPR).alerts == []
    warned = check_deadlines(state, WARN + timedelta(seconds=1), PKKPR)
    assert rules(warned.alerts) == ["sla.deemed_approval_near"]
    [warning] = warned.alerts
    assert warning.detected_at == WARN
    assert warning.evidence["deemed_approved_at"] == "2026-11-26T09:00:00+07:00"
    assert warned.state is not None
    assert due_at(warned.state, PKKPR) == DUE
    again = check_deadlines(warned.state, WARN + timedelta(minutes=5), PKKPR)
    assert again.changed is False


def test_a_decision_before_the_warning_raises_nothing() -> None:
    """Approved and issued on Tuesday: no warning, no deemed approval, ever."""
    state, alerts = run(
        [
            event("submitted", T0, 1),
            verified(T0 + timedelta(hours=2)),
            event("approved", T0 + timedelta(days=1), 3, officer={"id": "H1", "role": "head"}),
            event("issued", T0 + timedelta(days=1, hours=1), 4),
        ]
    )
    assert alerts == []
    assert check_deadlines(state, T0 + timedelta(days=30), PKKPR).alerts == []


def test_the_limit_passing_undecided_deems_the_case_approved() -> None:
    """The timer after the limit: the warning, the overdue case and the deemed approval, once;
    the case view then says deemed_approved."""
    state, _ = run([event("submitted", T0, 1), verified(T0 + timedelta(hours=2))])
    fired = check_deadlines(state, DUE + timedelta(seconds=1), PKKPR)
    assert rules(fired.alerts) == [
        "sla.deemed_approval_near",
        "sla.case_overdue",
        "sla.deemed_approved",
    ]
    assert [alert.detected_at for alert in fired.alerts] == [WARN, DUE, DUE]
    assert fired.state is not None
    assert fired.state.deemed_approved_at == DUE
    assert case_view(fired.state, PKKPR)["status"] == "deemed_approved"
    assert due_at(fired.state, PKKPR) is None
    assert check_deadlines(fired.state, DUE + timedelta(days=9), PKKPR).changed is False


def test_a_late_decision_raises_what_the_timer_would_have_raised() -> None:
    """Issued a day after the limit with no timer in between: the same alerts, byte for byte;
    after the timer, the late decision adds nothing."""
    opened = [event("submitted", T0, 1), verified(T0 + timedelta(hours=2))]
    late = [
        event("approved", DUE + timedelta(days=1), 3, officer={"id": "H1", "role": "head"}),
        event("issued", DUE + timedelta(days=1, hours=1), 4),
    ]
    _, by_arrival = run([*opened, *late])
    state, _ = run(opened)
    timer = check_deadlines(state, DUE + timedelta(hours=1), PKKPR)
    assert [a.to_json_bytes() for a in by_arrival] == [a.to_json_bytes() for a in timer.alerts]
    assert timer.state is not None
    closed, after_timer = run(late, timer.state)
    assert after_timer == []
    assert case_view(closed, PKKPR)["status"] == "closed"


def test_a_rejection_after_the_deemed_approval_is_alerted() -> None:
    """Rejected after the limit passed: process.after_deemed_approval, naming when it was
    approved; a rejection that happened before the limit (received late) is not."""
    opened = [event("submitted", T0, 1), verified(T0 + timedelta(hours=2))]
    state, _ = run(opened)
    deemed = check_deadlines(state, DUE + timedelta(seconds=1), PKKPR).state
    assert deemed is not None
    rejected_after = event("rejected", DUE + timedelta(days=2), 3, reason="tata ruang")
    _, alerts = run([rejected_after], deemed)
    assert rules(alerts) == ["process.after_deemed_approval"]
    assert alerts[0].evidence == {"deemed_approved_at": "2026-11-26T09:00:00+07:00"}
    rejected_in_time = event("rejected", DUE - timedelta(hours=1), 3, reason="tata ruang")
    _, alerts = run([rejected_in_time], deemed)
    assert alerts == []


def test_a_clock_stop_holds_the_warning_and_the_approval_back() -> None:
    """Revision requested on Tuesday 09:00 for a week: nothing while stopped; the warning and the
    limit move by the five working days the clock stood still."""
    requested = T0 + timedelta(days=1)
    state, _ = run(
        [event("submitted", T0, 1), event("revision_requested", requested, 2, reason="x")]
    )
    assert deemed_deadlines(state, PKKPR) == (None, None)
    assert check_deadlines(state, DUE + timedelta(days=20), PKKPR).alerts == []
    resumed = requested + timedelta(days=7)  # Tuesday 1 December 09:00
    state, alerts = run([event("revision_received", resumed, 3)], state)
    assert alerts == []
    assert deemed_deadlines(state, PKKPR) == (
        datetime(2026, 12, 2, 9, 30, tzinfo=WIB),
        datetime(2026, 12, 3, 9, 0, tzinfo=WIB),
    )


def test_holidays_and_days_off_do_not_count_towards_the_limit_or_the_warning() -> None:
    """Submitted Monday 21 December: 24 December (a day off), Christmas and the weekend do not
    count, so the limit is Monday 28 December and the warning Wednesday 23 December."""
    start = datetime(2026, 12, 21, 9, 0, tzinfo=WIB)
    state, _ = run([event("submitted", start, 1)])
    assert deemed_deadlines(state, PKKPR) == (
        datetime(2026, 12, 23, 9, 30, tzinfo=WIB),
        datetime(2026, 12, 28, 9, 0, tzinfo=WIB),
    )


def test_a_service_without_deemed_approval_is_only_overdue() -> None:
    """The same case under a standard without deemed approval raises sla.case_overdue alone."""
    plain = _standard(catalog(deemed_approval=False))
    state, _ = run([event("submitted", T0, 1)], standard=plain)
    fired = check_deadlines(state, DUE + timedelta(seconds=1), plain)
    assert rules(fired.alerts) == ["sla.case_overdue"]
    assert fired.state is not None
    assert case_view(fired.state, plain)["status"] == "open"


def test_a_state_stored_before_deemed_approvals_reads_as_neither_warned_nor_approved() -> None:
    """An older state document without the two fields still loads."""
    state, _ = run([event("submitted", T0, 1)])
    document = state.to_document()
    del document["deemed_warned"], document["deemed_approved_at"]
    assert CaseState.from_document(document) == state


def test_deemed_approval_true_warns_a_working_day_ahead() -> None:
    """`deemed_approval: true` takes the default warning time of 8 working hours."""
    standard = _standard(catalog(deemed_approval=True))
    assert standard.service.deemed_approval == DeemedApproval(
        Duration(8, DurationUnit.WORKING_HOURS)
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sla": None}, "a deemed approval needs the service's sla"),
        ({"deemed_approval": {"warn_before": "1 days"}}, "counted in working_hours, not days"),
        (
            {"deemed_approval": {"warn_before": "8 working_hours"}, "sla": "8 working_hours"},
            "must be shorter than the service's sla (8 working_hours)",
        ),
        ({"deemed_approval": {"lead": "8 working_hours"}}, "lead"),
        ({"deemed_approval": "yes"}, "must be true, false or"),
    ],
)
def test_a_broken_deemed_approval_is_refused(changes: dict[str, Any], message: str) -> None:
    """The catalog refuses a deemed approval it could not apply, saying why."""
    data = catalog()
    service = data["services"][0]
    for key, value in changes.items():
        if value is None:
            service.pop(key)
        else:
            service[key] = value
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_catalog(data, "test-catalog")
