"""The cross-case rules as data: how the tracker routes an applied step to each of them.

A stateful rule keeps its state under its own key (`key`), which starts with the step's route
key `<agency>|<service>` (`route_key`): the tracker re-keys the stream of applied steps by the
route key, one record per step for all stateful rules, and keeps one table per rule, so every
state is only ever changed on the partition of its service. A case rule needs only the case
itself and runs where the case is processed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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

RAISED_MAX = 32  # alert-raising steps whose alerts are kept to give again on redelivery


def route_key(event: Event) -> str:
    """The key the tracker routes an applied step to the stateful rules by: its service."""
    return f"{event.agency}|{event.service}"


Origin = tuple[int, int]
"""Where the tracker read a step's event: (partition, offset) of the events topic."""


class RuleState(Protocol):
    """A rule state: a frozen value that round-trips through JSON-able data."""

    def to_dict(self) -> dict[str, Any]: ...


StateT = TypeVar("StateT", bound=RuleState)


@dataclass(frozen=True)
class StatefulRule(Generic[StateT]):
    """A cross-case rule with its state key, its empty state and its fold.

    `key(event)` is the state's key, None when the event cannot concern the rule (no officer,
    no representative): the tracker then skips it. It starts with `route_key(event)`.
    """

    name: str
    rules: tuple[str, ...]
    key: Callable[[Event], str | None]
    empty: Callable[[], StateT]
    load: Callable[[Mapping[str, Any]], StateT]
    observe: Callable[[StateT, CaseStep, datetime], tuple[StateT, list[Alert]]]

    def read(self, stored: Mapping[str, Any] | None) -> RuleRecord[StateT]:
        """The record a table keeps under a key (None: none yet), decoded."""
        if not stored:
            return RuleRecord(self.empty())
        return RuleRecord(
            self.load(stored["state"]),
            {str(partition): int(offset) for partition, offset in stored["applied"].items()},
            tuple((int(p), int(o), tuple(bodies)) for p, o, bodies in stored["raised"]),
        )

    def fold(
        self, record: RuleRecord[StateT], step: CaseStep, now: datetime, origin: Origin
    ) -> tuple[RuleRecord[StateT], list[Alert]]:
        """Fold `step`, whose event was read at `origin`, into `record`: the new record (the
        same object when the step was folded in already) and the alerts raised.

        The record holds the rule's state, the highest offset folded in per partition of the
        events topic, and the alerts of the latest steps that raised any. The tracker hands
        steps on in offset order per partition, so a step at or below that offset was folded in
        already (at-least-once processing after a restart, or a duplicate of an event handed on
        again with its first origin): the record stays as it is and the step's alerts are given
        again, identical, so a crash between saving the state and publishing its alerts loses
        nothing and counts nothing twice. The record is bounded by the partition count, however
        busy its key.
        """
        partition, offset = origin
        if offset <= record.applied.get(str(partition), -1):
            again = [
                Alert.from_json_bytes(body)
                for at_partition, at_offset, bodies in record.raised
                if (at_partition, at_offset) == origin
                for body in bodies
            ]
            return record, again
        changed, alerts = self.observe(record.state, step, now)
        raised = record.raised
        if alerts:
            bodies = tuple(alert.to_json_bytes().decode("utf-8") for alert in alerts)
            raised = (*raised, (partition, offset, bodies))[-RAISED_MAX:]
        applied = {**record.applied, str(partition): offset}
        return RuleRecord(changed, applied, raised), alerts

    def apply(
        self, stored: Mapping[str, Any] | None, step: CaseStep, now: datetime, origin: Origin
    ) -> tuple[dict[str, Any], list[Alert]]:
        """`fold` on the record as a table stores it (JSON-able data), giving the new one."""
        record, alerts = self.fold(self.read(stored), step, now, origin)
        return record.to_dict(), alerts


@dataclass(frozen=True)
class RuleRecord(Generic[StateT]):
    """What a rule's table keeps under one key: the state, the highest offset folded in per
    partition of the events topic, and (partition, offset, alert JSONs) of the latest steps
    that raised alerts."""

    state: StateT
    applied: Mapping[str, int] = field(default_factory=dict)
    raised: tuple[tuple[int, int, tuple[str, ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-able data, for the table."""
        return {
            "state": self.state.to_dict(),
            "applied": dict(self.applied),
            "raised": [[p, o, list(bodies)] for p, o, bodies in self.raised],
        }


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
