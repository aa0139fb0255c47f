"""The admission checks of a planned case: what else a plan raises, and whether it fits the crowd.

The simulation reads a plan the way the cross-case rules read traffic: where it waits and
whether it overtakes (`queue.jump`), which steps an officer completes (`officer.burst`), which
durations it adds to its peers' (`speed.too_fast`), its clock stops and its work out of hours.
A plan is admitted when it raises nothing but what is planted and fits what earlier plans left
in the `Crowd` (`commit` then adds it there).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pantau.core.alerts import Rule
from pantau.core.catalog import Catalog, Service, Step
from pantau.core.durations import Duration, DurationUnit
from pantau.core.events import Event
from pantau.core.oversight_policy import ClockResetPolicy
from pantau.core.working_time import ClockStop, WorkingCalendar
from pantau.traffic.crowd import Crowd, OfficerKind, QueueKey, Wait
from pantau.traffic.plans import DEEMED_APPROVAL_RULES, FEE_RULES, Draft, Emission

# The longest a source takes to send an event of live traffic: a case leaving a queue within
# twice this of another may be seen in either order.
LIVE_LATENCY_MAX = timedelta(seconds=90)


# --- the cross-case view of a plan ----------------------------------------------------------

# Rules the simulation reads off a plan itself (the fee rules by the reference reading), so a
# plan that does not raise its rule is planned again; the others (speed, bursts, brokers) are
# planted by construction and the truth states the intent.
JUDGED_HERE = frozenset(
    {
        Rule.FEE_MISMATCH,
        Rule.QUEUE_JUMP,
        Rule.SLA_CLOCK_RESET_ABUSE,
        Rule.TIME_OFF_HOURS,
        *DEEMED_APPROVAL_RULES,
        *FEE_RULES,
    }
)


def _applied(draft: Draft) -> list[int]:
    """Indexes of the events that move the case: not an out-of-order one, none after the end."""
    found = []
    for index, code in enumerate(draft.path):
        if index in draft.follows:
            continue
        found.append(index)
        step = draft.service.step(code)
        if step is not None and step.terminal:
            break
    return found


def _applied_events(draft: Draft, emissions: list[Emission]) -> list[tuple[int, Event]]:
    first: dict[str, Event] = {}
    for emission in emissions:
        first.setdefault(emission.event.event_id, emission.event)
    prefix = f"{draft.service.agency}:{draft.case_id}:"
    return [(index, first[f"{prefix}{index + 1}"]) for index in _applied(draft)]


def _shortest(limit: Duration) -> timedelta:
    """A wall-clock time surely shorter than `limit` from any start: working days land on the
    same working-clock position that many days later (at most clamped to a closing)."""
    if limit.unit is DurationUnit.WORKING_DAYS:
        return timedelta(days=limit.amount) - timedelta(hours=2)
    if limit.unit is DurationUnit.WORKING_HOURS:
        return timedelta(hours=limit.amount)
    return limit.as_timedelta()


def is_staff(service: Service, step: Step, named: bool) -> bool:
    """Work of the agency's staff, as the cross-case rules count it (`named`: the event names
    an officer)."""
    if step.start or step.payment or step.code in service.oversight.automatic:
        return False
    return bool(step.roles) or named


def _off_hours(calendar: WorkingCalendar, at: datetime, policy: Any) -> bool:
    rule = policy.off_hours
    if not rule.enabled:
        return False
    if not calendar.is_working_day(at.astimezone(calendar.tz).date()):
        return True
    grace = rule.grace.as_timedelta()
    return not any(calendar.is_working_time(t) for t in (at, at - grace, at + grace))


def sla_of(service: Service, code: str) -> Duration | None:
    step = service.step(code)
    return None if step is None else step.sla


def _waits(draft: Draft) -> list[tuple[QueueKey, Wait, bool]]:
    """Where the planned case waits, and whether it leaves each queue by overtaking work."""
    service = draft.service
    rule = service.oversight.queue_jump
    applied = _applied(draft)
    if not applied or draft.anchored:
        # An anchored event happens when it is really sent, after every planned one: it waits
        # behind them all and overtakes nobody.
        return []
    opening = service.step(draft.path[applied[0]])
    submitted = draft.times[applied[0]] if opening is not None and opening.start else None
    found = []
    for a, b in itertools.pairwise(applied):
        waited, done = service.step(draft.path[a]), service.step(draft.path[b])
        assert waited is not None
        assert done is not None
        if waited.terminal or waited.clock == "stop":
            continue
        since, leave = draft.times[a], draft.times[b]
        overtakes = (
            is_staff(service, done, b < len(draft.officers) and draft.officers[b] is not None)
            and not done.is_rejection
            and done.clock != "stop"
            and (rule.steps is None or done.code in rule.steps)
        )
        key = (service.agency, service.code, waited.code)
        found.append((key, Wait(draft.case_id, since, leave, submitted or since), overtakes))
    return found


def counts_for_burst(service: Service, step: Step) -> bool:
    rule = service.oversight.officer_burst
    return (
        rule.enabled
        and (rule.steps is None or step.code in rule.steps)
        and is_staff(service, step, False)
    )


def _completions(draft: Draft) -> list[tuple[int, OfficerKind, datetime]]:
    """The steps of the plan an officer completes, as officer.burst counts them."""
    service = draft.service
    found = []
    for index in _applied(draft):
        officer = draft.officers[index] if index < len(draft.officers) else None
        step = service.step(draft.path[index])
        assert step is not None
        if officer is not None and counts_for_burst(service, step):
            kind = (service.agency, officer.id, f"{service.code}/{step.code}")
            found.append((index, kind, draft.times[index]))
    return found


def is_measured(service: Service, step: Step) -> bool:
    """A step whose duration speed.too_fast measures."""
    rule = service.oversight.speed_too_fast
    instant = service.sla is not None and service.sla.unit is DurationUnit.MINUTES
    return (
        rule.enabled
        and not instant
        and not (step.start or step.payment or step.clock)
        and step.code not in service.oversight.automatic
        and (step.sla is None or step.sla.unit is not DurationUnit.MINUTES)
        and (rule.steps is None or step.code in rule.steps)
    )


def _measured(draft: Draft) -> list[tuple[str, datetime]]:
    """The durations the plan adds to its peers' (`step:<code>` or `case`), with when."""
    service = draft.service
    applied = _applied(draft)
    found = []
    for index in applied[1:]:
        step = service.step(draft.path[index])
        assert step is not None
        if is_measured(service, step):
            found.append((f"step:{step.code}", draft.times[index]))
        opening = service.step(draft.path[applied[0]])
        if (
            step.is_success
            and service.oversight.speed_too_fast.whole_case
            and opening is not None
            and opening.start
        ):
            found.append(("case", draft.times[index]))
    return found


