"""The per-service `oversight:` section of the catalog: thresholds of the cross-case rules.

Every key is optional; an absent section, rule or key takes the defaults below, so a catalog
without `oversight:` watches every service with the same sensible limits. Problems are reported
through the catalog loader's `report(entry, message)` so they read like every other catalog problem.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pantau.core.durations import Duration, DurationUnit
from pantau.core.entry_reader import EntryReader, Report, distinct_names, listing

# Durations are frozen values, so module-level defaults are shared safely.
_TWO_WORKING_DAYS = Duration(2, DurationUnit.WORKING_DAYS)
_HALF_A_YEAR = Duration(180, DurationUnit.DAYS)
_HALF_AN_HOUR = Duration(30, DurationUnit.MINUTES)
_A_MONTH = Duration(30, DurationUnit.DAYS)


@dataclass(frozen=True)
class QueueJumpPolicy:
    """`queue.jump`: a case overtakes at least `min_positions` earlier-submitted cases that had
    each been waiting at the same step at least `min_wait` longer.

    `steps` are the completed steps checked (None: every staff step); `max_waiting` bounds the
    cases remembered as waiting per step (the longest waiting are forgotten first, being long
    overdue anyway); a case waiting longer than `stale_after` is forgotten as abandoned.
    """

    enabled: bool = True
    min_positions: int = 3
    min_wait: Duration = _TWO_WORKING_DAYS
    steps: frozenset[str] | None = None
    max_waiting: int = 500
    stale_after: Duration = _HALF_A_YEAR


@dataclass(frozen=True)
class SpeedPolicy:
    """`speed.too_fast`: a duration below `factor` times the `quantile` of the trailing
    `window` durations of the same step (or of whole cases), once `min_samples` are known.
    """

    enabled: bool = True
    quantile: float = 0.05
    factor: float = 0.5
    min_samples: int = 30
    window: int = 200
    steps: frozenset[str] | None = None
    whole_case: bool = True


@dataclass(frozen=True)
class OfficerBurstPolicy:
    """`officer.burst`: one officer completes more than `max_steps` of one step within `window`."""

    enabled: bool = True
    max_steps: int = 20
    window: Duration = _HALF_AN_HOUR
    steps: frozenset[str] | None = None


@dataclass(frozen=True)
class BrokerPolicy:
    """`applicant.broker`: one representative files for more than `max_applicants` distinct
    applicants within `window`."""

    enabled: bool = True
    max_applicants: int = 5
    window: Duration = _A_MONTH


@dataclass(frozen=True)
class ClockResetPolicy:
    """`sla.clock_reset_abuse`: more than `max_stops` clock stops in a case, a stop in the last
    `late_fraction` of a running limit, or (when `reason_required`) a stop without a reason."""

    enabled: bool = True
    max_stops: int = 2
    late_fraction: float = 0.2
    reason_required: bool = True


@dataclass(frozen=True)
class OffHoursPolicy:
    """`time.off_hours`: a staff step more than `grace` outside the agency's working hours."""

    enabled: bool = True
    grace: Duration = _HALF_AN_HOUR


@dataclass(frozen=True)
class OversightPolicy:
    """The cross-case rule settings of one service.

    `automatic` names steps a system does without an officer (an online instant issuance, an
    automatic deemed approval): they are never too fast, never a burst, never off hours and never
    overtake a queue, since their speed and hour are by design.
    """

    automatic: frozenset[str] = frozenset()
    queue_jump: QueueJumpPolicy = field(default_factory=QueueJumpPolicy)
    speed_too_fast: SpeedPolicy = field(default_factory=SpeedPolicy)
    officer_burst: OfficerBurstPolicy = field(default_factory=OfficerBurstPolicy)
    applicant_broker: BrokerPolicy = field(default_factory=BrokerPolicy)
    clock_reset: ClockResetPolicy = field(default_factory=ClockResetPolicy)
    off_hours: OffHoursPolicy = field(default_factory=OffHoursPolicy)


_WALL_UNITS = (DurationUnit.DAYS, DurationUnit.HOURS, DurationUnit.MINUTES)
_SECTIONS = (
    "automatic",
    "queue_jump",
    "speed_too_fast",
    "officer_burst",
    "applicant_broker",
    "clock_reset",
    "off_hours",
)


