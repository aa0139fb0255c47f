"""A rule beside the rule table, written as one module: a reason written in capitals.

It declares what a rule of the tracker's rulebook declares (its row `INFO` and its `FAMILY`
with the detector) and what the simulator needs (`PLANTER`, with the reference reading), so
that `Rulebook.of`, the rules document's table, `Simulation(planters=...)` and the reference
oracle take it in. The rule test adds it to each of them.
"""

from __future__ import annotations

import random
from datetime import datetime

from pantau.core.catalog import Service
from pantau.core.events import Event
from pantau.core.rule_table import Category, Kind, RuleInfo, Severity, Table, Texts
from pantau.traffic.generator import Simulation
from pantau.traffic.plans import Draft
from pantau.traffic.planters import PLANTERS, Planter
from pantau_tracker.domain.rulebook import Family, Stage
from pantau_tracker.domain.standards import CaseStandard

RULE = "process.reason_shouted"
SHOUTED = "BERKAS TIDAK LENGKAP"

INFO = RuleInfo(
    RULE,  # a rule id beside the contract's enumeration
    Category.IMPROPRIETY,
    Severity.LOW,
    "a reason_required step whose reason is written in capitals",
    kind=Kind.PER_CASE,
    table=Table.CONTRACT,
    title=Texts("Alasan ditulis kapital semua", "Reason in capitals"),
    messages=(
        Texts("Alasan langkah {step} ditulis kapital semua", "Step {step} reason in capitals"),
    ),
)


def shouted(service: Service, event: Event) -> bool:
    """The reading of one event: a step that needs a reason, given in capitals only."""
    step = service.step(event.step)
    reason = event.reason or ""
    return step is not None and step.reason_required and reason.isupper()


def detect(state: object, event: Event, now: datetime, standard: CaseStandard) -> list[str]:
    """The detector: the rule ids this event raises (a rule outside the enumeration of the
    contract cannot make an `Alert`; the tracker's own detectors return alerts)."""
    return [RULE] if shouted(standard.service, event) else []


FAMILY = Family("shouted_reason", Stage.EVENT, (RULE,), detect)


def _plant(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    # A rejection as `process.reason_missing` plants it, with a reason in capitals instead.
    draft = PLANTERS["process.reason_missing"].plant(sim, service, n, at, rng)
    if not isinstance(draft, Draft):
        return None
    draft.extra[len(draft.path) - 1] = {"reason": SHOUTED}
    return draft


PLANTER = Planter(PLANTERS["process.reason_missing"].applies, _plant, reading=shouted)