def overtakable(service: Service, waited: str) -> bool:
    """True when a case waiting at `waited` can be overtaken: some step after it is staff work
    that counts for queue.jump (see `_waits`)."""
    chosen = service.oversight.queue_jump.steps
    return any(
        (step := service.step(code)) is not None
        and bool(step.roles)
        and not step.is_rejection
        and step.clock != "stop"
        and (chosen is None or code in chosen)
        for code in service.allowed_after(waited)
    )


def _clock_stop_abused(
    draft: Draft,
    rule: ClockResetPolicy,
    event: Event,
    opened: datetime | None,
    stops: list[ClockStop],
    awaiting: dict[str, datetime],
) -> bool:
    """Whether a clock stop may read as `sla.clock_reset_abuse`: one stop too many, a stop
    without its reason, or a stop near the end of a limit still running."""
    service, calendar, at = draft.service, draft.calendar, event.occurred_at
    if len(stops) + 1 > rule.max_stops:
        return True
    if rule.reason_required and not (event.reason or "").strip():
        return True
    limits = [(since, name) for name, since in awaiting.items()]
    if opened is not None and service.sla is not None:
        limits.append((opened, ""))
    for since, name in limits:
        sla = service.sla if not name else sla_of(service, name)
        assert sla is not None
        due = calendar.deadline(since, sla, stops)
        if due is None or due <= at:
            continue
        total = calendar.elapsed(since, due, sla.unit, stops)
        left = calendar.elapsed(at, due, sla.unit, stops)
        # A little above the threshold: a stop on its edge is not honest enough.
        if total.total_seconds() > 0 and left / total <= rule.late_fraction + 0.05:
            return True
    return False


# --- admitting a plan ----------------------------------------------------------------------


def oversight_raised(
    crowd: Crowd, draft: Draft, emissions: list[Emission], staged: dict[QueueKey, list[Wait]]
) -> set[str]:
    """The cross-case rules this plan may raise that the simulation can tell on its own:
    clock stops, off hours (the case alone) and queue overtaking (against the long waits
    of cases planned before). Erring on the side of raising: a plan said to raise one is
    planned again unless that rule is the one planted."""
    service, calendar = draft.service, draft.calendar
    policy = service.oversight
    events = _applied_events(draft, emissions)
    raised: set[str] = set()
    opened: datetime | None = None
    stops: list[ClockStop] = []
    awaiting: dict[str, datetime] = {}
    for index, event in events:
        step = service.step(event.step)
        assert step is not None
        at = event.occurred_at
        if index == events[0][0] and step.start:
            opened = at
        named = event.officer is not None
        if is_staff(service, step, named) and _off_hours(calendar, at, policy):
            raised.add(Rule.TIME_OFF_HOURS)
        if step.clock == "stop" and policy.clock_reset.enabled:
            if _clock_stop_abused(draft, policy.clock_reset, event, opened, stops, awaiting):
                raised.add(Rule.SLA_CLOCK_RESET_ABUSE)
            stops.append(ClockStop(at))
        elif step.clock == "resume":
            if stops and stops[-1].resumed_at is None:
                stops[-1] = ClockStop(stops[-1].stopped_at, at)
            for code in service.allowed_after(step.code):
                if sla_of(service, code) is not None and code not in awaiting:
                    awaiting[code] = at
        else:
            awaiting = {
                code: at
                for code in service.allowed_after(step.code)
                if sla_of(service, code) is not None
            }
    if _overtaken(crowd, draft, staged) >= policy.queue_jump.min_positions:
        raised.add(Rule.QUEUE_JUMP)
    return raised


