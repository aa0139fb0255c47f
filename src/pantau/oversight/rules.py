"""The cross-case rules as data: how the tracker routes an applied step to each of them.

A stateful rule keeps its state under its own partition key (the tracker re-keys the stream of
applied steps by `key` and keeps one state per key in a table); a case rule needs only the case
itself and runs where the case is processed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pantau.core.alerts import Alert
from pantau.core.events import Event
from pantau.oversight.applicants import (
    RepresentativeActivity,
    observe_representative,
    representative_key,
)
from pantau.oversight.case_step import CaseStep
from pantau.oversight.clock import check_clock_reset
from pantau.oversight.hours import check_off_hours
from pantau.oversight.officers import OfficerActivity, observe_officer, officer_key
from pantau.oversight.queue import QueueState, observe_queue, queue_key
from pantau.oversight.speed import SpeedState, observe_speed, speed_key

SEEN_MAX = 256  # event ids remembered per key: more than a restart redelivers on a busy key
RAISED_MAX = 32  # alert-raising events whose alerts are kept to give again on redelivery


class RuleState(Protocol):
    """A rule state: a frozen value that round-trips through JSON-able data."""

    def to_dict(self) -> dict[str, Any]: ...


StateT = TypeVar("StateT", bound=RuleState)


@dataclass(frozen=True)
class StatefulRule(Generic[StateT]):
    """A cross-case rule with its partition key, its empty state and its fold.

    `key(event)` is None when the event cannot concern the rule (no officer, no representative):
    the tracker then skips it.
    """

    name: str
    rules: tuple[str, ...]
    key: Callable[[Event], str | None]
    empty: Callable[[], StateT]
    load: Callable[[Mapping[str, Any]], StateT]
    observe: Callable[[StateT, CaseStep, datetime], tuple[StateT, list[Alert]]]

    def apply(
        self, stored: Mapping[str, Any] | None, step: CaseStep, now: datetime
    ) -> tuple[dict[str, Any], list[Alert]]:
        """Fold `step` into the record stored under its key (None: none yet), as a table keeps
        it: the new record (JSON-able) and the alerts raised.

        The record holds the rule's state and the ids of the latest events folded in, with the
        alerts they raised. A step delivered again (at-least-once processing after a restart)
        leaves the record as it is and gives the same alerts again, identical to the first time,
        so a crash between saving the state and publishing its alerts loses nothing and counts
        nothing twice.
        """
        record = dict(stored or {})
        seen: list[str] = list(record.get("seen", []))
        raised: list[list[Any]] = list(record.get("raised", []))
        event_id = step.event.event_id
        if event_id in seen:
            again = [
                Alert.from_json_bytes(body)
                for trigger, bodies in raised
                if trigger == event_id
                for body in bodies
            ]
            return record, again
        state = self.empty() if "state" not in record else self.load(record["state"])
        changed, alerts = self.observe(state, step, now)
        seen = [*seen, event_id][-SEEN_MAX:]
        if alerts:
            bodies = [alert.to_json_bytes().decode("utf-8") for alert in alerts]
            raised = [*raised, [event_id, bodies]][-RAISED_MAX:]
        # An alert is kept only while its event is still recognised as seen.
        raised = [entry for entry in raised if entry[0] in seen]
        return {"state": changed.to_dict(), "seen": seen, "raised": raised}, alerts


QUEUE = StatefulRule[QueueState](
    "queue", ("queue.jump",), queue_key, QueueState, QueueState.from_dict, observe_queue
)
SPEED = StatefulRule[SpeedState](
    "speed", ("speed.too_fast",), speed_key, SpeedState, SpeedState.from_dict, observe_speed
)
OFFICERS = StatefulRule[OfficerActivity](
    "officers",
    ("officer.burst",),
    officer_key,
    OfficerActivity,
    OfficerActivity.from_dict,
    observe_officer,
)
REPRESENTATIVES = StatefulRule[RepresentativeActivity](
    "representatives",
    ("applicant.broker",),
    representative_key,
    RepresentativeActivity,
    RepresentativeActivity.from_dict,
    observe_representative,
)

STATEFUL_RULES: tuple[StatefulRule[Any], ...] = (QUEUE, SPEED, OFFICERS, REPRESENTATIVES)
"""Every stateful cross-case rule; `name` is unique and fit for a table name."""

CASE_RULES: tuple[Callable[[CaseStep, datetime], list[Alert]], ...] = (
    check_clock_reset,
    check_off_hours,
)
"""The cross-case rules that need only the case: call each with the step and `now`."""
