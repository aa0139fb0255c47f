"""Paths and times of a planned case: a walk through the allowed transitions, and when each
step happens.

Honest work on a step takes at least a tenth of its typical length (its own sla, else a share of
the service's) and at most four tenths, within every deadline a reader may await it by, with a
margin; a plan may instead put one step late (past its own sla, the case's, or into the warning
before a deemed approval) or time it on purpose (at an instant, too fast, in the evening).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from pantau.core.catalog import Service, Step
from pantau.core.durations import Duration, DurationUnit
from pantau.core.working_time import ClockStop, WorkingCalendar
from pantau.traffic.plans import Special

MARGIN = timedelta(minutes=30)  # honest work ends at least this long before its deadline
# Honest work takes at least a tenth of a step's typical length and at most four tenths, so a
# step is never far faster than its peers (speed.too_fast judges against a low quantile).
MIN_SHARE = 0.1
SPREAD = 3.0
WORKING_DAY = timedelta(hours=8)
NON_SLA_STEP_MAX = 4 * WORKING_DAY  # typical length of a step without its own standard, at most


def walk(service: Service, rng: random.Random, *, happy: bool = False) -> list[str]:
    """A path through the allowed transitions; `happy` keeps to the successful main line."""
    order = {step.code: i for i, step in enumerate(service.steps)}
    for _attempt in range(20):
        path = [rng.choice(sorted(service.start_steps, key=order.__getitem__))]
        stops = 0
        while len(path) < 30:
            step = service.step(path[-1])
            assert step is not None
            if step.terminal:
                break
            options = sorted(service.allowed_after(step.code), key=order.__getitem__)
            weights = []
            for option in options:
                following = service.step(option)
                assert following is not None
                if following.is_success and not service.mandatory <= {*path, option}:
                    weights.append(0.0)
                elif following.is_rejection:
                    weights.append(0.0 if happy else 0.04)
                elif following.clock == "stop":
                    weights.append(0.0 if happy or stops else 0.12)
                elif order[option] < order[step.code] and following.clock is None:
                    weights.append(0.0 if happy else 0.05)
                else:
                    weights.append(1.0)
            if sum(weights) == 0:
                weights = [1.0] * len(options)
            chosen = rng.choices(options, weights)[0]
            stops += service.step(chosen) is not None and chosen in _stop_steps(service)
            path.append(chosen)
        last = service.step(path[-1])
        if (
            last is not None
            and last.terminal
            and (not last.is_success or service.mandatory <= set(path))
        ):
            return path
    raise RuntimeError(f"no complete path found through {service.agency}/{service.code}")


def _stop_steps(service: Service) -> set[str]:
    return {step.code for step in service.steps if step.clock == "stop"}


def ceil_second(at: datetime) -> datetime:
    return at.replace(microsecond=0) + timedelta(seconds=1 if at.microsecond else 0)


def timeline(
    service: Service,
    calendar: WorkingCalendar,
    path: list[str],
    arrival: datetime,
    rng: random.Random,
    late: tuple[int, str] | None,
    special: dict[int, Special],
) -> list[datetime] | None:
    """When each step of `path` happens; None when `late` or `special` cannot be honoured on
    this path, or honest work does not fit its deadlines."""
    times = [arrival.astimezone(calendar.tz)]
    stops: list[ClockStop] = []
    stopped_at: datetime | None = None
    last_work = times[0]  # the latest step that is not a clock stop or resume
    last_work_step = path[0]
    for index in range(1, len(path)):
        previous, code = service.step(path[index - 1]), service.step(path[index])
        assert previous is not None
        assert code is not None
        before = times[-1]
        if previous.clock == "stop":
            at = calendar.deadline(before, Duration(rng.randint(1, 4), DurationUnit.WORKING_DAYS))
            assert at is not None
            at = _at_work(calendar, at - timedelta(minutes=rng.randint(0, 240)), before)
            times.append(ceil_second(at))
            stops.append(ClockStop(stopped_at or before, times[-1]))
            stopped_at = None
            continue
        case_due = None
        if service.sla is not None:
            case_due = calendar.deadline(times[0], service.sla, stops)
        # Honest work on a deemed-approval service is done before the warning, not only the limit.
        bound = case_due
        warning = _deemed_warning(service, calendar, case_due)
        if warning is not None and warning > before:
            bound = warning
        if late is not None and late[0] == index:
            at = _late(service, calendar, code, before, case_due, bound, stops, rng, late[1])
            if at is None:
                return None
        else:
            awaited_from = (before, last_work, last_work_step)
            limit = _waiting_limit(service, calendar, previous, code, awaited_from, bound, stops)
            how = special.get(index)
            found = _placed(service, calendar, code, before, limit, how, rng)
            if found is None or (how is not None and how[0] != "fast" and found > limit - MARGIN):
                return None  # a deadline would pass while the case waits for it
            at = found
        times.append(at)
        if code.clock == "stop":
            stopped_at = at
        elif code.clock is None:
            last_work, last_work_step = at, code.code
    return times


def _waiting_limit(
    service: Service,
    calendar: WorkingCalendar,
    previous: Step,
    code: Step,
    awaited_from: tuple[datetime, datetime, str],
    bound: datetime | None,
    stops: list[ClockStop],
) -> datetime:
    """The earliest deadline the step after `previous` must meet: the case's `bound` while it
    still runs, and the limit of every step a reader may await from the step before or the last
    working step (`awaited_from`: the time before, the last working step's time and code)."""
    before, last_work, last_work_step = awaited_from
    # Once a planted delay has spent the case clock, only the step slas still bind.
    running = bound is not None and bound > before + 2 * MARGIN
    limits = [bound] if running else []
    awaited = {code.code} | service.allowed_after(previous.code)
    if previous.clock is not None:
        # A reader may still await what was due after the step before the clock stop.
        awaited |= service.allowed_after(last_work_step)
    for candidate in awaited:
        pending = service.step(candidate)
        if pending is not None and pending.sla is not None:
            # "From the step before it": the event before, or the last working step
            # before a clock stop; a clean case meets both readings.
            limits.append(calendar.deadline(before, pending.sla, stops))
            limits.append(calendar.deadline(last_work, pending.sla, stops))
    limit = min((x for x in limits if x is not None), default=None)
    return before + timedelta(days=5) if limit is None else limit


def _placed(
    service: Service,
    calendar: WorkingCalendar,
    code: Step,
    before: datetime,
    limit: datetime,
    how: Special | None,
    rng: random.Random,
) -> datetime | None:
    """When the step `code` happens after `before`: honest work within `limit`, or as the
    special plan `how` says (at a given time, too fast, or in the evening)."""
    if how is None:
        return _place(service, calendar, code, before, limit, rng)
    if how[0] == "at":
        at: datetime = how[1]
        return at if at > before else None
    if how[0] == "fast":
        return advance(calendar, before, minimum(service, code) * how[1], True, rng)
    # off hours: the work of that day done in the evening instead
    honest = _place(service, calendar, code, before, limit, rng)
    if honest is None:
        return None
    evening = honest.astimezone(calendar.tz).replace(
        hour=19, minute=rng.randint(0, 59), second=rng.randint(0, 59)
    )
    return evening if evening > before else None


def _at_work(calendar: WorkingCalendar, at: datetime, after: datetime) -> datetime:
    at = max(at, after + timedelta(minutes=1))
    return at if calendar.is_working_time(at) else calendar.next_opening(at)


def unit_of(service: Service, step: Step) -> DurationUnit:
    """The kind of time a step is measured in: its own sla's, else the service's."""
    if step.sla is not None:
        return step.sla.unit
    if service.sla is not None:
        return service.sla.unit
    return DurationUnit.WORKING_HOURS


_UNIT_LENGTH = {
    DurationUnit.WORKING_DAYS: WORKING_DAY,
    DurationUnit.WORKING_HOURS: timedelta(hours=1),
    DurationUnit.DAYS: timedelta(days=1),
    DurationUnit.HOURS: timedelta(hours=1),
    DurationUnit.MINUTES: timedelta(minutes=1),
}


def minimum(service: Service, step: Step) -> timedelta:
    """The least time honest work on `step` takes: a tenth of its typical length (its own sla,
    else a share of the service's), in the kind of time it is measured in."""
    if step.sla is not None:
        typical = _UNIT_LENGTH[step.sla.unit] * step.sla.amount
    elif service.sla is not None:
        whole = _UNIT_LENGTH[service.sla.unit] * service.sla.amount
        typical = min(whole / max(2, len(service.mandatory) + 1), NON_SLA_STEP_MAX)
    else:
        typical = WORKING_DAY
    return typical * MIN_SHARE


def advance(
    calendar: WorkingCalendar,
    before: datetime,
    amount: timedelta,
    working: bool,
    rng: random.Random,
    spread: float = 0.0,
) -> datetime:
    """`amount` of working time after `before`, or for wall-clock time a working instant
    between `amount` and `amount * (1 + spread)` after it."""
    if working:
        # The calendar's own arithmetic, so the rules measure exactly `amount`.
        at = calendar._add_working_time(before.astimezone(UTC), amount)
        return ceil_second(at.astimezone(calendar.tz))
    # Wall-clock steps: a working instant within the duration's spread, not the next opening
    # (which would bunch them up and make honest durations uneven).
    for _try in range(20):
        at = before + amount * (1 + rng.random() * spread)
        if calendar.is_working_time(at):
            return ceil_second(at)
    at = before + amount
    return ceil_second(calendar.next_opening(at) + timedelta(minutes=rng.randint(0, 60)))


def _place(
    service: Service,
    calendar: WorkingCalendar,
    step: Step,
    before: datetime,
    limit: datetime,
    rng: random.Random,
) -> datetime | None:
    """When honest work on `step` after `before` ends: at least its minimum, at most four times
    that, well before `limit`; None when even the minimum does not fit."""
    least = minimum(service, step)
    working = unit_of(service, step).is_working_time
    for spread in (SPREAD, SPREAD / 3, SPREAD / 10, 0.0):
        if working:
            at = advance(calendar, before, least * (1 + spread * rng.random()), True, rng)
        else:
            at = advance(calendar, before, least, False, rng, spread)
        if at <= limit - MARGIN:
            return at
    return None


def _deemed_warning(
    service: Service, calendar: WorkingCalendar, case_due: datetime | None
) -> datetime | None:
    """When a case of a deemed-approval service due at `case_due` is warned of, else None."""
    deemed = service.deemed_approval
    if deemed is None or case_due is None:
        return None
    return calendar.working_time_before(case_due, timedelta(hours=deemed.warn_before.amount))


def _late(
    service: Service,
    calendar: WorkingCalendar,
    step: Step,
    before: datetime,
    case_due: datetime | None,
    bound: datetime | None,
    stops: list[ClockStop],
    rng: random.Random,
    kind: str,
) -> datetime | None:
    """When `step` happens late: past its own sla (`step`), in the warning time before a deemed
    approval (`near`), or past the service sla (`case`); None when that cannot be planned."""
    if kind == "step":
        assert step.sla is not None
        due = calendar.deadline(before, step.sla, stops)
        assert due is not None
        hours = rng.randint(2, 12)
        at = calendar.deadline(due, Duration(hours, DurationUnit.WORKING_HOURS))
        assert at is not None
        at = ceil_second(at)
        if bound is not None and at > bound - timedelta(days=3):
            return None
        return at
    assert case_due is not None
    if kind == "near":
        warning = _deemed_warning(service, calendar, case_due)
        if warning is None or warning <= before:
            return None
        hours = rng.randint(1, 3)
        at = calendar.deadline(warning, Duration(hours, DurationUnit.WORKING_HOURS))
        assert at is not None
        at = ceil_second(at)
        # Room after it for the rest of the case before the limit.
        return at if at < case_due - 8 * MARGIN else None
    days = Duration(rng.randint(1, 8), DurationUnit.WORKING_DAYS)
    at = calendar.deadline(case_due, days)
    assert at is not None
    return ceil_second(at)
