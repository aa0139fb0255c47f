"""The case simulator's pure core: realistic case traffic with planted anomalies and ground truth.

`Simulation(catalog, seed=..., start=...)` yields `Emission`s in the order a source would send
them: each carries the event, the simulated instant it is sent, and on a case's first emission
the ground truth of that case. Everything follows from the seed and the start instant (never the
clock): cases arrive by the hour of the working day, walk the service's allowed transitions
(clarifications that stop the clock, rejections, withdrawals), are done by officers holding the
step's role with uneven workloads, pay within the tariff, and finish inside every deadline.

A share of the cases (`anomaly_rate`) gets one planted anomaly, cycling through the contract's
14 rules. Each planted case is checked with `reference.rules_raised`; the truth lists exactly what
that reading says the case raises (usually the planted rule alone), and a clean case raises none.

Two regimes. `live`: every event in `live` mode, sent when it happens (the adapter sends in real
time). `backfill`: a history sent in one burst long after it happened, so events are in
`backfill` mode, except the planted `time.*` events; a planted `time.future` case is then one
event whose `occurred_at` is *anchored*: the adapter sets it relative to the real send time.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pantau.core.alerts import Rule
from pantau.core.catalog import Catalog, Service, Step
from pantau.core.durations import Duration, DurationUnit
from pantau.core.events import Event
from pantau.core.working_time import ClockStop, WorkingCalendar
from pantau.traffic.reference import Delivery, rules_raised

Regime = Literal["live", "backfill"]

# The contract's rule table (section 5): what the simulator plants and the evaluation scores.
CONTRACT_RULES: tuple[str, ...] = (
    Rule.SLA_STEP_OVERDUE,
    Rule.SLA_CASE_OVERDUE,
    Rule.PROCESS_INVALID_TRANSITION,
    Rule.PROCESS_SKIPPED_STEP,
    Rule.PROCESS_AFTER_TERMINAL,
    Rule.PROCESS_UNKNOWN_CASE,
    Rule.PROCESS_REASON_MISSING,
    Rule.DUTY_SAME_OFFICER,
    Rule.DUTY_ROLE_NOT_ALLOWED,
    Rule.FEE_MISMATCH,
    Rule.TIME_BACKDATED,
    Rule.TIME_FUTURE,
    Rule.TIME_OUT_OF_ORDER,
    Rule.INTEGRITY_CONFLICTING_DUPLICATE,
)

REJECTION_REASONS = (
    "berkas persyaratan tidak lengkap",
    "persyaratan teknis tidak terpenuhi",
    "lokasi tidak sesuai rencana tata ruang",
    "dokumen kependudukan tidak sah",
)
STOP_REASONS = (
    "mohon lengkapi gambar teknis",
    "menunggu surat keterangan dari kelurahan",
    "blangko sedang kosong",
    "data pemohon perlu diperbaiki",
)
CHANNELS = ("online", "counter", "mobile")
SERVICE_WEIGHTS = {"ktp-el": 5.0, "akta-kelahiran": 3.0, "nib": 3.0, "pbg": 1.5}
MARGIN = timedelta(minutes=30)


@dataclass(frozen=True)
class CaseTruth:
    """What one simulated case should raise: `rules` (empty for a clean case), `planted` rule."""

    agency: str
    service: str
    case_id: str
    rules: tuple[str, ...]
    planted: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The ground-truth line of this case."""
        return {
            "agency": self.agency,
            "service": self.service,
            "case_id": self.case_id,
            "rules": list(self.rules),
            "planted": self.planted,
        }


@dataclass(frozen=True)
class Emission:
    """An event as the source sends it, at simulated instant `sent_at`.

    `anchored`: `occurred_at - sent_at` is what matters, so an adapter that sends at another
    real time moves `occurred_at` by as much. `truth` is set on the first emission of a case.
    """

    sent_at: datetime
    event: Event
    anchored: bool = False
    truth: CaseTruth | None = None


@dataclass(frozen=True)
class Officer:
    """A simulated civil servant: an 18-digit NIP-like id and the role they hold."""

    id: str
    role: str


@dataclass
class _Draft:
    """A case being planned: its steps, times, officers, and per-event adjustments."""

    service: Service
    calendar: WorkingCalendar
    case_id: str
    path: list[str]
    times: list[datetime] = field(default_factory=list)
    officers: list[Officer | None] = field(default_factory=list)
    sent_delay: dict[int, timedelta] = field(default_factory=dict)
    live: set[int] = field(default_factory=set)
    extra: dict[int, dict[str, Any]] = field(default_factory=dict)
    duplicates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (index, changes)
    follows: set[int] = field(default_factory=set)  # sent together with the event before it
    anchored: bool = False