def _overtaken(crowd: Crowd, draft: Draft, staged: dict[QueueKey, list[Wait]]) -> int:
    """The most earlier-submitted cases one step of this plan overtakes, as queue.jump counts
    them; only cases that wait longer than `min_wait` can be overtaken, and the crowd
    remembers those. A case leaving within a source's latency of this one counts as still
    waiting (the order it is seen in is not certain)."""
    rule = draft.service.oversight.queue_jump
    if not rule.enabled:
        return 0
    most = 0
    for key, wait, overtakes in _waits(draft):
        if not overtakes:
            continue
        count = 0
        for other in [*crowd.waits(key), *staged.get(key, [])]:
            if other.case_id == draft.case_id or other.submitted >= wait.submitted:
                continue
            due = other.ripe
            if (
                due is not None
                and due <= wait.since
                and other.leave > wait.leave - 2 * LIVE_LATENCY_MAX
            ):
                count += 1
        most = max(most, count)
    return most


def crowds_queue(crowd: Crowd, draft: Draft, staged: dict[QueueKey, list[Wait]]) -> bool:
    """True when a long wait of this plan would be one of `min_positions` waiting long at
    once in one queue: together they could be overtaken by cases planned later, which do
    not know of them when they arrive earlier. (A planted queue's cases wait long on
    purpose, in a way no honest case can overtake.)"""
    rule = draft.service.oversight.queue_jump
    for key, wait in long_waits(draft):
        if not overtakable(draft.service, key[2]):
            continue  # nobody leaves that queue by staff work: nobody can overtake in it
        others = [*crowd.waits(key), *staged.get(key, [])]
        overlapping = sum(
            1
            for other in others
            if other.case_id != draft.case_id
            and other.since < wait.leave
            and wait.since < other.leave
        )
        if overlapping >= rule.min_positions - 1:
            return True
    return False


def long_waits(draft: Draft) -> list[tuple[QueueKey, Wait]]:
    """The waits of this plan long enough to be overtaken."""
    rule = draft.service.oversight.queue_jump
    found = []
    shortest = _shortest(rule.min_wait)
    for key, wait, _overtakes in _waits(draft):
        if wait.leave - wait.since < shortest:
            continue  # cannot have waited that long (the calendar need not be asked)
        due = draft.calendar.deadline(wait.since, rule.min_wait)
        if due is not None and wait.leave > due:
            found.append((key, replace(wait, ripe=due)))
    return found


def officers_fit(crowd: Crowd, drafts: Sequence[Draft]) -> bool:
    """No officer completes more than `max_steps` of a kind within any `window`, counting
    earlier plans and these (a planted burst's own completions aside)."""
    planned: dict[OfficerKind, list[datetime]] = {}
    for draft in drafts:
        for index, kind, at in _completions(draft):
            if index not in draft.exempt:
                planned.setdefault(kind, []).append(at)
    for draft in drafts:
        rule = draft.service.oversight.officer_burst
        window = rule.window.as_timedelta()
        for index, kind, at in _completions(draft):
            if index in draft.exempt:
                continue
            mine = sum(1 for t in planned[kind] if at - window <= t <= at + window)
            if crowd.officer_load(kind, at - window, at + window) + mine > rule.max_steps:
                return False
    return True


def representatives_fit(
    crowd: Crowd, catalog: Catalog, drafts: Sequence[Draft], broker: str | None
) -> bool:
    """No representative but the planted broker files for more than `max_applicants` in
    any window, counting earlier plans and these."""
    filed: dict[tuple[str, str, str], list[datetime]] = {}
    for draft in drafts:
        if draft.representative is not None and draft.representative != broker:
            key = (draft.service.agency, draft.service.code, draft.representative)
            filed.setdefault(key, []).append(draft.times[0])
    for (agency, code, ref), times in filed.items():
        service = catalog.services[(agency, code)]
        rule = service.oversight.applicant_broker
        window = rule.window.as_timedelta()
        earlier = crowd.representatives(agency, code).get(ref, [])
        for at in times:
            near = [t for t in [*earlier, *times] if abs(t - at) <= window]
            if len(near) > rule.max_applicants:
                return False
    return True


def commit(crowd: Crowd, drafts: Sequence[Draft]) -> None:
    """Remember in the crowd what later plans must respect."""
    for draft in drafts:
        service = draft.service
        for _index, kind, at in _completions(draft):
            crowd.add_completion(kind, at)
        if draft.representative is not None and draft.path and draft.times:
            first = service.step(draft.path[0])
            if first is not None and first.start:
                crowd.add_filing(service.agency, service.code, draft.representative, draft.times[0])
        for key, wait in long_waits(draft):
            crowd.add_long_wait(key, wait)
        for name, at in _measured(draft):
            crowd.add_peer((service.agency, service.code, name), at)
