"""What every reader of a catalog section shares: it reports each problem against the entry it
is about (`services[pbg@...].sla`) and goes on, so that one pass finds every problem.

The catalog loader (`pantau.core.catalog`) and the `oversight:` section's reader
(`pantau.core.oversight_policy`) both read flags and durations this way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

from pantau.core.durations import Duration, parse_duration

Report = Callable[[str, str], None]
"""Where a reader's problems go: `report(entry, message)`."""


def listing(names: Iterable[str]) -> str:
    """Names for a problem message: `a, b, c`, or `none`."""
    return ", ".join(names) or "none"


def distinct_names(
    values: Iterable[object],
    kind: str,
    refusal: Callable[[object], str | None],
    report: Callable[[str], None],
) -> frozenset[str]:
    """The names listed in `values`. A value `refusal` objects to (it must object to any that is
    not text) or one listed twice is reported (`kind` names what the names are) and left out."""
    names: set[str] = set()
    for value in values:
        refused = refusal(value)
        if refused is not None:
            report(refused)
            continue
        assert isinstance(value, str)
        if value in names:
            report(f"{kind} {value!r} is listed twice")
        else:
            names.add(value)
    return frozenset(names)


class EntryReader(ABC):
    """Reads values of a YAML document, reporting what is wrong with each and going on."""

    duration_example = "3 working_days"  # the duration a problem message shows as the form

    @abstractmethod
    def report(self, entry: str, message: str) -> None:
        """Note that `entry` has a problem: `message` says what it is."""

    def flag(self, entry: str, value: object) -> bool | None:
        """`value` as a boolean, or None after reporting that it is not one."""
        if not isinstance(value, bool):
            self.report(entry, f"must be true or false, not {value!r}")
            return None
        return value

    def duration(self, entry: str, value: object) -> Duration | None:
        """`value` as a duration such as '3 working_days', or None after reporting why not."""
        if not isinstance(value, str):
            self.report(
                entry, f"a duration must be text like '{self.duration_example}', not {value!r}"
            )
            return None
        try:
            return parse_duration(value)
        except ValueError as error:
            self.report(entry, str(error))
            return None
