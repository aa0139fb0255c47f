"""`speed.too_fast`: a step or a whole case completes far faster than its peers.

State key: `<agency>|<service>` (`speed_key`). Per step of the service, and for whole cases,
the state keeps the trailing `window` durations (counted in the kind of time of the standard:
working or wall-clock, clock stops excluded), so its size is bounded by the number of steps
times `window`. The low quantile over a trailing window is robust: a few outliers move it little,
and it follows a service that genuinely gets faster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pantau.core.alerts import Alert, Rule
from pantau.core.durations import DurationUnit
from pantau.core.events import Event, service_key
from pantau.core.frozen import quick_init
from pantau_tracker.domain.rulebook.case_step import CaseStep, standard_unit
from pantau_tracker.domain.rulebook.cross_case import StatefulRule
from pantau_tracker.domain.rulebook.family import Family, Stage

WHOLE_CASE = "case"  # the state's name for whole-case durations; step codes are `step:<code>`


def speed_key(event: Event) -> str:
    """The state key of `SpeedState`: `<agency>|<service>`."""
    return service_key(event.agency, event.service)


@quick_init
@dataclass(frozen=True)
class SpeedState:
    """Trailing durations in seconds, oldest first, per `step:<code>` and for whole cases."""

    durations: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-able data."""
        return {
            "durations": {name: list(values) for name, values in sorted(self.durations.items())}
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpeedState:
        """The state `to_dict` gave; ValueError, TypeError or KeyError on anything else."""
        return cls(
            {
                str(name): tuple(float(value) for value in values)
                for name, values in data["durations"].items()
            }
        )


def low_quantile(values: Sequence[float], q: float) -> float:
    """The `q` quantile of `values` with linear interpolation between order statistics."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def observe_speed(
    state: SpeedState, step: CaseStep, now: datetime
) -> tuple[SpeedState, list[Alert]]:
    """Record how long the step took (and the whole case, at a successful end) and alert when
    that is below `factor` times the `quantile` of the trailing durations of its peers, once
    `min_samples` peers are known. The duration itself joins the window either way.

    Not measured: a service or step whose standard is stated in minutes (instant by design),
    automatic steps, start, payment and clock stop/resume steps (the applicant's pace, not the
    office's), and steps outside `steps` when the catalog lists them.
    """
    policy = step.policy.speed_too_fast
    if not policy.enabled or _instant_service(step):
        return state, []
    durations = dict(state.durations)
    alerts: list[Alert] = []
    for name, seconds, unit in _measured(step):
        peers = durations.get(name, ())
        if len(peers) >= policy.min_samples:
            typical = low_quantile(peers, policy.quantile)
            if seconds < policy.factor * typical:
                alerts.append(_alert(step, now, name, seconds, typical, unit, len(peers)))
        durations[name] = (*peers, seconds)[-policy.window :]
    return SpeedState(durations), alerts


def _instant_service(step: CaseStep) -> bool:
    sla = step.service.sla
    return sla is not None and sla.unit is DurationUnit.MINUTES


def _measured(step: CaseStep) -> list[tuple[str, float, DurationUnit]]:
    policy = step.policy.speed_too_fast
    event, definition = step.event, step.definition
    measured: list[tuple[str, float, DurationUnit]] = []
    if definition is None:
        return measured
    if (
        step.previous_at is not None
        and not (definition.start or definition.payment or definition.clock)
        and not step.is_automatic
        and (definition.sla is None or definition.sla.unit is not DurationUnit.MINUTES)
        and (policy.steps is None or event.step in policy.steps)
    ):
        unit = standard_unit(step.service, definition)
        # Whole seconds: finer is noise, and the window is written with every measured step.
        taken = round(step.counted(step.previous_at, event.occurred_at, unit).total_seconds())
        if taken >= 0:
            measured.append((f"step:{event.step}", taken, unit))
    if policy.whole_case and definition.is_success and step.opened_at is not None:
        unit = standard_unit(step.service, None)
        taken = round(step.counted(step.opened_at, event.occurred_at, unit).total_seconds())
        if taken >= 0:
            measured.append((WHOLE_CASE, taken, unit))
    return measured


def _alert(
    step: CaseStep,
    now: datetime,
    name: str,
    seconds: float,
    typical: float,
    unit: DurationUnit,
    peers: int,
) -> Alert:
    policy = step.policy.speed_too_fast
    event = step.event
    kind = "working" if unit.is_working_time else "wall-clock"
    what = "The case" if name == WHOLE_CASE else f"Step {event.step}"
    return step.alert(
        Rule.SPEED_TOO_FAST,
        trigger=f"{event.event_id}:{name}",
        now=now,
        message=(
            f"{what} took {_hours(seconds)} of {kind} time, under {policy.factor:g} x the "
            f"{policy.quantile:g} quantile ({_hours(typical)}) of its last {peers} peers"
        ),
        evidence={
            "measured": name,
            "seconds": round(seconds, 3),
            "quantile_seconds": round(typical, 3),
            "quantile": policy.quantile,
            "factor": policy.factor,
            "peers": peers,
            "time": kind,
        },
    )


def _hours(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


RULE = StatefulRule[SpeedState](
    "speed", (Rule.SPEED_TOO_FAST,), speed_key, SpeedState, SpeedState.from_dict, observe_speed
)
FAMILY = Family(RULE.name, Stage.SERVICE, (Rule.SPEED_TOO_FAST,), RULE)
