"""The cross-case rules as data: how the tracker routes an applied step to each of them.

A stateful rule keeps its state under its own key (`key`), which starts with the step's route
key `<agency>|<service>` (`route_key`): the tracker re-keys the stream of applied steps by the
route key, one record per step for all stateful rules, and keeps one table per rule, so every
state is only ever changed on the partition of its service. A case-step rule (clock stops,
office hours) needs only the case itself and runs where the case is processed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pantau.core.alerts import Alert
from pantau.core.events import Event, service_key
from pantau.core.frozen import quick_init
from pantau_tracker.domain.rulebook.case_step import CaseStep


def route_key(event: Event) -> str:
    """The key the tracker routes an applied step to the stateful rules by: its service."""
    return service_key(event.agency, event.service)


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
        """The record a table keeps under a key (None: none yet), decoded. Records stored
        with the offsets and alerts of an earlier layout read as their state."""
        if not stored:
            return RuleRecord(self.empty())
        return RuleRecord(self.load(stored["state"]))

    def fold(
        self, record: RuleRecord[StateT], step: CaseStep, now: datetime
    ) -> tuple[RuleRecord[StateT], list[Alert]]:
        """Fold `step` into `record`: the new record and the alerts raised.

        The tracker gives each step once, in event-time order per service
        (`pantau_tracker.domain.ordering`), which also drops a step handed on again.
        """
        changed, alerts = self.observe(record.state, step, now)
        return RuleRecord(changed), alerts

    def apply(
        self, stored: Mapping[str, Any] | None, step: CaseStep, now: datetime
    ) -> tuple[dict[str, Any], list[Alert]]:
        """`fold` on the record as a table stores it (JSON-able data), giving the new one."""
        record, alerts = self.fold(self.read(stored), step, now)
        return record.to_dict(), alerts


@quick_init
@dataclass(frozen=True)
class RuleRecord(Generic[StateT]):
    """What a rule's table keeps under one key: the rule's state."""

    state: StateT

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-able data, for the table."""
        return {"state": self.state.to_dict()}
