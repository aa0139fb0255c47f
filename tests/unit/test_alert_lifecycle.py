"""The alert lifecycle as a pure fold: legal moves, illegal ones, replays and races."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pantau.core.alerts import Alert
from pantau_alerts.domain.lifecycle import (
    ActionKind,
    ActionRecord,
    AlertState,
    AlertStatus,
    IllegalMove,
    MalformedAction,
    apply,
    decide,
    parse_action,
)
from samples import sample_alert

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def an_alert(case_id: str = "PBG-1") -> Alert:
    return sample_alert(case_id=case_id, detected_at=T0, message="same officer")


def act(state: AlertState, kind: ActionKind, note: str | None = None, n: int = 1) -> AlertState:
    record = decide(
        state, action=kind, actor="op-1", note=note, action_id=f"a{n}", now=T0 + timedelta(n)
    )
    return apply(state, record)


def test_ack_then_resolve_records_who_and_when() -> None:
    """open -> acknowledged -> resolved keeps the actor and time of each move."""
    state = act(AlertState(an_alert()), ActionKind.ACK, n=1)
    assert state.status is AlertStatus.ACKNOWLEDGED
    assert (state.acknowledged_by, state.acknowledged_at) == ("op-1", T0 + timedelta(1))
    state = act(state, ActionKind.RESOLVE, "fixed", n=2)
    assert state.status is AlertStatus.RESOLVED
    assert state.closed_at == T0 + timedelta(2)
    assert [r.action for r in state.history] == [ActionKind.ACK, ActionKind.RESOLVE]


def test_resolving_a_resolved_alert_is_illegal() -> None:
    """A second resolve is refused by decide."""
    state = act(AlertState(an_alert()), ActionKind.RESOLVE, n=1)
    with pytest.raises(IllegalMove, match="resolved"):
        act(state, ActionKind.RESOLVE, n=2)


def test_ack_twice_is_illegal_but_comment_always_allowed() -> None:
    """An acknowledged alert cannot be acknowledged again; comments work in any status."""
    state = act(AlertState(an_alert()), ActionKind.ACK, n=1)
    with pytest.raises(IllegalMove):
        act(state, ActionKind.ACK, n=2)
    state = act(act(state, ActionKind.DISMISS, "duplicate report", n=3), ActionKind.COMMENT, "x", 4)
    assert state.status is AlertStatus.DISMISSED
    assert state.history[-1].action is ActionKind.COMMENT


def test_dismissal_needs_a_reason_and_comment_needs_text() -> None:
    """Dismiss without a reason and an empty comment are malformed."""
    state = AlertState(an_alert())
    with pytest.raises(MalformedAction, match="reason"):
        act(state, ActionKind.DISMISS, "  ")
    with pytest.raises(MalformedAction):
        act(state, ActionKind.COMMENT, None)


def test_dismiss_keeps_the_reason() -> None:
    """The dismissal reason is part of the state."""
    state = act(AlertState(an_alert()), ActionKind.DISMISS, "false positive: test data")
    assert state.reason == "false positive: test data"


def test_apply_ignores_duplicates_and_illegal_records_so_replays_agree() -> None:
    """Replaying a log twice or with a racing second resolve gives the same state."""
    alert = an_alert()
    r1 = ActionRecord("a1", alert.alert_id, ActionKind.RESOLVE, "op-1", None, T0)
    r2 = ActionRecord("a2", alert.alert_id, ActionKind.RESOLVE, "op-2", None, T0)
    state = AlertState(alert)
    for record in (r1, r1, r2):
        state = apply(state, record)
    assert state.closed_by == "op-1"
    assert len(state.history) == 1


def test_action_record_round_trips_through_json() -> None:
    """The Kafka form parses back to the same record."""
    record = ActionRecord("a1", "x" * 32, ActionKind.DISMISS, "op-1", "dup", T0)
    assert parse_action(record.to_json_bytes()) == record


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"action_id":"a","alert_id":"b","action":"nuke","actor":"c","at":"2026-11-27T03:00:00Z"}',
        b'{"action_id":"a"}',
    ],
)
def test_unusable_action_records_are_malformed(raw: bytes) -> None:
    """Garbage on the action topic raises MalformedAction, never something else."""
    with pytest.raises(MalformedAction):
        parse_action(raw)
