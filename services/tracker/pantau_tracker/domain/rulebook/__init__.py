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
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType, ModuleType
from typing import Any

from pantau.core.alerts import Alert
from pantau.core.events import Event
from pantau.core.rule_table import RULES, Kind, RuleInfo
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
from pantau_tracker.domain.rulebook.case_step import CaseStep, RunningLimit, case_step_from_dict
from pantau_tracker.domain.rulebook.cross_case import Origin, RuleRecord, StatefulRule, route_key
from pantau_tracker.domain.rulebook.event_alerts import Detector
from pantau_tracker.domain.rulebook.family import Family, Stage
from pantau_tracker.domain.rulebook.time_limits import DeadlineRules

__all__ = [
    "CASE_RULES",
    "CONFLICT",
    "DEADLINES",
    "EVENT_DETECTORS",
    "MODULES",
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
    """Rule families in the order their alerts are published; each rule in exactly one.

    `table` is the rule table the families' rules must be rows of: the shared one, with the rows
    of rules declared beside it (a module's `INFO`, see `of`).
    """

    families: tuple[Family, ...]
    table: Mapping[str, RuleInfo] = field(default_factory=lambda: RULES)
    by_rule: Mapping[str, Family] = field(init=False)

    @classmethod
    def of(cls, modules: Iterable[ModuleType], table: Mapping[str, RuleInfo] = RULES) -> Rulebook:
        """The rulebook of rule modules, each declaring a `FAMILY` and, for a rule that is not
        in the shared rule table, its row as `INFO` (one `RuleInfo` or a tuple of them)."""
        rows = dict(table)
        families = []
        for module in modules:
            families.append(replace(module.FAMILY, module=module.__name__))
            declared = getattr(module, "INFO", ())
            for info in declared if isinstance(declared, tuple) else (declared,):
                if info.rule in rows:
                    raise ValueError(f"{module.__name__}: {info.rule} is in the rule table already")
                rows[info.rule] = info
        return cls(tuple(families), MappingProxyType(rows))

    def __post_init__(self) -> None:
        by_rule: dict[str, Family] = {}
        names = [family.name for family in self.families]
        if len(set(names)) != len(names):
            raise ValueError(f"two rule families share a name: {sorted(names)}")
        for family in self.families:
            for rule in family.rules:
                info = self.table.get(rule)
                if info is None:
                    raise ValueError(f"{family.name}: {rule} is not in the rule table")
                if rule in by_rule:
                    raise ValueError(f"{rule} is raised by {by_rule[rule].name} and {family.name}")
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


MODULES: tuple[ModuleType, ...] = (
    process,
    duty,
    fee,
    timestamps,
    duplicates,
    time_limits,
    clock,
    hours,
    queue,
    speed,
    officers,
    applicants,
)
"""Every rule module of the tracker; within a stage, the order their alerts are published."""

RULEBOOK = Rulebook.of(MODULES)

EVENT_DETECTORS: Mapping[str, Detector] = MappingProxyType(
    {family.name: family.detector for family in RULEBOOK.at(Stage.EVENT)}
)
"""The per-case families that judge each accepted event, in publication order."""

CONFLICT: Callable[[Event, str, str, datetime], Alert] = RULEBOOK.only(Stage.DUPLICATE)
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