def read_oversight(
    entry: str, value: object, step_codes: Collection[str] | None, report: Report
) -> OversightPolicy | None:
    """The policy of an `oversight:` mapping, or None after reporting its problems.

    `entry` names the section in problems (`services[pbg@...].oversight`); `step_codes` are the
    service's steps, against which step lists are checked (None when the steps are unreadable).
    """
    if not isinstance(value, Mapping):
        report(entry, f"oversight must be a mapping of rule settings, not {value!r}")
        return None
    problems: list[tuple[str, str]] = []

    def note(where: str, message: str) -> None:
        problems.append((where, message))

    reader = _Reader(note, step_codes)
    for key in value:
        if key not in _SECTIONS:
            note(entry, f"unknown key {key!r} (expected: {', '.join(_SECTIONS)})")
    automatic = reader.steps(f"{entry}.automatic", value.get("automatic", []))
    sections = {
        name: reader.section(f"{entry}.{name}", value.get(name, {}), fields)
        for name, fields in _FIELDS.items()
    }
    speed = sections["speed_too_fast"]
    window = speed.get("window", SpeedPolicy.window)
    if window < speed.get("min_samples", SpeedPolicy.min_samples):
        note(
            f"{entry}.speed_too_fast",
            f"window ({window} durations kept) is smaller than min_samples, so the rule "
            "could never fire",
        )
    for where, message in problems:
        report(where, message)
    if problems:
        return None
    return OversightPolicy(
        automatic=automatic or frozenset(),
        queue_jump=QueueJumpPolicy(**sections["queue_jump"]),
        speed_too_fast=SpeedPolicy(**sections["speed_too_fast"]),
        officer_burst=OfficerBurstPolicy(**sections["officer_burst"]),
        applicant_broker=BrokerPolicy(**sections["applicant_broker"]),
        clock_reset=ClockResetPolicy(**sections["clock_reset"]),
        off_hours=OffHoursPolicy(**sections["off_hours"]),
    )


class _Reader(EntryReader):
    duration_example = "2 working_days"

    def __init__(self, report: Report, step_codes: Collection[str] | None) -> None:
        self._report = report
        self.step_codes = step_codes

    def report(self, entry: str, message: str) -> None:
        self._report(entry, message)

    def section(
        self, entry: str, value: object, fields: Mapping[str, Callable[[_Reader, str, object], Any]]
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.report(entry, f"must be a mapping such as {{enabled: true}}, not {value!r}")
            return {}
        read: dict[str, Any] = {}
        for key, item in value.items():
            parse = fields.get(key) if isinstance(key, str) else None
            if parse is None:
                self.report(entry, f"unknown key {key!r} (expected: {', '.join(fields)})")
                continue
            parsed = parse(self, f"{entry}.{key}", item)
            if parsed is not None:
                read[key] = parsed
        return read

    def count(self, entry: str, value: object) -> int | None:
        return self.at_least(entry, value, 1)

    def limit(self, entry: str, value: object) -> int | None:
        return self.at_least(entry, value, 0)

    def at_least(self, entry: str, value: object, low: int) -> int | None:
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            self.report(entry, f"must be a whole number of at least {low}, not {value!r}")
            return None
        return value

    def fraction(self, entry: str, value: object) -> float | None:
        number = (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else -1
        )
        if not 0 < number < 1:
            self.report(
                entry, f"must be a number between 0 and 1 (exclusive), such as 0.2, not {value!r}"
            )
            return None
        return number

    def factor(self, entry: str, value: object) -> float | None:
        number = (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else -1
        )
        if not 0 < number <= 1:
            self.report(
                entry, f"must be a number above 0 and at most 1, such as 0.5, not {value!r}"
            )
            return None
        return number

    def wall_duration(self, entry: str, value: object) -> Duration | None:
        found = self.duration(entry, value)
        if found is not None and found.unit not in _WALL_UNITS:
            self.report(
                entry,
                f"a sliding window is wall-clock time: use days, hours or minutes, not {found}",
            )
            return None
        return found

    def steps(self, entry: str, value: object) -> frozenset[str] | None:
        if not isinstance(value, list):
            self.report(entry, f"must be a list of step codes, not {value!r}")
            return None
        known = self.step_codes
        return distinct_names(
            value,
            "step",
            lambda code: (
                None
                if isinstance(code, str) and (known is None or code in known)
                else f"unknown step {code!r} (steps: {listing(known or ())})"
            ),
            lambda message: self.report(entry, message),
        )


_Parse = Callable[[_Reader, str, object], Any]
_FIELDS: Mapping[str, Mapping[str, _Parse]] = {
    "queue_jump": {
        "enabled": _Reader.flag,
        "min_positions": _Reader.count,
        "min_wait": _Reader.duration,
        "steps": _Reader.steps,
        "max_waiting": _Reader.count,
        "stale_after": _Reader.wall_duration,
    },
    "speed_too_fast": {
        "enabled": _Reader.flag,
        "quantile": _Reader.fraction,
        "factor": _Reader.factor,
        "min_samples": _Reader.count,
        "window": _Reader.count,
        "steps": _Reader.steps,
        "whole_case": _Reader.flag,
    },
    "officer_burst": {
        "enabled": _Reader.flag,
        "max_steps": _Reader.count,
        "window": _Reader.wall_duration,
        "steps": _Reader.steps,
    },
    "applicant_broker": {
        "enabled": _Reader.flag,
        "max_applicants": _Reader.count,
        "window": _Reader.wall_duration,
    },
    "clock_reset": {
        "enabled": _Reader.flag,
        "max_stops": _Reader.limit,
        "late_fraction": _Reader.fraction,
        "reason_required": _Reader.flag,
    },
    "off_hours": {
        "enabled": _Reader.flag,
        "grace": _Reader.wall_duration,
    },
}
