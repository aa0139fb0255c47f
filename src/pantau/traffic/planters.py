"""The planters: for each rule, how the simulator plants its anomaly into a simulated case.

`PLANTERS` maps each rule id of the rule table to its `Planter`: which services allow the rule
(`applies`), and how to build the case that raises it (`plant`) from an honest plan of the
simulation. A cross-case plant that needs other cases returns a `Group` of cases planned
together, clean but for the one the rule alerts on. `Simulation(planters=...)` takes others.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pantau.core.alerts import Rule
from pantau.core.catalog import Service, Step
from pantau.core.durations import Duration, DurationUnit
from pantau.core.working_time import WorkingCalendar
from pantau.traffic.admission import (
    LIVE_LATENCY_MAX,
    counts_for_burst,
    is_measured,
    is_staff,
    overtakable,
    sla_of,
)
from pantau.traffic.plans import (
    Draft,
    Group,
    Officer,
    busy_first,
    paid,
    pseudonym,
    tariff_amount,
)
from pantau.traffic.reference import Reading
from pantau.traffic.timelines import (
    MARGIN,
    SPREAD,
    advance,
    ceil_second,
    minimum,
    unit_of,
    walk,
)

if TYPE_CHECKING:
    from pantau.traffic.generator import Simulation


@dataclass(frozen=True)
class Planter:
    """How to plant one rule: which services allow it, and how to build the case.

    `reading` is the reference reading of the rule for one event of a case, for a rule that
    `reference.rules_raised` does not read itself (a rule added beside the rule table's).
    """

    applies: Callable[[Simulation, Service], bool]
    plant: Callable[[Simulation, Service, int, datetime, random.Random], Draft | Group | None]
    companions: frozenset[str] = frozenset()  # rules the planted case cannot avoid raising
    reading: Reading | None = None


def _happy(sim: Simulation, service: Service, rng: random.Random) -> list[str]:
    return walk(service, rng, happy=True)


def _on_happy_draft(
    change: Callable[[Simulation, Draft, random.Random], Draft | None],
) -> Callable[[Simulation, Service, int, datetime, random.Random], Draft | None]:
    """A planter that plans an honest case along a happy path and has `change` put its anomaly
    in; None when the honest case does not fit or `change` finds no place for the anomaly."""

    def plant(
        sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
    ) -> Draft | None:
        draft = sim.draft(service, n, at, rng, _happy(sim, service, rng))
        return None if draft is None else change(sim, draft, rng)

    return plant


def _steps(service: Service, path: Sequence[str]) -> list[Step]:
    found = [service.step(code) for code in path]
    assert all(step is not None for step in found)
    return [step for step in found if step is not None]


def _late_step_index(service: Service, path: list[str]) -> int | None:
    """A step with its own sla whose predecessor leaves no other sla pending."""
    for index in range(1, len(path)):
        step = service.step(path[index])
        assert step is not None
        others = service.allowed_after(path[index - 1]) - {path[index]}
        if step.sla is not None and all(
            (s := service.step(o)) is not None and s.sla is None for o in others
        ):
            return index
    return None


def _unqueued_slow_index(service: Service, path: list[str]) -> int | None:
    """A slow step (see `_slow_step_index`) waited for where nobody can overtake: a delay there
    is the case's alone and makes no honest case a queue jumper."""
    for index in range(len(path) - 1, 0, -1):
        pending = service.allowed_after(path[index - 1]) | {path[index]}
        if all(
            (s := service.step(o)) is not None and s.sla is None for o in pending
        ) and not overtakable(service, path[index - 1]):
            return index
    return None


def _slow_step_index(service: Service, path: list[str]) -> int | None:
    """A step without sla whose predecessor leaves no sla pending: only the case clock runs."""
    for index in range(1, len(path)):
        pending = service.allowed_after(path[index - 1]) | {path[index]}
        if all((s := service.step(o)) is not None and s.sla is None for o in pending):
            return index
    return None


def _removable(service: Service, path: list[str], *, mandatory: bool) -> list[int]:
    found = []
    for index in range(1, len(path) - 1):
        step = service.step(path[index])
        assert step is not None
        if (path[index] in service.mandatory) != mandatory or step.clock is not None:
            continue
        if mandatory and step.sla is not None:
            continue  # its own timer would raise sla.step_overdue as well
        found.append(index)
    return found


def _plant_invalid_transition(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    path = _happy(sim, service, rng)
    options = [
        i
        for i in _removable(service, path, mandatory=False)
        if path[i + 1] not in service.allowed_after(path[i - 1])
    ]
    if not options:
        return None
    return _without_step(sim.draft(service, n, at, rng, path), rng.choice(options))


def _plant_skipped_step(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    path = _happy(sim, service, rng)
    options = _removable(service, path, mandatory=True)
    if not options:
        return None
    return _without_step(sim.draft(service, n, at, rng, path), rng.choice(options))


def _without_step(draft: Draft | None, index: int) -> Draft | None:
    """The planned case with one step left out and the others kept in time, so the step after
    it takes as long as both (the case is not faster than its peers for it)."""
    if draft is None:
        return None
    service, calendar = draft.service, draft.calendar
    before, after = draft.times[index - 1], draft.times[index + 1]
    for code in service.allowed_after(draft.path[index - 1]):
        # Whatever was awaited after the step before must still be awaited in time: a deadline
        # passing while the case waits raises sla.step_overdue from the tracker's timers.
        sla = sla_of(service, code)
        due = None if sla is None else calendar.deadline(before, sla)
        if due is not None and after > due - MARGIN:
            return None
    del draft.path[index], draft.times[index], draft.officers[index]
    return draft


def _plant_after_deemed(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    """Rejected after the service limit passed undecided: after its deemed approval."""
    path = _happy(sim, service, rng)
    for index in range(1, len(path)):
        rejections = sorted(
            code
            for code in service.allowed_after(path[index - 1])
            if (step := service.step(code)) is not None and step.is_rejection
        )
        if rejections and _slow_step_index(service, path[:index] + rejections[:1]) == index:
            path = [*path[:index], rng.choice(rejections)]
            return sim.draft(service, n, at, rng, path, late=(index, "case"))
    return None


def _deemed_rejection_fits(service: Service, path: list[str]) -> bool:
    return any(
        any(
            (step := service.step(code)) is not None and step.is_rejection
            for code in service.allowed_after(path[index - 1])
        )
        for index in range(1, len(path))
    )


def _plant_after_terminal(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    path = _happy(sim, service, rng)
    rejections = [s.code for s in service.steps if s.is_rejection]
    path.append(rng.choice(rejections) if rejections else path[-1])
    draft = sim.draft(service, n, at, rng, path[:-1])
    if draft is None:
        return None
    last = service.step(path[-1])
    assert last is not None
    draft.path = path
    later = draft.calendar.deadline(draft.times[-1], Duration(1, DurationUnit.WORKING_DAYS))
    assert later is not None
    draft.times.append(ceil_second(later))
    draft.officers.append(
        busy_first(sim.officers[(service.agency, sorted(last.roles)[0])], rng)
        if last.roles
        else None
    )
    return draft


@_on_happy_draft
def _plant_unknown_case(sim: Simulation, draft: Draft, rng: random.Random) -> Draft | None:
    draft.path, draft.times, draft.officers = draft.path[1:], draft.times[1:], draft.officers[1:]
    return draft


def _plant_reason_missing(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    path = _happy(sim, service, rng)
    order = {step.code: i for i, step in enumerate(service.steps)}
    for index in range(len(path) - 1):
        ends = sorted(
            (
                o
                for o in service.allowed_after(path[index])
                if (s := service.step(o)) and s.is_rejection
            ),
            key=order.__getitem__,
        )
        if ends and rng.random() < 0.6:
            path = [*path[: index + 1], ends[0]]
            break
    else:
        return None
    draft = sim.draft(service, n, at, rng, path)
    if draft is not None:
        draft.extra[len(path) - 1] = {"reason": None}
    return draft


def _plant_same_officer(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    path = _happy(sim, service, rng)
    pairs = []
    for first, second in service.separate:
        if first in path and second in path:
            a, b = sorted((path.index(first), path.index(second)))
            earlier = service.step(path[a])
            if earlier is not None and earlier.roles:
                pairs.append((a, b))
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    draft = sim.draft(service, n, at, rng, path)
    if draft is None:
        return None
    earlier_officer, later = draft.officers[a], service.step(path[b])
    assert earlier_officer is not None
    assert later is not None
    # The same person, signing the later step in a role that step allows (or none is needed).
    role = earlier_officer.role
    if later.roles and role not in later.roles:
        role = sorted(later.roles)[0]
    draft.officers[b] = Officer(earlier_officer.id, role)
    return draft


@_on_happy_draft
def _plant_role_not_allowed(sim: Simulation, draft: Draft, rng: random.Random) -> Draft | None:
    service = draft.service
    path = draft.path
    indexes = [i for i, s in enumerate(_steps(service, path)) if s.roles]
    index = rng.choice(indexes)
    step = service.step(path[index])
    assert step is not None
    outsiders = [
        o
        for (agency, role), pool in sim.officers.items()
        if agency == service.agency and role not in step.roles
        for o in pool
    ]
    used = {o.id for o in draft.officers if o is not None}
    outsiders = [o for o in outsiders if o.id not in used]
    if outsiders and (sim.complete_events or rng.random() < 0.7):
        draft.officers[index] = rng.choice(outsiders)
    else:
        draft.officers[index] = None  # nobody signed the step
    return draft


@_on_happy_draft
def _plant_fee_mismatch(sim: Simulation, draft: Draft, rng: random.Random) -> Draft | None:
    """A charge on a free service; where the service assesses its fee, a levy on top of the
    case's assessment (within the tariff where it fits) or an assessment off the tariff;
    elsewhere a payment off the tariff."""
    service = draft.service
    path = draft.path
    steps = _steps(service, path)
    fee = service.fee
    if fee.is_free:
        index = rng.choice([i for i, s in enumerate(steps) if not s.start])
        amount = Decimal(rng.choice((25000, 50000, 100000)))  # an unofficial charge
        draft.extra[index] = {"payment": paid(service, format(amount, "f"), rng)}
        return draft
    paying = next(i for i, s in enumerate(steps) if s.payment)
    assessing = any(s.assessment for s in steps[:paying])
    if assessing and rng.random() < 0.5:
        # The assessment itself off the tariff; the applicant pays what was assessed.
        draft.fee = format(_off_tariff(service, rng), "f")
        return draft
    if assessing:
        assessed = Decimal(tariff_amount(service, rng))
        levy = Decimal(rng.choice((150000, 250000, 500000)))
        amount = assessed + levy if assessed + levy <= fee.max else assessed - levy
        if amount <= 0:
            amount = assessed + levy
        draft.fee = format(assessed, "f")
    else:
        amount = _off_tariff(service, rng)
    draft.extra[paying] = {"payment": paid(service, format(amount, "f"), rng)}
    return draft


def _paying_step(service: Service, path: list[str]) -> int:
    """The index of the first payment step of `path`."""
    return next(i for i, s in enumerate(_steps(service, path)) if s.payment)


def _fee_payment(draft: Draft, rng: random.Random, *, receipt: bool = True) -> dict[str, Any]:
    """The payment of the case's fee: the assessed one, else an amount of the tariff (which
    becomes the case's fee)."""
    draft.fee = draft.fee or tariff_amount(draft.service, rng)
    return paid(draft.service, draft.fee, rng, receipt=receipt)


def _off_tariff(service: Service, rng: random.Random) -> Decimal:
    """An amount the tariff of a service that charges does not allow."""
    fee = service.fee
    if fee.min > 0 and rng.random() < 0.5:
        return (fee.min / 2).quantize(Decimal(1000))
    return fee.max + Decimal(rng.choice((50000, 100000, 250000)))


def _payment_index(service: Service, path: list[str]) -> int | None:
    """The payment of a path that pays an assessed fee: a payment step after an assessing one."""
    steps = _steps(service, path)
    for index, step in enumerate(steps):
        if step.payment:
            return index if any(s.assessment for s in steps[:index]) else None
    return None


def _plant_paid_twice(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    """The assessed fee paid, then paid again (a second payment step right after the first,
    with a receipt of its own)."""
    path = _happy(sim, service, rng)
    index = _payment_index(service, path)
    if index is None:
        return None
    path = [*path[: index + 1], path[index], *path[index + 1 :]]
    return sim.draft(service, n, at, rng, path)


def _plant_paid_before_assessment(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    """Money taken at a step before the fee was assessed (at the submission or the check of the
    file), of an amount within the tariff; the assessed fee is paid later as well."""
    path = _happy(sim, service, rng)
    steps = _steps(service, path)
    first = next((i for i, s in enumerate(steps) if s.assessment), None)
    if first is None or _payment_index(service, path) is None:
        return None
    draft = sim.draft(service, n, at, rng, path)
    if draft is None:
        return None
    early = rng.randrange(first)
    draft.extra[early] = {"payment": paid(service, tariff_amount(service, rng), rng)}
    return draft


@_on_happy_draft
def _plant_no_receipt(sim: Simulation, draft: Draft, rng: random.Random) -> Draft | None:
    """The fee paid without an official receipt number."""
    service = draft.service
    index = _paying_step(service, draft.path)
    draft.extra[index] = {"payment": _fee_payment(draft, rng, receipt=False)}
    return draft


@_on_happy_draft
def _plant_cash_to_officer(sim: Simulation, draft: Draft, rng: random.Random) -> Draft | None:
    """The fee handed in cash to an officer, on a service paid only through the bank or online:
    the right amount with a receipt, so the channel alone is wrong."""
    service = draft.service
    index = _paying_step(service, draft.path)
    used = {o.id for o in draft.officers if o is not None}
    pool = [
        o
        for (agency, _role), officers in sorted(sim.officers.items())
        if agency == service.agency
        for o in officers
        if o.id not in used
    ]
    if not pool:
        return None
    draft.officers[index] = rng.choice(pool)
    draft.extra[index] = {"payment": _fee_payment(draft, rng) | {"channel": "cash"}}
    return draft


@_on_happy_draft
def _plant_backdated(sim: Simulation, draft: Draft, rng: random.Random) -> Draft | None:
    service = draft.service
    path = draft.path
    last = len(path) - 1
    delay = timedelta(hours=rng.randint(50, 80))  # the record entered days after the fact
    if service.sla is not None:
        due = draft.calendar.deadline(draft.times[0], service.sla)
        if due is None or draft.times[last] + delay + timedelta(days=1) > due:
            return None  # the case clock would run out while the record is missing
    draft.sent_delay[last] = delay
    draft.live.add(last)
    return draft


def _plant_future(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    path = _happy(sim, service, rng)
    ahead = timedelta(minutes=rng.randint(60, 180))
    if sim.regime == "backfill":
        path = path[:1]  # one anchored event: the rest of the case would precede it
    draft = sim.draft(service, n, at + ahead, rng, path)
    if draft is None:
        return None
    draft.sent_delay[0] = -ahead
    draft.live.add(0)
    draft.anchored = sim.regime == "backfill"
    return draft


def _plant_out_of_order(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    for _try in range(8):
        path = walk(service, rng, happy=True)
        options = _out_of_order_indexes(service, path)
        if options:
            break
    else:
        return None
    draft = sim.draft(service, n, at, rng, path)
    if draft is None:
        return None
    index = rng.choice(options)
    earlier = draft.times[index - 1] - timedelta(minutes=rng.randint(5, 40))
    draft.times[index] = earlier  # a workstation with a wrong clock
    draft.follows.add(index)
    return draft


def _out_of_order_indexes(service: Service, path: list[str]) -> list[int]:
    """Steps that could be left out without breaking the flow, so applying them is harmless."""
    found = []
    for index in range(1, len(path) - 1):
        step = service.step(path[index])
        assert step is not None
        if (
            path[index] not in service.mandatory
            and step.clock is None
            and step.sla is None
            and path[index + 1] in service.allowed_after(path[index - 1])
        ):
            found.append(index)
    return found


@_on_happy_draft
def _plant_conflicting_duplicate(sim: Simulation, draft: Draft, rng: random.Random) -> Draft | None:
    path = draft.path
    index = rng.randrange(1, len(path))
    draft.duplicates.append((index, {"attributes": {"corrected": True}}))
    return draft


def _any(check: Callable[[Service, list[str]], bool]) -> Callable[[Simulation, Service], bool]:
    def applies(sim: Simulation, service: Service) -> bool:
        rng = random.Random(f"applies:{service.agency}:{service.code}")
        return any(check(service, walk(service, rng, happy=True)) for _ in range(6))

    return applies


def _has_payment_or_free(service: Service, path: list[str]) -> bool:
    return service.fee.is_free or any(s.payment for s in _steps(service, path))


def _long_sla(service: Service, path: list[str]) -> bool:
    return service.sla is None or (
        service.sla.unit is DurationUnit.WORKING_DAYS and service.sla.amount >= 10
    )


def _first_wait_is_long(service: Service, path: list[str]) -> bool:
    first = service.allowed_after(path[0])
    return _long_sla(service, path) and all(
        (s := service.step(o)) is not None
        and (s.sla is None or s.sla.unit is DurationUnit.WORKING_DAYS)
        for o in first
    )


# --- planting cross-case anomalies ----------------------------------------------------------


def _happy_through(service: Service, rng: random.Random, second: str) -> list[str] | None:
    """A successful path whose second step is `second`."""
    for _try in range(8):
        path = walk(service, rng, happy=True)
        if len(path) > 2 and path[1] == second:
            return path
    return None


def _first_staff_step(service: Service) -> Step | None:
    """The staff step every successful case does right after its submission, if one is."""
    rng = random.Random(f"first:{service.agency}:{service.code}")
    seconds = {tuple(walk(service, rng, happy=True)[:2]) for _ in range(6)}
    for _start, second in sorted(seconds):
        step = service.step(second)
        if step is not None and step.roles and is_staff(service, step, False):
            return step
    return None


def _working_start(calendar: WorkingCalendar, at: datetime, rng: random.Random) -> datetime:
    """A working instant at or soon after `at`."""
    if calendar.is_working_time(at) and calendar.is_working_time(at + timedelta(hours=2)):
        return ceil_second(at)
    return ceil_second(calendar.next_opening(at) + timedelta(minutes=rng.randint(15, 90)))


def _plant_queue_jump(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Group | None:
    """Cases submitted together wait; one submitted `min_wait` later is done first, after a
    short wait, and they follow minutes later, so no honest case could overtake them."""
    rule = service.oversight.queue_jump
    step = _first_staff_step(service)
    if step is None:
        return None
    calendar = sim.calendar_of(service)
    least = minimum(service, step)
    begin = _working_start(calendar, at, rng)
    submitted = [
        begin + timedelta(minutes=2 * k + rng.randint(0, 1)) for k in range(rule.min_positions)
    ]
    dues = [calendar.deadline(s, rule.min_wait) for s in submitted]
    if any(due is None for due in dues):
        return None
    ripe = [due for due in dues if due is not None]
    since = ceil_second(max(ripe) + timedelta(minutes=rng.randint(1, 3)))
    done = advance(calendar, since, least * rng.uniform(0.75, 0.85), True, rng)
    # Every honest case that could overtake them waits at least `least` from `min(ripe)`.
    safe_until = advance(calendar, min(ripe), least, True, rng)
    leaves = [done + timedelta(minutes=4 * (k + 1)) for k in range(rule.min_positions)]
    if leaves[-1] > safe_until - timedelta(minutes=5):
        return None
    drafts = []
    for k, (arrival, leave) in enumerate(zip(submitted, leaves, strict=True)):
        path = _happy_through(service, rng, step.code)
        if path is None:
            return None
        draft = sim.draft(service, n + k, arrival, rng, path, special={1: ("at", leave)})
        if draft is None:
            return None
        drafts.append(draft)
    path = _happy_through(service, rng, step.code)
    if path is None:
        return None
    jumper = sim.draft(service, n + rule.min_positions, since, rng, path, special={1: ("at", done)})
    if jumper is None:
        return None
    return Group([*drafts, jumper], len(drafts))


def _plant_too_fast(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    """One step done in a fraction of the least honest time, once it has enough peers."""
    rule = service.oversight.speed_too_fast
    path = _happy(sim, service, rng)
    options = []
    for index in range(1, len(path)):
        step = service.step(path[index])
        assert step is not None
        peers = sim.crowd.peers_by((service.agency, service.code, f"step:{step.code}"))
        if (
            is_measured(service, step)
            and unit_of(service, step).is_working_time
            and peers >= rule.min_samples + 10
        ):
            options.append(index)
    if not options:
        return None
    index = rng.choice(options)
    return sim.draft(service, n, at, rng, path, special={index: ("fast", rng.uniform(0.05, 0.25))})


def _plant_officer_burst(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Group | None:
    """One officer clears `max_steps + 1` files of a step within the window; the last one
    completed makes the burst."""
    rule = service.oversight.officer_burst
    step = _first_staff_step(service)
    if step is None:
        return None
    calendar = sim.calendar_of(service)
    window = rule.window.as_timedelta()
    gap = window * 0.8 / rule.max_steps
    span = gap * rule.max_steps
    least = minimum(service, step)
    start = advance(calendar, _working_start(calendar, at, rng), least * 4, True, rng)
    for _try in range(3):
        if calendar.is_working_time(start) and calendar.is_working_time(start + span):
            break
        start = ceil_second(
            calendar.next_opening(start + timedelta(hours=12)) + timedelta(minutes=30)
        )
    else:
        return None
    role = sorted(step.roles)[0]
    kinds = [
        (o, (service.agency, o.id, f"{service.code}/{step.code}"))
        for o in sim.officers[(service.agency, role)]
    ]
    free = [
        o
        for o, kind in kinds
        if not sim.crowd.officer_load(kind, start - window, start + span + window)
    ]
    if not free:
        return None
    officer = rng.choice(free)
    drafts = []
    for k in range(rule.max_steps + 1):
        done = ceil_second(start + gap * k)
        for _attempt in range(6):
            arrival = ceil_second(at + (done - at) * rng.uniform(0.0, 0.8))
            waited = calendar.elapsed(arrival, done, DurationUnit.WORKING_HOURS)
            if least * 1.05 <= waited <= least * (1 + SPREAD):
                break
        else:
            return None
        path = _happy_through(service, rng, step.code)
        if path is None:
            return None
        draft = sim.draft(
            service, n + k, arrival, rng, path, special={1: ("at", done)}, preset={1: officer}
        )
        if draft is None:
            return None
        draft.exempt.add(1)
        drafts.append(draft)
    return Group(drafts, len(drafts) - 1)


def _plant_broker(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Group | None:
    """A representative files for `max_applicants + 1` applicants within days; the last filing
    crosses the limit."""
    rule = service.oversight.applicant_broker
    ref = pseudonym(rng)
    calendar = sim.calendar_of(service)
    drafts = []
    moment = at
    for k in range(rule.max_applicants + 1):
        if k:
            moment = _working_start(calendar, moment + timedelta(hours=rng.uniform(2, 8)), rng)
        draft = sim.draft(
            service, n + k, moment, rng, _happy(sim, service, rng), representative=ref
        )
        if draft is None:
            return None
        drafts.append(draft)
    return Group(drafts, len(drafts) - 1)


def _plant_clock_reset(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    """The clock stopped once more than `max_stops` allow, each time for a stated reason."""
    rule = service.oversight.clock_reset
    path = _happy(sim, service, rng)
    cycle = _stop_cycle(service, path)
    if cycle is None:
        return None
    index, loop = cycle
    path = path[: index + 1] + loop * (rule.max_stops + 1) + path[index + 1 :]
    return sim.draft(service, n, at, rng, path)


def _stop_cycle(service: Service, path: list[str]) -> tuple[int, list[str]] | None:
    """A clock stop after `path[index]` whose resume leads back to it: (index, the loop)."""
    for index in range(1, len(path) - 1):
        for stop in sorted(service.allowed_after(path[index])):
            stopping = service.step(stop)
            if stopping is None or stopping.clock != "stop":
                continue
            for resume in sorted(service.allowed_after(stop)):
                resuming = service.step(resume)
                if (
                    resuming is not None
                    and resuming.clock == "resume"
                    and path[index] in service.allowed_after(resume)
                ):
                    return index, [stop, resume, path[index]]
    return None


def _plant_off_hours(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    """A staff step done in the evening of the day it would have been done."""
    path = _happy(sim, service, rng)
    options = []
    for index in range(1, len(path)):
        step = service.step(path[index])
        assert step is not None
        if step.roles and is_staff(service, step, False):
            options.append(index)
    if not options:
        return None
    return sim.draft(service, n, at, rng, path, special={rng.choice(options): ("off_hours",)})


def _queue_fits(sim: Simulation, service: Service) -> bool:
    """Queue-jumping can be planted where cases can wait `min_wait` at the first staff step and
    still meet its standard."""
    rule = service.oversight.queue_jump
    step = _first_staff_step(service)
    if not rule.enabled or step is None or step.sla is None:
        return False
    if rule.steps is not None and step.code not in rule.steps:
        return False
    calendar = sim.calendar_of(service)
    begin = calendar.next_opening(sim.start) + timedelta(hours=1)
    waited = calendar.deadline(begin, rule.min_wait)
    due = calendar.deadline(begin, step.sla)
    least = minimum(service, step)
    return (
        waited is not None
        and due is not None
        and advance(calendar, waited, least * 2, True, random.Random(0)) < due
        and least >= timedelta(hours=1)
    )


def _burst_fits(sim: Simulation, service: Service) -> bool:
    """A burst can be planted where it is a handful of cases, a few minutes apart (so that the
    order they are received in is certain)."""
    rule = service.oversight.officer_burst
    step = _first_staff_step(service)
    return (
        step is not None
        and counts_for_burst(service, step)
        and rule.max_steps <= 10
        and rule.window.as_timedelta() * 0.8 / rule.max_steps >= 3 * LIVE_LATENCY_MAX
    )


def _broker_fits(sim: Simulation, service: Service) -> bool:
    rule = service.oversight.applicant_broker
    return rule.enabled and rule.max_applicants <= 8


def _speed_fits(sim: Simulation, service: Service) -> bool:
    rng = random.Random(f"speed:{service.agency}:{service.code}")
    path = walk(service, rng, happy=True)
    return any(
        (s := service.step(code)) is not None
        and is_measured(service, s)
        and unit_of(service, s).is_working_time
        for code in path[1:]
    )


def _clock_fits(sim: Simulation, service: Service) -> bool:
    rng = random.Random(f"clock:{service.agency}:{service.code}")
    return service.oversight.clock_reset.enabled and any(
        _stop_cycle(service, walk(service, rng, happy=True)) is not None for _ in range(4)
    )


def _off_hours_fits(sim: Simulation, service: Service) -> bool:
    return service.oversight.off_hours.enabled and any(
        step.roles and is_staff(service, step, False) for step in service.steps
    )


def _late_planter(
    find: Callable[[Service, list[str]], int | None], limit: str
) -> Callable[[Simulation, Service, int, datetime, random.Random], Draft | None]:
    """Plants a happy path whose step at `find` comes late, past the `limit` the plan names
    ("step", "case" or "near": the warning before a deemed approval)."""

    def plant(
        sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
    ) -> Draft | None:
        path = _happy(sim, service, rng)
        index = find(service, path)
        return None if index is None else sim.draft(service, n, at, rng, path, late=(index, limit))

    return plant


_plant_step_overdue = _late_planter(_late_step_index, "step")
_plant_case_overdue = _late_planter(_slow_step_index, "case")
_plant_deemed_near = _late_planter(_unqueued_slow_index, "near")
_plant_deemed_approved = _late_planter(_unqueued_slow_index, "case")


# Which services allow a plant, where two rules are planted in the same kind of case.
_deemed_delay_fits = _any(
    lambda s, p: _unqueued_slow_index(s, p) is not None and s.deemed_approval is not None
)
_rejection_fits = _any(lambda s, p: any(st.is_rejection for st in s.steps))
_assessed_payment_fits = _any(lambda s, p: _payment_index(s, p) is not None)


_PLANTERS: dict[str, Planter] = {
    Rule.SLA_STEP_OVERDUE: Planter(
        _any(lambda s, p: _late_step_index(s, p) is not None and s.sla is not None),
        _plant_step_overdue,
    ),
    Rule.SLA_CASE_OVERDUE: Planter(
        _any(
            lambda s, p: (
                _slow_step_index(s, p) is not None
                and s.sla is not None
                and s.deemed_approval is None
            )
        ),
        _plant_case_overdue,
    ),
    Rule.SLA_DEEMED_APPROVAL_NEAR: Planter(
        _deemed_delay_fits,
        _plant_deemed_near,
    ),
    Rule.SLA_DEEMED_APPROVED: Planter(
        _deemed_delay_fits,
        _plant_deemed_approved,
        companions=frozenset({Rule.SLA_CASE_OVERDUE, Rule.SLA_DEEMED_APPROVAL_NEAR}),
    ),
    Rule.PROCESS_AFTER_DEEMED_APPROVAL: Planter(
        _any(lambda s, p: s.deemed_approval is not None and _deemed_rejection_fits(s, p)),
        _plant_after_deemed,
        companions=frozenset(
            {Rule.SLA_CASE_OVERDUE, Rule.SLA_DEEMED_APPROVAL_NEAR, Rule.SLA_DEEMED_APPROVED}
        ),
    ),
    Rule.PROCESS_INVALID_TRANSITION: Planter(
        _any(
            lambda s, p: any(
                p[i + 1] not in s.allowed_after(p[i - 1]) for i in _removable(s, p, mandatory=False)
            )
        ),
        _plant_invalid_transition,
    ),
    Rule.PROCESS_SKIPPED_STEP: Planter(
        _any(lambda s, p: bool(_removable(s, p, mandatory=True))),
        _plant_skipped_step,
        companions=frozenset({Rule.PROCESS_INVALID_TRANSITION}),
    ),
    Rule.PROCESS_AFTER_TERMINAL: Planter(_rejection_fits, _plant_after_terminal),
    Rule.PROCESS_UNKNOWN_CASE: Planter(_any(lambda s, p: len(p) > 2), _plant_unknown_case),
    Rule.PROCESS_REASON_MISSING: Planter(_rejection_fits, _plant_reason_missing),
    Rule.DUTY_SAME_OFFICER: Planter(
        _any(
            lambda s, p: any(
                a in p and b in p and (st := s.step(a)) is not None and bool(st.roles)
                for a, b in s.separate
            )
        ),
        _plant_same_officer,
    ),
    Rule.DUTY_ROLE_NOT_ALLOWED: Planter(
        _any(lambda s, p: any(st.roles for st in _steps(s, p))), _plant_role_not_allowed
    ),
    Rule.FEE_MISMATCH: Planter(_any(_has_payment_or_free), _plant_fee_mismatch),
    Rule.FEE_PAID_TWICE: Planter(
        _assessed_payment_fits,
        _plant_paid_twice,
        # The catalogs let a case pay once: a second payment step is also out of the flow.
        companions=frozenset({Rule.PROCESS_INVALID_TRANSITION}),
    ),
    Rule.FEE_PAID_BEFORE_ASSESSMENT: Planter(_assessed_payment_fits, _plant_paid_before_assessment),
    Rule.FEE_NO_RECEIPT: Planter(
        _any(lambda s, p: s.describes_payment and any(st.payment for st in _steps(s, p))),
        _plant_no_receipt,
    ),
    Rule.FEE_CASH_TO_OFFICER: Planter(
        _any(
            lambda s, p: (
                s.payment_channels is not None
                and "cash" not in s.payment_channels
                and any(st.payment for st in _steps(s, p))
            )
        ),
        _plant_cash_to_officer,
    ),
    Rule.TIME_BACKDATED: Planter(_any(_long_sla), _plant_backdated),
    Rule.TIME_FUTURE: Planter(_any(_first_wait_is_long), _plant_future),
    Rule.TIME_OUT_OF_ORDER: Planter(
        _any(lambda s, p: bool(_out_of_order_indexes(s, p))), _plant_out_of_order
    ),
    Rule.INTEGRITY_CONFLICTING_DUPLICATE: Planter(
        _any(lambda s, p: len(p) > 1), _plant_conflicting_duplicate
    ),
    Rule.QUEUE_JUMP: Planter(_queue_fits, _plant_queue_jump),
    Rule.SPEED_TOO_FAST: Planter(_speed_fits, _plant_too_fast),
    Rule.OFFICER_BURST: Planter(_burst_fits, _plant_officer_burst),
    Rule.APPLICANT_BROKER: Planter(_broker_fits, _plant_broker),
    Rule.SLA_CLOCK_RESET_ABUSE: Planter(_clock_fits, _plant_clock_reset),
    Rule.TIME_OFF_HOURS: Planter(_off_hours_fits, _plant_off_hours),
}

PLANTERS: Mapping[str, Planter] = MappingProxyType(_PLANTERS)
"""How each rule of the rule table is planted; `Simulation(planters=...)` takes others."""
