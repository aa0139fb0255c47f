"""How a rule module declares its rules: a family of rule ids and the one detector raising them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pantau.core.rule_table import Rule


class Stage(StrEnum):
    """Where the tracker calls a family's detector."""

    EVENT = "event"  # every accepted event, with its case before it: (state, event, now, standard)
    DUPLICATE = "duplicate"  # an event_id seen before with other content
    CASE_STEP = "case-step"  # an event applied in order, with what its case knew: (step, now)
    SERVICE = "service"  # the same, folded into state kept per service (a `StatefulRule`)
    DEADLINE = "deadline"  # a case's deadlines passing, at an event or at the timer


@dataclass(frozen=True)
class Family:
    """The rules one module declares: their ids, where the tracker calls the detector, and the
    detector itself (its shape follows the stage). `module` is the module that declares it,
    filled in by the rulebook."""

    name: str
    stage: Stage
    rules: tuple[Rule | str, ...]
    detector: Any
    module: str = ""
