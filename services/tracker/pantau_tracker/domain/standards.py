"""What a case is judged against: its service standard, its agency's calendar and the policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from pantau.core.catalog import Catalog, Service
from pantau.core.working_time import WorkingCalendar


@dataclass(frozen=True)
class TrackerPolicy:
    """Tunable limits of the tracker, all durations.

    `backdated_tolerance` and `future_tolerance` bound receive time against `occurred_at`.
    `retention` is how long a closed case is kept after its closing was received.
    `backfill_settle` holds back deadline timers of a case whose latest event is a backfill
    record: a historical load arrives much faster than the tracker may process it, and a timer
    must not call a deadline missed while the step that met it still waits in the backlog.
    `cross_case` runs the cross-case rules (`pantau.oversight`) on every applied event; each
    service's catalog `oversight:` section still switches single rules off.
    """

    backdated_tolerance: timedelta = timedelta(hours=24)
    future_tolerance: timedelta = timedelta(minutes=5)
    retention: timedelta = timedelta(days=90)
    backfill_settle: timedelta = timedelta(seconds=60)
    cross_case: bool = True


@dataclass(frozen=True)
class CaseStandard:
    """The service standard of one case, its agency's working calendar and the policy."""

    service: Service
    calendar: WorkingCalendar
    policy: TrackerPolicy


@dataclass
class Standards:
    """Every service standard of a catalog, with one working calendar per catalog calendar."""

    catalog: Catalog
    policy: TrackerPolicy = field(default_factory=TrackerPolicy)
    _calendars: Mapping[str, WorkingCalendar] = field(init=False, repr=False)
    _cache: dict[tuple[str, str], CaseStandard] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._calendars = {
            name: WorkingCalendar(spec) for name, spec in self.catalog.calendars.items()
        }
        self._cache = {}

    def for_case(self, agency: str, service: str) -> CaseStandard | None:
        """The standard a case of `service` at `agency` is held to; None when not in the catalog."""
        key = (agency, service)
        found = self._cache.get(key)
        if found is None:
            known = self.catalog.service(agency, service)
            owner = self.catalog.agency(agency)
            if known is None or owner is None:
                return None
            found = CaseStandard(known, self._calendars[owner.calendar], self.policy)
            self._cache[key] = found
        return found

    def with_policy(self, policy: TrackerPolicy) -> Standards:
        """The same catalog judged under another policy."""
        return Standards(self.catalog, policy)
