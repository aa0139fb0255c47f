"""Service-standard durations: `<n> working_days | working_hours | days | hours | minutes`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from pantau.core.frozen import quick_init


class DurationUnit(StrEnum):
    """The units a service standard may state a time limit in."""

    WORKING_DAYS = "working_days"
    WORKING_HOURS = "working_hours"
    DAYS = "days"
    HOURS = "hours"
    MINUTES = "minutes"

    @property
    def is_working_time(self) -> bool:
        """True when the unit counts only the calendar's working time."""
        return self in (DurationUnit.WORKING_DAYS, DurationUnit.WORKING_HOURS)


_DURATION = re.compile(r"^\s*(\d{1,6})\s+([a-z_]+)\s*$")


@quick_init
@dataclass(frozen=True)
class Duration:
    """A time limit as the service standard states it, e.g. `3 working_days`."""

    amount: int
    unit: DurationUnit

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value}"

    def as_timedelta(self) -> timedelta:
        """The wall-clock length of a duration in calendar units (days, hours, minutes)."""
        if self.unit is DurationUnit.DAYS:
            return timedelta(days=self.amount)
        if self.unit is DurationUnit.HOURS:
            return timedelta(hours=self.amount)
        if self.unit is DurationUnit.MINUTES:
            return timedelta(minutes=self.amount)
        raise ValueError(f"{self} counts working time; ask a working calendar for its length")


def parse_duration(text: str) -> Duration:
    """Parse `<n> <unit>`; raise ValueError with a message fit for a catalog author."""
    if not isinstance(text, str):
        raise ValueError(f"a duration must be text like '3 working_days', not {text!r}")
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"bad duration {text!r}: expected '<n> <unit>' with unit one of "
            + ", ".join(u.value for u in DurationUnit)
        )
    amount, unit_name = int(match.group(1)), match.group(2)
    try:
        unit = DurationUnit(unit_name)
    except ValueError:
        raise ValueError(
            f"bad duration {text!r}: unknown unit {unit_name!r}; use one of "
            + ", ".join(u.value for u in DurationUnit)
        ) from None
    if amount <= 0:
        raise ValueError(f"bad duration {text!r}: the amount must be at least 1")
    return Duration(amount, unit)
