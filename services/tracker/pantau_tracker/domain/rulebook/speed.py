"""`speed.too_fast`: a step or a whole case completes far faster than its peers.

State key: `<agency>|<service>` (`speed_key`). Per step of the service, and for whole cases,
the state keeps the trailing `window` durations (counted in the kind of time of the standard:
working or wall-clock, clock stops excluded), so its size is bounded by the number of steps
times `window`. The low quantile over a trailing window is robust: a few outliers move it little,
and it follows a service that genuinely gets faster.
"""

from __future__ import annotations

import bisect
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
    """Trailing durations in seconds, oldest first, per `step:<code>` and for whole cases.

    `ordered` holds the same windows sorted, as `sorted` orders them (equal values oldest
    first), kept from step to step so that a quantile does not sort the window each time (200
    values: 5 µs). It is derived, not stored: a window without it is sorted when first used.
    """

    durations: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    ordered: Mapping[str, tuple[float, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

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
    return sorted_quantile(sorted(values), q)


def sorted_quantile(ordered: Sequence[float], q: float) -> float:
    """`low_quantile` of values given sorted."""
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
    ordered = dict(state.ordered)
    alerts: list[Alert] = []
    for name, seconds, unit in _measured(step):
        peers = durations.get(name, ())
        sorted_peers = ordered.get(name)
        if sorted_peers is None or len(sorted_peers) != len(peers):
            sorted_peers = tuple(sorted(peers))
        if len(peers) >= policy.min_samples:
            typical = sorted_quantile(sorted_peers, policy.quantile)
            if seconds < policy.factor * typical:
                alerts.append(_alert(step, now, name, seconds, typical, unit, len(peers)))
        window = durations[name] = (*peers, seconds)[-policy.window :]
        ordered[name] = _sorted_window(sorted_peers, peers, seconds, window)
    return SpeedState(durations, ordered), alerts


def _sorted_window(
    sorted_peers: tuple[float, ...],
    peers: tuple[float, ...],
    seconds: float,
    window: tuple[float, ...],
) -> tuple[float, ...]:
    """`sorted(window)`, where `window` is `peers` with `seconds` added and the oldest values
    dropped, from `sorted(peers)`. `sorted` keeps equal values in their order in the window,
    oldest first: the newest goes after its equals (`insort`, right), and the oldest, when it
    leaves, is the first of its equals (`bisect_left`)."""
    dropped = len(peers) + 1 - len(window)
    if dropped > 1:  # the window was made smaller: sort it again
        return tuple(sorted(window))
    values = list(sorted_peers)
    bisect.insort(values, seconds)
    if dropped:
        del values[bisect.bisect_left(values, peers[0])]
    return tuple(values)


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
