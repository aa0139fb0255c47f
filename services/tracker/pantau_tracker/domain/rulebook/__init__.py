"""The rulebook: every rule the tracker raises, one module per rule family named for its noun.

Each module declares a `FAMILY`: the rule ids it raises, where the tracker calls its detector
(`Stage`) and the detector. The rules' ids, categories, severities, kinds, titles and messages
are the shared rule table (`pantau.core.rule_table`), which every process reads; this package
binds a detector to each of its rows. `RULEBOOK` is built from the families and checks that
every rule is raised by exactly one of them at a stage that fits the rule's kind.

The tracker reads everything it runs from here: the per-case detectors of each event, the
duplicate check, the deadline rules of the timer, and the cross-case rules (on the case alone,
or folded into state kept per service: `StatefulRule`, routed by `route_key`). All detectors
are pure functions of their arguments; `now` is always given, never read from a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from pantau.core.alerts import Alert
from pantau.core.rule_table import RULES, Kind
from pantau_tracker.domain.rulebook import (
    applicants,
    clock,
    duplicates,
    duty,
    fee,
    hours,
    officers,
    process,
    queue,
    speed,
    time_limits,
    timestamps,
)
from pantau_tracker.domain.rulebook.alerting import Detector
from pantau_tracker.domain.rulebook.case_step import CaseStep, RunningLimit, case_step_from_dict
from pantau_tracker.domain.rulebook.cross_case import Origin, RuleRecord, StatefulRule, route_key
from pantau_tracker.domain.rulebook.family import Family, Stage
from pantau_tracker.domain.rulebook.time_limits import DeadlineRules

__all__ = [
    "CASE_RULES",
    "CONFLICT",
    "DEADLINES",
    "EVENT_DETECTORS",
    "FAMILIES",
    "OFFICERS",
    "QUEUE",
    "REPRESENTATIVES",
    "RULEBOOK",
    "SPEED",
    "STATEFUL_RULES",
    "CaseStep",
    "Family",
    "Origin",
    "RuleRecord",
    "Rulebook",
    "RunningLimit",
    "Stage",
    "StatefulRule",
    "case_step_from_dict",
    "route_key",
]

_KIND_OF_STAGE = {
    Stage.EVENT: Kind.PER_CASE,
    Stage.DUPLICATE: Kind.PER_CASE,
    Stage.CASE_STEP: Kind.CROSS_CASE,
    Stage.SERVICE: Kind.CROSS_CASE,
    Stage.DEADLINE: Kind.TIMER,
}


@dataclass(frozen=True)
class Rulebook:
    """Rule families in the order their alerts are published; each rule in exactly one."""

    families: tuple[Family, ...]
    by_rule: Mapping[str, Family] = field(init=False)

    def __post_init__(self) -> None:
        by_rule: dict[str, Family] = {}
        names = [family.name for family in self.families]
        if len(set(names)) != len(names):
            raise ValueError(f"two rule families share a name: {sorted(names)}")
        for family in self.families:
            for rule in family.rules:
                info = RULES.get(rule)
                if info is None:
                    raise ValueError(f"{family.name}: {rule} is not in the rule table")
                if rule in by_rule:
                    raise ValueError(
                        f"{rule} is declared by {by_rule[rule].name} and {family.name}"
                    )
                if info.kind is not _KIND_OF_STAGE[family.stage]:
                    raise ValueError(f"{rule} is {info.kind}, not called at {family.stage}")
                by_rule[rule] = family
        object.__setattr__(self, "by_rule", MappingProxyType(by_rule))

    def at(self, stage: Stage) -> tuple[Family, ...]:
        """The families the tracker calls at `stage`, in publication order."""
        return tuple(family for family in self.families if family.stage is stage)

    def only(self, stage: Stage) -> Any:
        """The detector of the one family at `stage`."""
        [family] = self.at(stage)
        return family.detector

    def with_families(self, extra: Iterable[Family]) -> Rulebook:
        """This rulebook with more families after its own."""
        return Rulebook((*self.families, *extra))


FAMILIES: tuple[Family, ...] = (
    process.FAMILY,
    duty.FAMILY,
    fee.FAMILY,
    timestamps.FAMILY,
    duplicates.FAMILY,
    time_limits.FAMILY,
    clock.FAMILY,
    hours.FAMILY,
    queue.FAMILY,
    speed.FAMILY,
    officers.FAMILY,
    applicants.FAMILY,
)
"""Every rule family of the tracker; within a stage, the order their alerts are published."""

RULEBOOK = Rulebook(FAMILIES)

EVENT_DETECTORS: Mapping[str, Detector] = MappingProxyType(
    {family.name: family.detector for family in RULEBOOK.at(Stage.EVENT)}
)
"""The per-case families that judge each accepted event, in publication order."""

CONFLICT: Callable[[Any, str, str, datetime], Alert] = RULEBOOK.only(Stage.DUPLICATE)
"""The alert of an event_id that arrives again with other content."""

DEADLINES: DeadlineRules = RULEBOOK.only(Stage.DEADLINE)
"""The timer-driven rules: the deadlines a case passed, and firing them."""

CASE_RULES: tuple[Callable[[CaseStep, datetime], list[Alert]], ...] = tuple(
    family.detector for family in RULEBOOK.at(Stage.CASE_STEP)
)
"""The cross-case rules that need only the case: call each with the step and `now`."""

STATEFUL_RULES: tuple[StatefulRule[Any], ...] = tuple(
    family.detector for family in RULEBOOK.at(Stage.SERVICE)
)
"""Every stateful cross-case rule; `name` is unique and fit for a table name."""

QUEUE = queue.RULE
SPEED = speed.RULE
OFFICERS = officers.RULE
REPRESENTATIVES = applicants.RULE
