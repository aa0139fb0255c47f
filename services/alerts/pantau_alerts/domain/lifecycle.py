"""An alert's lifecycle, event-sourced: actions fold into state, decisions check a move first.

open -> acknowledged -> resolved, or dismissed (with a reason) from open or acknowledged;
comments are allowed at any time. `decide` is what the API calls before publishing an action;
`apply` is what every instance runs over the action log, so two instances, or one after a
restart, reach the same state from the same log. An illegal action found in the log (two
instances racing to resolve) is ignored by `apply`: the first one in log order wins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from pantau.core.alerts import Alert, format_detected_at
from pantau.core.events import parse_rfc3339

__all__ = [
    "NOTE_MAX_CHARS",
    "ActionKind",
    "ActionRecord",
    "AlertState",
    "AlertStatus",
    "IllegalMove",
    "MalformedAction",
    "apply",
    "decide",
    "parse_action",
]

NOTE_MAX_CHARS = 2000


class AlertStatus(StrEnum):
    """Where an alert is in its lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class ActionKind(StrEnum):
    """What an operator can do to an alert."""

    ACK = "ack"
    RESOLVE = "resolve"
    DISMISS = "dismiss"
    COMMENT = "comment"


# The moves each action makes; an action absent for a status is illegal there.
_MOVES: dict[ActionKind, dict[AlertStatus, AlertStatus]] = {
    ActionKind.ACK: {AlertStatus.OPEN: AlertStatus.ACKNOWLEDGED},
    ActionKind.RESOLVE: {
        AlertStatus.OPEN: AlertStatus.RESOLVED,
        AlertStatus.ACKNOWLEDGED: AlertStatus.RESOLVED,
    },
    ActionKind.DISMISS: {
        AlertStatus.OPEN: AlertStatus.DISMISSED,
        AlertStatus.ACKNOWLEDGED: AlertStatus.DISMISSED,
    },
    ActionKind.COMMENT: {status: status for status in AlertStatus},
}


class IllegalMove(Exception):
    """The action is not allowed in the alert's current status (HTTP 409)."""


class MalformedAction(ValueError):
    """The action lacks what it needs, e.g. a dismissal without a reason (HTTP 422)."""


@dataclass(frozen=True)
class ActionRecord:
    """One operator action as recorded on the alert-actions topic, keyed by alert_id."""

    action_id: str
    alert_id: str
    action: ActionKind
    actor: str
    note: str | None
    at: datetime

    def to_json(self) -> dict[str, Any]:
        """The record's JSON form: times in UTC with milliseconds."""
        return {
            "action_id": self.action_id,
            "alert_id": self.alert_id,
            "action": self.action.value,
            "actor": self.actor,
            "note": self.note,
            "at": format_detected_at(self.at),
        }

    def to_json_bytes(self) -> bytes:
        """Compact UTF-8 JSON for Kafka."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode()


def parse_action(data: bytes | str) -> ActionRecord:
    """An action record from its JSON; raises MalformedAction for anything unusable."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedAction(f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise MalformedAction("not a JSON object")
    try:
        action_id, alert_id, actor = raw["action_id"], raw["alert_id"], raw["actor"]
        kind = ActionKind(raw["action"])
        at = parse_rfc3339(raw["at"])
    except (KeyError, ValueError, TypeError) as error:
        raise MalformedAction(f"bad action record: {error!r}") from None
    note = raw.get("note")
    if not all(isinstance(v, str) and v for v in (action_id, alert_id, actor)):
        raise MalformedAction("action_id, alert_id and actor must be non-empty strings")
    if note is not None and not isinstance(note, str):
        raise MalformedAction("note must be a string")
    return ActionRecord(str(action_id), str(alert_id), kind, str(actor), note, at)


@dataclass(frozen=True)
class AlertState:
    """An alert and everything operators did to it, in log order."""

    alert: Alert
    status: AlertStatus = AlertStatus.OPEN
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    reason: str | None = None
    history: tuple[ActionRecord, ...] = ()
    _action_ids: frozenset[str] = field(default=frozenset(), repr=False)

    def has_applied(self, action_id: str) -> bool:
        """True when the action with this id is already part of the state."""
        return action_id in self._action_ids


def _check(state: AlertState, action: ActionKind, note: str | None) -> AlertStatus:
    target = _MOVES[action].get(state.status)
    if target is None:
        raise IllegalMove(f"cannot {action.value} an alert that is {state.status.value}")
    return target


def decide(
    state: AlertState,
    *,
    action: ActionKind,
    actor: str,
    note: str | None,
    action_id: str,
    now: datetime,
) -> ActionRecord:
    """The action record for an operator's request, or IllegalMove / MalformedAction.

    A dismissal needs a reason and a comment needs text; notes are trimmed and bounded.
    """
    text = (note or "").strip() or None
    if text is not None and len(text) > NOTE_MAX_CHARS:
        raise MalformedAction(f"note is longer than {NOTE_MAX_CHARS} characters")
    if action is ActionKind.DISMISS and text is None:
        raise MalformedAction("a dismissal needs a reason in `note`")
    if action is ActionKind.COMMENT and text is None:
        raise MalformedAction("a comment needs text in `note`")
    _check(state, action, text)
    return ActionRecord(action_id, state.alert.alert_id, action, actor, text, now)


def apply(state: AlertState, record: ActionRecord) -> AlertState:
    """The state after `record`; unchanged for a duplicate, a foreign or an illegal action."""
    if record.alert_id != state.alert.alert_id or state.has_applied(record.action_id):
        return state
    try:
        target = _check(state, record.action, record.note)
    except IllegalMove:
        return state
    if record.action is ActionKind.DISMISS and not record.note:
        return state
    changes: dict[str, Any] = {
        "status": target,
        "history": (*state.history, record),
        "_action_ids": state._action_ids | {record.action_id},
    }
    if record.action is ActionKind.ACK:
        changes |= {"acknowledged_by": record.actor, "acknowledged_at": record.at}
    elif record.action in (ActionKind.RESOLVE, ActionKind.DISMISS):
        changes |= {"closed_by": record.actor, "closed_at": record.at}
        if record.action is ActionKind.DISMISS:
            changes["reason"] = record.note
    return replace(state, **changes)