class Simulation:
    """Deterministic case traffic for the catalog's agencies and services."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        seed: int,
        start: datetime,
        regime: Regime = "backfill",
        cases: int | None = None,
        anomaly_rate: float = 0.1,
        cases_per_day: float = 300.0,
        duplicate_rate: float = 0.02,
        rules: Sequence[str] = CONTRACT_RULES,
        complete_events: bool = False,
    ) -> None:
        if start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if not catalog.services:
            raise ValueError("the catalog has no services to simulate")
        self.catalog = catalog
        self.seed = seed
        self.start = start
        self.regime: Regime = regime
        self.cases = cases
        self.anomaly_rate = anomaly_rate
        self.cases_per_day = cases_per_day
        self.duplicate_rate = duplicate_rate
        # The HTTP intake refuses an event without the reason or officer its step requires
        # (contract section 2); traffic meant for it plants those anomalies otherwise or not at
        # all, as only backends publishing straight to Kafka can send such events.
        self.complete_events = complete_events
        if complete_events:
            rules = [rule for rule in rules if rule != Rule.PROCESS_REASON_MISSING]
        self.tag = f"S{seed}-{start.astimezone(UTC):%y%m%d%H%M}"
        self.calendars = {
            code: WorkingCalendar(spec)
            for code, spec in catalog.calendars.items()
            if any(agency.calendar == code for agency in catalog.agencies.values())
        }
        self.services = list(catalog.services.values())
        self.service_weights = [SERVICE_WEIGHTS.get(s.code, 1.0) for s in self.services]
        self.officers = _officer_pools(catalog, random.Random(f"{seed}:officers"))
        self.planters = {
            str(rule): planter
            for rule, planter in _PLANTERS.items()
            if rule in rules and any(planter.applies(self, s) for s in self.services)
        }
        first_agency = next(iter(catalog.agencies.values()))
        self.arrival_calendar = self.calendars[first_agency.calendar]

    @property
    def plantable(self) -> tuple[str, ...]:
        """The rules this catalog lets the simulation plant."""
        return tuple(self.planters)

    def __iter__(self) -> Iterator[Emission]:
        arrivals = random.Random(f"{self.seed}:arrivals")
        pending: list[tuple[datetime, int, Emission]] = []
        order = 0
        arrival = self.start
        number = 0
        while True:
            upcoming: datetime | None = None
            if self.cases is None or number < self.cases:
                upcoming = self._next_arrival(arrival, arrivals)
            while pending and (upcoming is None or pending[0][0] <= upcoming):
                yield heapq.heappop(pending)[2]
            if upcoming is None:
                return
            arrival = upcoming
            for emission in self._case(number, arrival):
                heapq.heappush(pending, (emission.sent_at, order, emission))
                order += 1
            number += 1

    # --- arrivals -------------------------------------------------------------------------

    def _intensity(self, at: datetime) -> float:
        """Relative arrival intensity: busiest mid-morning in office hours, a trickle otherwise."""
        calendar = self.arrival_calendar
        local = at.astimezone(calendar.tz)
        if calendar.is_working_day(local.date()) and 8 <= local.hour < 15:
            return 1.4 if 9 <= local.hour < 11 else 1.0
        return 0.08

    def _next_arrival(self, after: datetime, rng: random.Random) -> datetime:
        peak_per_hour = self.cases_per_day / 7.0 * 1.4
        at = after
        while True:  # thinning of a non-homogeneous Poisson process
            at += timedelta(hours=rng.expovariate(peak_per_hour))
            if rng.random() * 1.4 <= self._intensity(at):
                return at.replace(microsecond=0)

    # --- one case -------------------------------------------------------------------------

    def _case(self, number: int, arrival: datetime) -> list[Emission]:
        rng = random.Random(f"{self.seed}:case:{number}")
        planted: str | None = None
        if self.planters and rng.random() < self.anomaly_rate:
            rules = list(self.planters)
            planted = rules[(number + self.seed) % len(rules)]
        for _attempt in range(12):
            if planted is None:
                service = rng.choices(self.services, self.service_weights)[0]
                draft = self._draft(service, number, arrival, rng, _walk(service, rng))
                if draft is None:
                    continue
                emissions = self._emit(draft, rng, duplicates=True)
                if not self._raised(draft, emissions):
                    return self._with_truth(emissions, draft, (), None)
            else:
                planter = self.planters[planted]
                services = [s for s in self.services if planter.applies(self, s)]
                service = rng.choice(services)
                draft = planter.plant(self, service, number, arrival, rng)
                if draft is None:
                    continue
                emissions = self._emit(draft, rng, duplicates=False)
                raised = self._raised(draft, emissions)
                if planted in raised and raised <= planter.companions | {planted}:
                    return self._with_truth(
                        emissions, draft, tuple(sorted(map(str, raised))), planted
                    )
        raise RuntimeError(f"could not plan case {number} ({planted or 'clean'}) in 12 attempts")

    def _raised(self, draft: _Draft, emissions: list[Emission]) -> frozenset[str]:
        ordered = sorted(emissions, key=lambda e: e.sent_at)  # stable: ties keep planned order
        return rules_raised(
            draft.service, draft.calendar, (Delivery(e.sent_at, e.event) for e in ordered)
        )

    def _with_truth(
        self, emissions: list[Emission], draft: _Draft, rules: tuple[str, ...], planted: str | None
    ) -> list[Emission]:
        truth = CaseTruth(draft.service.agency, draft.service.code, draft.case_id, rules, planted)
        first = min(range(len(emissions)), key=lambda i: (emissions[i].sent_at, i))
        emissions[first] = replace(emissions[first], truth=truth)
        return emissions

    def _draft(
        self,
        service: Service,
        number: int,
        arrival: datetime,
        rng: random.Random,
        path: list[str],
        *,
        late: tuple[int, str] | None = None,
    ) -> _Draft | None:
        """Times and officers for `path`, inside every deadline unless `late` says otherwise.

        `late = (index, "step")` puts that event past its own step sla; `(index, "case")` past the
        service sla while keeping every step sla.
        """
        agency = self.catalog.agencies[service.agency]
        calendar = self.calendars[agency.calendar]
        case_id = f"{service.code.upper()}-{self.tag}-{number:06d}"
        draft = _Draft(service, calendar, case_id, path)
        times = _timeline(service, calendar, path, arrival, rng, late)
        if times is None:
            return None
        draft.times = times
        draft.officers = self._assign_officers(service, path, rng)
        return draft

    def _assign_officers(
        self, service: Service, path: list[str], rng: random.Random
    ) -> list[Officer | None]:
        done: dict[str, set[str]] = {}
        chosen: list[Officer | None] = []
        for code in path:
            step = service.step(code)
            assert step is not None
            if not step.roles:
                chosen.append(None)
                continue
            barred = set()
            for first, second in service.separate:
                if code in (first, second):
                    barred |= done.get(second if code == first else first, set())
            role = sorted(step.roles)[rng.randrange(len(step.roles))]
            pool = [o for o in self.officers[(service.agency, role)] if o.id not in barred]
            officer = _busy_first(pool, rng)
            chosen.append(officer)
            done.setdefault(code, set()).add(officer.id)
        return chosen

    def _emit(self, draft: _Draft, rng: random.Random, *, duplicates: bool) -> list[Emission]:
        service = draft.service
        applicant = {"ref": "sim:" + "".join(rng.choices("abcdefghjkmnpqrstuvwxyz", k=14))}
        channel = "online" if not draft.calendar.is_working_time(draft.times[0]) else None
        channel = channel or rng.choice(CHANNELS)
        emissions: list[Emission] = []
        for index, code in enumerate(draft.path):
            step = service.step(code)
            assert step is not None
            seq = index + 1
            document: dict[str, Any] = {
                "event_id": f"{service.agency}:{draft.case_id}:{seq}",
                "agency": service.agency,
                "service": service.code,
                "case_id": draft.case_id,
                "step": code,
                "occurred_at": draft.times[index],
                "seq": seq,
                "mode": "live" if self.regime == "live" or index in draft.live else "backfill",
            }
            officer = draft.officers[index] if index < len(draft.officers) else None
            if officer is not None:
                document["officer"] = {"id": officer.id, "role": officer.role}
            if step.start:
                document["applicant"] = applicant
                document["channel"] = channel
            if step.payment:
                document["payment"] = {
                    "amount": _tariff_amount(service, rng),
                    "currency": "IDR",
                    "receipt": f"KW-{rng.randrange(10**6):06d}",
                }
            if step.reason_required:
                reasons = STOP_REASONS if step.clock == "stop" else REJECTION_REASONS
                document["reason"] = rng.choice(reasons)
            document.update(draft.extra.get(index, {}))
            document = {k: v for k, v in document.items() if v is not None}
            event = Event.model_validate(document)
            sent_at = draft.times[index] + draft.sent_delay.get(index, timedelta(0))
            if index in draft.follows:
                sent_at = emissions[-1].sent_at
            elif self.regime == "live" and index not in draft.sent_delay:
                sent_at += timedelta(seconds=rng.randint(1, 90))  # the source's own latency
            emissions.append(Emission(sent_at, event, anchored=draft.anchored))
            if duplicates and rng.random() < self.duplicate_rate:
                emissions.append(Emission(sent_at, event))  # a retry: same content, no alert
        for index, changes in draft.duplicates:
            original = emissions[index]
            changed = original.event.model_copy(update=changes)
            emissions.append(Emission(original.sent_at + timedelta(minutes=2), changed))
        return emissions


# --- paths and times ------------------------------------------------------------------------


def _walk(service: Service, rng: random.Random, *, happy: bool = False) -> list[str]:
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


def _ceil_second(at: datetime) -> datetime:
    return at.replace(microsecond=0) + timedelta(seconds=1 if at.microsecond else 0)


def _timeline(
    service: Service,
    calendar: WorkingCalendar,
    path: list[str],
    arrival: datetime,
    rng: random.Random,
    late: tuple[int, str] | None,
) -> list[datetime] | None:
    """When each step of `path` happens; None when `late` cannot be honoured on this path."""
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
            times.append(_ceil_second(at))
            stops.append(ClockStop(stopped_at or before, times[-1]))
            stopped_at = None
            continue
        case_due = None
        if service.sla is not None:
            case_due = calendar.deadline(times[0], service.sla, stops)
        if late is not None and late[0] == index:
            at = _late(service, calendar, code, before, case_due, stops, rng, late[1])
            if at is None:
                return None
        else:
            # Once a planted delay has spent the case clock, only the step slas still bind.
            running = case_due is not None and case_due > before + 2 * MARGIN
            limits = [case_due] if running else []
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
            if limit is None:
                limit = before + timedelta(days=5)
            at = _within(calendar, before, limit, rng)
        times.append(at)
        if code.clock == "stop":
            stopped_at = at
        elif code.clock is None:
            last_work, last_work_step = at, code.code
    return times


def _at_work(calendar: WorkingCalendar, at: datetime, after: datetime) -> datetime:
    at = max(at, after + timedelta(minutes=1))
    return at if calendar.is_working_time(at) else calendar.next_opening(at)


def _within(
    calendar: WorkingCalendar, before: datetime, limit: datetime, rng: random.Random
) -> datetime:
    """A working instant after `before`, well before `limit` (or a minute after `before`)."""
    window = limit - MARGIN - before
    fraction = rng.uniform(0.03, 0.45)
    for _try in range(6):
        at = _ceil_second(_at_work(calendar, before + window * fraction, before))
        if at <= limit - MARGIN:
            return at
        fraction /= 3
    return _ceil_second(before + timedelta(minutes=1))


def _late(
    service: Service,
    calendar: WorkingCalendar,
    step: Step,
    before: datetime,
    case_due: datetime | None,
    stops: list[ClockStop],
    rng: random.Random,
    kind: str,
) -> datetime | None:
    if kind == "step":
        assert step.sla is not None
        due = calendar.deadline(before, step.sla, stops)
        assert due is not None
        hours = rng.randint(2, 12)
        at = calendar.deadline(due, Duration(hours, DurationUnit.WORKING_HOURS))
        assert at is not None
        at = _ceil_second(at)
        if case_due is not None and at > case_due - timedelta(days=3):
            return None
        return at
    assert case_due is not None
    days = Duration(rng.randint(1, 8), DurationUnit.WORKING_DAYS)
    at = calendar.deadline(case_due, days)
    assert at is not None
    return _ceil_second(at)


def _tariff_amount(service: Service, rng: random.Random) -> str:
    fee = service.fee
    if fee.is_fixed:
        return format(fee.min, "f")
    spread = float(fee.max - fee.min)
    amount = fee.min + Decimal(int(spread * rng.random() ** 3 / 1000) * 1000)
    return format(min(amount, fee.max), "f")


def _busy_first(pool: Sequence[Officer], rng: random.Random) -> Officer:
    """Some officers carry far more of the work than others (Zipf-like weights)."""
    return rng.choices(list(pool), [1.0 / (rank + 1) for rank in range(len(pool))])[0]


def _officer_pools(catalog: Catalog, rng: random.Random) -> dict[tuple[str, str], list[Officer]]:
    pools: dict[tuple[str, str], list[Officer]] = {}
    for service in catalog.services.values():
        for step in service.steps:
            for role in step.roles:
                key = (service.agency, role)
                if key in pools:
                    continue
                pools[key] = [Officer(_nip(rng), role) for _ in range(rng.randint(3, 6))]
    return pools


def _nip(rng: random.Random) -> str:
    """An 18-digit NIP: birth date, appointment month, sex, serial."""
    born = f"{rng.randint(1965, 1998)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    appointed = f"{rng.randint(1990, 2022)}{rng.randint(1, 12):02d}"
    return f"{born}{appointed}{rng.randint(1, 2)}{rng.randint(1, 999):03d}"


# --- planting anomalies ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Planter:
    """How to plant one rule: which services allow it, and how to build the case."""

    applies: Callable[[Simulation, Service], bool]
    plant: Callable[[Simulation, Service, int, datetime, random.Random], _Draft | None]
    companions: frozenset[str] = frozenset()  # rules the planted case cannot avoid raising


def _happy(sim: Simulation, service: Service, rng: random.Random) -> list[str]:
    return _walk(service, rng, happy=True)


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


def _slow_step_index(service: Service, path: list[str]) -> int | None:
    """A step without sla whose predecessor leaves no sla pending: only the case clock runs."""
    for index in range(1, len(path)):
        pending = service.allowed_after(path[index - 1]) | {path[index]}
        if all((s := service.step(o)) is not None and s.sla is None for o in pending):
            return index
    return None


def _plant_step_overdue(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
    path = _happy(sim, service, rng)
    index = _late_step_index(service, path)
    return None if index is None else sim._draft(service, n, at, rng, path, late=(index, "step"))


def _plant_case_overdue(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
    path = _happy(sim, service, rng)
    index = _slow_step_index(service, path)
    return None if index is None else sim._draft(service, n, at, rng, path, late=(index, "case"))


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
) -> _Draft | None:
    path = _happy(sim, service, rng)
    options = [
        i
        for i in _removable(service, path, mandatory=False)
        if path[i + 1] not in service.allowed_after(path[i - 1])
    ]
    if not options:
        return None
    del path[rng.choice(options)]
    return sim._draft(service, n, at, rng, path)


def _plant_skipped_step(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
    path = _happy(sim, service, rng)
    options = _removable(service, path, mandatory=True)
    if not options:
        return None
    del path[rng.choice(options)]
    return sim._draft(service, n, at, rng, path)


def _plant_after_terminal(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
    path = _happy(sim, service, rng)
    rejections = [s.code for s in service.steps if s.is_rejection]
    path.append(rng.choice(rejections) if rejections else path[-1])
    draft = sim._draft(service, n, at, rng, path[:-1])
    if draft is None:
        return None
    last = service.step(path[-1])
    assert last is not None
    draft.path = path
    later = draft.calendar.deadline(draft.times[-1], Duration(1, DurationUnit.WORKING_DAYS))
    assert later is not None
    draft.times.append(_ceil_second(later))
    draft.officers.append(
        _busy_first(sim.officers[(service.agency, sorted(last.roles)[0])], rng)
        if last.roles
        else None
    )
    return draft


def _plant_unknown_case(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
    draft = sim._draft(service, n, at, rng, _happy(sim, service, rng))
    if draft is None:
        return None
    draft.path, draft.times, draft.officers = draft.path[1:], draft.times[1:], draft.officers[1:]
    return draft


def _plant_reason_missing(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
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
    draft = sim._draft(service, n, at, rng, path)
    if draft is not None:
        draft.extra[len(path) - 1] = {"reason": None}
    return draft


def _plant_same_officer(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
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
    draft = sim._draft(service, n, at, rng, path)
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


def _plant_role_not_allowed(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
    path = _happy(sim, service, rng)
    draft = sim._draft(service, n, at, rng, path)
    if draft is None:
        return None
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


def _plant_fee_mismatch(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
    path = _happy(sim, service, rng)
    draft = sim._draft(service, n, at, rng, path)
    if draft is None:
        return None
    steps = _steps(service, path)
    fee = service.fee
    if fee.is_free:
        index = rng.choice([i for i, s in enumerate(steps) if not s.start])
        amount = Decimal(rng.choice((25000, 50000, 100000)))  # an unofficial charge
    else:
        index = next(i for i, s in enumerate(steps) if s.payment)
        if fee.min > 0 and rng.random() < 0.5:
            amount = (fee.min / 2).quantize(Decimal(1000))
        else:
            amount = fee.max + Decimal(rng.choice((50000, 100000, 250000)))
    draft.extra[index] = {
        "payment": {"amount": format(amount, "f"), "currency": "IDR", "receipt": f"KW-{n:06d}"}
    }
    return draft


def _plant_backdated(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
    path = _happy(sim, service, rng)
    draft = sim._draft(service, n, at, rng, path)
    if draft is None:
        return None
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
) -> _Draft | None:
    path = _happy(sim, service, rng)
    ahead = timedelta(minutes=rng.randint(60, 180))
    if sim.regime == "backfill":
        path = path[:1]  # one anchored event: the rest of the case would precede it
    draft = sim._draft(service, n, at + ahead, rng, path)
    if draft is None:
        return None
    draft.sent_delay[0] = -ahead
    draft.live.add(0)
    draft.anchored = sim.regime == "backfill"
    return draft


def _plant_out_of_order(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
    for _try in range(8):
        path = _walk(service, rng, happy=True)
        options = _out_of_order_indexes(service, path)
        if options:
            break
    else:
        return None
    draft = sim._draft(service, n, at, rng, path)
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


def _plant_conflicting_duplicate(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Draft | None:
    path = _happy(sim, service, rng)
    draft = sim._draft(service, n, at, rng, path)
    if draft is None:
        return None
    index = rng.randrange(1, len(path))
    draft.duplicates.append((index, {"attributes": {"corrected": True}}))
    return draft


def _any(check: Callable[[Service, list[str]], bool]) -> Callable[[Simulation, Service], bool]:
    def applies(sim: Simulation, service: Service) -> bool:
        rng = random.Random(f"applies:{service.agency}:{service.code}")
        return any(check(service, _walk(service, rng, happy=True)) for _ in range(6))

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


_PLANTERS: dict[str, _Planter] = {
    Rule.SLA_STEP_OVERDUE: _Planter(
        _any(lambda s, p: _late_step_index(s, p) is not None and s.sla is not None),
        _plant_step_overdue,
    ),
    Rule.SLA_CASE_OVERDUE: _Planter(
        _any(lambda s, p: _slow_step_index(s, p) is not None and s.sla is not None),
        _plant_case_overdue,
    ),
    Rule.PROCESS_INVALID_TRANSITION: _Planter(
        _any(
            lambda s, p: any(
                p[i + 1] not in s.allowed_after(p[i - 1]) for i in _removable(s, p, mandatory=False)
            )
        ),
        _plant_invalid_transition,
    ),
    Rule.PROCESS_SKIPPED_STEP: _Planter(
        _any(lambda s, p: bool(_removable(s, p, mandatory=True))),
        _plant_skipped_step,
        companions=frozenset({Rule.PROCESS_INVALID_TRANSITION}),
    ),
    Rule.PROCESS_AFTER_TERMINAL: _Planter(
        _any(lambda s, p: any(st.is_rejection for st in s.steps)), _plant_after_terminal
    ),
    Rule.PROCESS_UNKNOWN_CASE: _Planter(_any(lambda s, p: len(p) > 2), _plant_unknown_case),
    Rule.PROCESS_REASON_MISSING: _Planter(
        _any(lambda s, p: any(st.is_rejection for st in s.steps)), _plant_reason_missing
    ),
    Rule.DUTY_SAME_OFFICER: _Planter(
        _any(
            lambda s, p: any(
                a in p and b in p and (st := s.step(a)) is not None and bool(st.roles)
                for a, b in s.separate
            )
        ),
        _plant_same_officer,
    ),
    Rule.DUTY_ROLE_NOT_ALLOWED: _Planter(
        _any(lambda s, p: any(st.roles for st in _steps(s, p))), _plant_role_not_allowed
    ),
    Rule.FEE_MISMATCH: _Planter(_any(_has_payment_or_free), _plant_fee_mismatch),
    Rule.TIME_BACKDATED: _Planter(_any(_long_sla), _plant_backdated),
    Rule.TIME_FUTURE: _Planter(_any(_first_wait_is_long), _plant_future),
    Rule.TIME_OUT_OF_ORDER: _Planter(
        _any(lambda s, p: bool(_out_of_order_indexes(s, p))), _plant_out_of_order
    ),
    Rule.INTEGRITY_CONFLICTING_DUPLICATE: _Planter(
        _any(lambda s, p: len(p) > 1), _plant_conflicting_duplicate
    ),
}
