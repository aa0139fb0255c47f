"""Deadlines of a case through its agency's working calendar, clock stops excluded.

A step's deadline runs from the step before it (the wait's anchor); the case's deadline runs
from its opening. Stopped time (between `clock: stop` and `clock: resume`) extends both; while
the clock is stopped there is no deadline. A service with deemed approval is approved by law
when its case deadline passes undecided; the tracker warns a set working time before that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from pantau.core.durations import Duration, parse_duration
from pantau.core.frozen import quick_init
from pantau.core.working_time import ClockStop, WorkingCalendar
from pantau_tracker.domain.case import AwaitedStep, CaseState
from pantau_tracker.domain.standards import CaseStandard


@quick_init
@dataclass(frozen=True)
class StepDeadline:
    """When the awaited step is due."""

    wait: AwaitedStep
    due_at: datetime


@lru_cache(maxsize=65536)
def _deadline(
    calendar: WorkingCalendar, start: datetime, limit: Duration, stops: tuple[ClockStop, ...]
) -> datetime | None:
    # Deadlines are asked for several times per record (judging, indexing, showing) and do not
    # change until the case's anchor or stops do; working-day arithmetic is the core's hot spot.
    return calendar.deadline(start, limit, stops)


def step_deadlines(state: CaseState, standard: CaseStandard) -> list[StepDeadline]:
    """The deadlines of the steps the case awaits; a wait under a running clock stop has none."""
    found = []
    for wait in state.awaiting:
        due = _deadline(standard.calendar, wait.since, _duration(wait.sla), state.stops)
        if due is not None:
            found.append(StepDeadline(wait, due))
    return found


def case_deadline(state: CaseState, standard: CaseStandard) -> datetime | None:
    """When the service standard's limit for the whole case runs out, or None (no service sla,
    or the clock is stopped)."""
    limit = standard.service.sla
    if limit is None:
        return None
    return _deadline(standard.calendar, state.opened_at, limit, state.stops)


def deemed_deadlines(
    state: CaseState, standard: CaseStandard
) -> tuple[datetime | None, datetime | None]:
    """For a service with deemed approval: when the tracker warns that the case will be deemed
    approved, and when it is (the case deadline); (None, None) otherwise or while stopped."""
    deemed = standard.service.deemed_approval
    if deemed is None:
        return None, None
    due = case_deadline(state, standard)
    if due is None:
        return None, None
    return _warning(standard.calendar, due, deemed.warn_before.amount), due


@lru_cache(maxsize=65536)
def _warning(calendar: WorkingCalendar, due: datetime, hours: int) -> datetime:
    return calendar.working_time_before(due, timedelta(hours=hours))


def next_due(state: CaseState, standard: CaseStandard) -> datetime | None:
    """The earliest instant at which a timer check of this case could change something:
    an unfired deadline of an open case, the end of the backfill settling time, or expiry."""
    candidates: list[datetime] = []
    if state.is_closed:
        if state.expires_at is not None:
            candidates.append(state.expires_at)
        return min(candidates) if candidates else None
    candidates.extend(d.due_at for d in step_deadlines(state, standard) if not d.wait.fired)
    if not state.case_overdue_fired:
        due = case_deadline(state, standard)
        if due is not None:
            candidates.append(due)
    warn, deemed = deemed_deadlines(state, standard)
    if warn is not None and not state.deemed_warned:
        candidates.append(warn)
    if deemed is not None and state.deemed_approved_at is None:
        candidates.append(deemed)
    if not candidates:
        return None
    earliest = min(candidates)
    if state.last_mode == "backfill":
        return max(earliest, state.last_received_at + standard.policy.backfill_settle)
    return earliest


@lru_cache(maxsize=256)
def _duration(text: str) -> Duration:
    return parse_duration(text)
