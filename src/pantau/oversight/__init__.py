"""Cross-case oversight: rules that need state across cases (queues, peers, officers, agents).

Pure functions over bounded, JSON-serialisable state; the tracker keeps each state in a table
under the state key its rule names and calls the rule for every event it applies
(docs/contract-extensions.md).
"""

from pantau.oversight.case_step import CaseStep, RunningLimit, case_step_from_dict
from pantau.oversight.rules import (
    CASE_RULES,
    OFFICERS,
    QUEUE,
    REPRESENTATIVES,
    SPEED,
    STATEFUL_RULES,
    StatefulRule,
    route_key,
)

__all__ = [
    "CASE_RULES",
    "OFFICERS",
    "QUEUE",
    "REPRESENTATIVES",
    "SPEED",
    "STATEFUL_RULES",
    "CaseStep",
    "RunningLimit",
    "StatefulRule",
    "case_step_from_dict",
    "route_key",
]
