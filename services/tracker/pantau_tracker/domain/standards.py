"""What a case is judged against: its service standard, its agency's calendar and the policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from pantau.core.catalog import Catalog, Service
from pantau.core.events import Event
from pantau.core.standards import StandardsBook, StandardVersion
from pantau.core.working_time import WorkingCalendar

if TYPE_CHECKING:  # the case module imports this one
    from pantau_tracker.domain.case import CaseState


@dataclass(frozen=True)
class TrackerPolicy:
    """Tunable limits of the tracker, all durations.

    `backdated_tolerance` and `future_tolerance` bound receive time against `occurred_at`.
    `retention` is how long a closed case is kept after its closing was received.
    `backfill_settle` holds back deadline timers of a case whose latest event is a backfill
    record: a historical load arrives much faster than the tracker may process it, and a timer
    must not call a deadline missed while the step that met it still waits in the backlog.
    `cross_case` runs the cross-case rules (`pantau_tracker.domain.rulebook`) on every applied
    event; each service's catalog `oversight:` section still switches single rules off.
    """

    backdated_tolerance: timedelta = timedelta(hours=24)
    future_tolerance: timedelta = timedelta(minutes=5)
    retention: timedelta = timedelta(days=90)
    backfill_settle: timedelta = timedelta(seconds=60)
    cross_case: bool = True


@dataclass(frozen=True)
class CaseStandard:
    """The service standard of one case, its agency's working calendar and the policy.

    `version` is the number of the published standards version the service comes from; None
    when the tracker runs on a catalog file that was never published.
    """

    service: Service
    calendar: WorkingCalendar
    policy: TrackerPolicy
    version: int | None = None


@dataclass
class _Edition:
    """One catalog (a published version, or the unpublished catalog) with its calendars."""

    catalog: Catalog
    version: int | None
    calendars: Mapping[str, WorkingCalendar]
    cache: dict[tuple[str, str], CaseStandard] = field(default_factory=dict)

    @classmethod
    def of(cls, catalog: Catalog, version: int | None) -> _Edition:
        calendars = {name: WorkingCalendar(spec) for name, spec in catalog.calendars.items()}
        return cls(catalog, version, calendars)

    def standard(self, agency: str, service: str, policy: TrackerPolicy) -> CaseStandard | None:
        key = (agency, service)
        found = self.cache.get(key)
        if found is None:
            known = self.catalog.service(agency, service)
            owner = self.catalog.agency(agency)
            if known is None or owner is None:
                return None
            found = CaseStandard(known, self.calendars[owner.calendar], policy, self.version)
            self.cache[key] = found
        return found


class Standards:
    """What the tracker judges cases by: the published versions of the service standards (a
    `StandardsBook`), or one unpublished catalog.

    A case follows the version in force when its first event occurred (`for_event`), for its
    whole life (`for_state`: the version its state records). `catalog` is the newest version's
    catalog, which new cases are checked against. `learn` adds a version read from the standards
    topic while the tracker runs; the book only grows.
    """

    def __init__(
        self,
        catalog: Catalog | None = None,
        policy: TrackerPolicy | None = None,
        book: StandardsBook | None = None,
    ) -> None:
        if catalog is None and not book:
            raise ValueError("standards need a catalog or a book with a version")
        self.policy = policy or TrackerPolicy()
        self.book = book or StandardsBook()
        self._unpublished = None if catalog is None else _Edition.of(catalog, None)
        self._editions: dict[int, _Edition] = {}
        for version in self.book.versions:
            self._editions[version.number] = _Edition.of(version.catalog, version.number)

    @property
    def catalog(self) -> Catalog:
        """The newest catalog: the latest version's, else the unpublished one."""
        latest = self.book.latest
        if latest is not None:
            return self._editions[latest.number].catalog
        assert self._unpublished is not None
        return self._unpublished.catalog

    def learn(self, version: StandardVersion) -> bool:
        """Take a version read from the standards topic; False when it was known already."""
        learned = self.book.learned(version)
        if learned is None:
            return False
        self.book = learned
        self._editions[version.number] = _Edition.of(version.catalog, version.number)
        return True

    def _edition(self, version: int | None) -> _Edition:
        if version is not None and version in self._editions:
            return self._editions[version]
        if self._unpublished is not None and not self._editions:
            return self._unpublished
        latest = self.book.latest
        assert latest is not None
        return self._editions[latest.number]

    def for_case(
        self, agency: str, service: str, version: int | None = None
    ) -> CaseStandard | None:
        """The standard of `service` at `agency` in `version` (default: the newest catalog);
        None when that catalog does not have it."""
        if version is None:
            latest = self.book.latest
            version = None if latest is None else latest.number
        return self._edition(version).standard(agency, service, self.policy)

    def version_at(self, state: CaseState) -> int | None:
        """The version a case follows: the one its state records, else (a state kept from
        before versions) the one in force when it opened."""
        if state.standard_version is not None:
            return state.standard_version
        found = self.book.in_force(state.opened_at)
        return None if found is None else found.number

    def for_state(self, state: CaseState) -> CaseStandard | None:
        """The standard a case is judged by, whatever was published after it opened."""
        # The common case first, taken a few times for each event of a batch.
        version = state.standard_version
        if version is not None and (edition := self._editions.get(version)) is not None:
            return edition.standard(state.agency, state.service, self.policy)
        if not self._editions and self._unpublished is not None:
            # One unpublished catalog: every case follows it, whatever its state says.
            return self._unpublished.standard(state.agency, state.service, self.policy)
        return self.for_case(state.agency, state.service, self.version_at(state))

    def catalog_of(self, state: CaseState | None) -> Catalog:
        """The catalog the next event of a case is checked against: the case's own version;
        for a new case, the newest catalog."""
        if state is None:
            return self.catalog
        return self._edition(self.version_at(state)).catalog

    def for_event(self, state: CaseState | None, event: Event) -> CaseStandard | None:
        """The standard `event` is judged by: its case's (`for_state`); for the first event of
        a case, the version in force when it occurred (or the first later version that knows
        its service and step)."""
        if state is not None:
            return self.for_state(state)
        if not self.book:
            return self.for_case(event.agency, event.service)
        found = self.book.judging(event.agency, event.service, event.step, event.occurred_at)
        if found is None:
            return None
        return self.for_case(event.agency, event.service, found.number)

    def with_policy(self, policy: TrackerPolicy) -> Standards:
        """The same catalogs judged under another policy."""
        catalog = None if self._unpublished is None else self._unpublished.catalog
        return Standards(catalog, policy, self.book)
