"""The case simulator's pure core: realistic case traffic with planted anomalies and ground truth.

`Simulation(catalog, seed=..., start=...)` yields `Emission`s in the order a source would send
them: each carries the event, the simulated instant it is sent, and on a case's first emission
the ground truth of that case. Everything follows from the seed and the start instant (never the
clock): cases arrive by the hour of the working day, walk the service's allowed transitions
(clarifications that stop the clock, rejections, withdrawals), are done by officers holding the
step's role with uneven workloads, pay the fee assessed for them (within the tariff) once, with
a receipt number, through a channel the service takes, and finish inside every deadline.

A share of the cases (`anomaly_rate`) gets one planted anomaly, cycling through the contract's
14 rules, the 6 cross-case rules, the 3 of deemed approval and the 4 fee rules
(docs/contract-extensions.md). Each planted case is checked
with `reference.rules_raised`; the truth lists exactly what that reading says the case raises
(usually the planted rule alone), and a clean case raises none.

Honest traffic is honest as a whole, not only case by case (`crowd.Crowd` remembers what later
plans must respect, bounded by the cases in flight): staff work in office hours; a step takes
at least a tenth of its typical length and at most four tenths, so none is far faster than its
peers; officers stay within `officer_burst` and representatives (`attributes.representative_ref`,
a `k1:` pseudonym) within `applicant_broker`; clock stops are few, give a reason and come early;
no case overtakes `min_positions` cases that waited `min_wait` longer. A cross-case plant that
needs other cases is a group of cases planned together (a queue that one case jumps, a burst
of completions, a representative's filings), clean but for the one case the rule alerts on; the
truth of a speed, burst or broker plant states its intent, the others are read off the plan.

Two regimes. `live`: every event in `live` mode, sent when it happens (the adapter sends in real
time). `backfill`: a history sent in one burst long after it happened, so events are in
`backfill` mode, except the planted `time.*` events; a planted `time.future` case is then one
event whose `occurred_at` is *anchored*: the adapter sets it relative to the real send time.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

from pantau.core.alerts import Rule
from pantau.core.catalog import Catalog, Service, Step
from pantau.core.durations import Duration, DurationUnit
from pantau.core.events import ASSESSED_AMOUNT, Event
from pantau.core.oversight_policy import ClockResetPolicy
from pantau.core.rule_table import RULES, Kind, Table, rules_of
from pantau.core.working_time import ClockStop, WorkingCalendar
from pantau.traffic.crowd import Crowd, OfficerKind, QueueKey, Wait
from pantau.traffic.reference import Delivery, Reading, rules_raised

Regime = Literal["live", "backfill"]

# The rules the simulator plants and the evaluation scores, read off the rule table: the
# contract's (section 5), then the cross-case rules, deemed approval of the services that declare
# it, and how a case's fee is assessed and paid (docs/contract-extensions.md); `fee.mismatch` of
# the contract is planted against the case's assessment as well where the service assesses.
CONTRACT_RULES: tuple[str, ...] = rules_of(Table.CONTRACT)
CROSS_CASE_RULES: tuple[str, ...] = rules_of(Table.CROSS_CASE)
DEEMED_APPROVAL_RULES: tuple[str, ...] = rules_of(Table.DEEMED_APPROVAL)
FEE_RULES: tuple[str, ...] = rules_of(Table.FEE)
ALL_RULES: tuple[str, ...] = tuple(
    rule for rule, info in RULES.items() if info.kind is not Kind.REPORTED
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
PAYMENT_CHANNELS = ("bank", "online", "cash")
UNSTATED_PAYMENT_CHANNEL = 0.1  # share of payments recorded without their channel
SERVICE_WEIGHTS = {"ktp-el": 5.0, "akta-kelahiran": 3.0, "nib": 3.0, "pbg": 1.5}
MARGIN = timedelta(minutes=30)
# Share of submissions filed by a representative (an architect or notary for building permits,
# a consultant for business registration, a family member for civil registry documents).
REPRESENTED = {"pbg": 0.5, "slf": 0.5, "reklame-insidentil": 0.3, "nib": 0.2}
REPRESENTED_OTHERWISE = 0.05
# Honest work takes at least a tenth of a step's typical length and at most four tenths, so a
# step is never far faster than its peers (speed.too_fast judges against a low quantile).
MIN_SHARE = 0.1
SPREAD = 3.0
WORKING_DAY = timedelta(hours=8)
NON_SLA_STEP_MAX = 4 * WORKING_DAY  # typical length of a step without its own standard, at most
LIVE_LATENCY_MAX = timedelta(seconds=90)


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
class Draft:
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
    representative: str | None = None  # attributes.representative_ref of the submission
    exempt: set[int] = field(default_factory=set)  # completions of a planted burst
    fee: str | None = None  # the fee assessed (and paid) for the case; None: drawn honestly


@dataclass(frozen=True)
class _Group:
    """Cases planted together (a burst, an episode, a queue): `drafts[planted]` raises the rule,
    the others are clean cases that make it possible."""

    drafts: list[Draft]
    planted: int


# Special timing of one step: ("at", instant), ("fast", share of the minimum), ("off_hours",).
Special = tuple[Any, ...]


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
        rules: Sequence[str] = ALL_RULES,
        complete_events: bool = False,
        planters: Mapping[str, Planter] | None = None,
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
        # A busier office has more staff: pools grow with the arrival rate, so that honest
        # workloads stay within officer_burst whatever the rate.
        staffing = max(1, math.ceil(cases_per_day / 600))
        self.officers = _officer_pools(catalog, random.Random(f"{seed}:officers"), staffing)
        # The services each rule can be planted in, worked out once.
        every = PLANTERS if planters is None else planters
        self.plant_services = {
            str(rule): [s for s in self.services if planter.applies(self, s)]
            for rule, planter in every.items()
            if rule in rules
        }
        self.planters = {
            str(rule): planter
            for rule, planter in every.items()
            if self.plant_services.get(str(rule))
        }
        # The reference readings of rules the reference module does not read itself.
        self.readings: dict[str, Reading] = {
            rule: planter.reading
            for rule, planter in self.planters.items()
            if planter.reading is not None
        }
        first_agency = next(iter(catalog.agencies.values()))
        self.arrival_calendar = self.calendars[first_agency.calendar]
        self.crowd = Crowd()
        day = timedelta(days=1)
        self.crowd.officer_horizon = day + max(
            s.oversight.officer_burst.window.as_timedelta() for s in self.services
        )
        self.crowd.filing_horizon = day + max(
            s.oversight.applicant_broker.window.as_timedelta() for s in self.services
        )

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
            self.crowd.advance(arrival)
            emissions, used = self._case(number, arrival)
            for emission in emissions:
                heapq.heappush(pending, (emission.sent_at, order, emission))
                order += 1
            number += used

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

    def _case(self, number: int, arrival: datetime) -> tuple[list[Emission], int]:
        """The emissions of case `number` (and of the cases planted with it) and how many case
        numbers they use."""
        rng = random.Random(f"{self.seed}:case:{number}")
        planted: str | None = None
        if self.planters and rng.random() < self.anomaly_rate:
            rules = list(self.planters)
            planted = rules[(number + self.seed) % len(rules)]
        if planted is not None:
            found = self._planted(planted, number, arrival, rng)
            if found is not None:
                return found
        for attempt in range(24):
            when = arrival
            if attempt >= 12:
                # No honest plan fits (officers all busy with a backlog, as after a long
                # closure): the applicant comes back a little later.
                later = Duration(2 * (attempt - 11), DurationUnit.WORKING_HOURS)
                when = self.arrival_calendar.deadline(arrival, later) or arrival
            service = rng.choices(self.services, self.service_weights)[0]
            draft = self.draft(service, number, when, rng, _walk(service, rng))
            if draft is None:
                continue
            emissions = self._emit(draft, rng, duplicates=True)
            if self._raised(draft, emissions) or self._oversight_raised(draft, emissions, {}):
                continue
            if self._crowds_queue(draft, {}):
                continue
            if not self._officers_fit([draft]):
                continue
            self._commit([draft])
            return self._with_truth(emissions, draft, (), None), 1
        raise RuntimeError(f"could not plan case {number} (clean) in 24 attempts")

    def _planted(
        self, planted: str, number: int, arrival: datetime, rng: random.Random
    ) -> tuple[list[Emission], int] | None:
        """Case `number` with `planted`, with the clean cases a cross-case plant needs; None when
        no attempt works out (the case is then a clean one)."""
        planter = self.planters[planted]
        services = self.plant_services[planted]
        for _attempt in range(12):
            service = rng.choice(services)
            plan = planter.plant(self, service, number, arrival, rng)
            if plan is None:
                continue
            group = plan if isinstance(plan, _Group) else _Group([plan], 0)
            if self.cases is not None and number + len(group.drafts) > self.cases:
                return None  # the run ends before the plant could be complete
            found = self._judge_group(planted, planter, group, rng)
            if found is not None:
                return found, len(group.drafts)
        return None

    def _judge_group(
        self, planted: str, planter: Planter, group: _Group, rng: random.Random
    ) -> list[Emission] | None:
        """All emissions of a planted group with their truth, or None when a case of it would
        raise anything but what is planted."""
        staged: dict[QueueKey, list[Wait]] = {}
        out: list[Emission] = []
        truths: list[tuple[list[Emission], Draft, tuple[str, ...], str | None]] = []
        for index, draft in enumerate(group.drafts):
            emissions = self._emit(draft, rng, duplicates=False)
            raised = set(self._raised(draft, emissions))
            raised |= self._oversight_raised(draft, emissions, staged)
            if planted != Rule.QUEUE_JUMP and self._crowds_queue(draft, staged):
                return None
            if index == group.planted:
                if planted in _JUDGED_HERE and planted not in raised:
                    return None
                raised.add(planted)
                if not raised <= planter.companions | {planted}:
                    return None
                truths.append((emissions, draft, tuple(sorted(map(str, raised))), planted))
            else:
                if raised:
                    return None
                truths.append((emissions, draft, (), None))
            for key, wait in self._long_waits(draft):
                staged.setdefault(key, []).append(wait)
        if not self._officers_fit(group.drafts):
            return None
        broker = None
        if planted == Rule.APPLICANT_BROKER:
            broker = group.drafts[group.planted].representative
        if not self._representatives_fit(group.drafts, broker):
            return None
        self._commit(group.drafts)
        for emissions, draft, rules, plant in truths:
            out.extend(self._with_truth(emissions, draft, rules, plant))
        return out

    def _raised(self, draft: Draft, emissions: list[Emission]) -> frozenset[str]:
        ordered = sorted(emissions, key=lambda e: e.sent_at)  # stable: ties keep planned order
        return rules_raised(
            draft.service,
            draft.calendar,
            (Delivery(e.sent_at, e.event) for e in ordered),
            readings=self.readings,
        )

    def _with_truth(
        self, emissions: list[Emission], draft: Draft, rules: tuple[str, ...], planted: str | None
    ) -> list[Emission]:
        truth = CaseTruth(draft.service.agency, draft.service.code, draft.case_id, rules, planted)
        first = min(range(len(emissions)), key=lambda i: (emissions[i].sent_at, i))
        emissions[first] = replace(emissions[first], truth=truth)
        return emissions

    # --- the cross-case view of a planned case -------------------------------------------

    def _oversight_raised(
        self, draft: Draft, emissions: list[Emission], staged: dict[QueueKey, list[Wait]]
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
            if _is_staff(service, step, named) and _off_hours(calendar, at, policy):
                raised.add(Rule.TIME_OFF_HOURS)
            if step.clock == "stop" and policy.clock_reset.enabled:
                if _clock_stop_abused(draft, policy.clock_reset, event, opened, stops, awaiting):
                    raised.add(Rule.SLA_CLOCK_RESET_ABUSE)
                stops.append(ClockStop(at))
            elif step.clock == "resume":
                if stops and stops[-1].resumed_at is None:
                    stops[-1] = ClockStop(stops[-1].stopped_at, at)
                for code in service.allowed_after(step.code):
                    if _sla_of(service, code) is not None and code not in awaiting:
                        awaiting[code] = at
            else:
                awaiting = {
                    code: at
                    for code in service.allowed_after(step.code)
                    if _sla_of(service, code) is not None
                }
        if self._overtaken(draft, staged) >= policy.queue_jump.min_positions:
            raised.add(Rule.QUEUE_JUMP)
        return raised

    def _overtaken(self, draft: Draft, staged: dict[QueueKey, list[Wait]]) -> int:
        """The most earlier-submitted cases one step of this plan overtakes, as queue.jump counts
        them; only cases that wait longer than `min_wait` can be overtaken, and the simulation
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
            for other in [*self.crowd.waits(key), *staged.get(key, [])]:
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

    def _crowds_queue(self, draft: Draft, staged: dict[QueueKey, list[Wait]]) -> bool:
        """True when a long wait of this plan would be one of `min_positions` waiting long at
        once in one queue: together they could be overtaken by cases planned later, which do
        not know of them when they arrive earlier. (A planted queue's cases wait long on
        purpose, in a way no honest case can overtake.)"""
        rule = draft.service.oversight.queue_jump
        for key, wait in self._long_waits(draft):
            if not _overtakable(draft.service, key[2]):
                continue  # nobody leaves that queue by staff work: nobody can overtake in it
            others = [*self.crowd.waits(key), *staged.get(key, [])]
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

    def _long_waits(self, draft: Draft) -> list[tuple[QueueKey, Wait]]:
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

    def _officers_fit(self, drafts: Sequence[Draft]) -> bool:
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
                if self.crowd.officer_load(kind, at - window, at + window) + mine > rule.max_steps:
                    return False
        return True

    def _representatives_fit(self, drafts: Sequence[Draft], broker: str | None) -> bool:
        """No representative but the planted broker files for more than `max_applicants` in
        any window, counting earlier plans and these."""
        filed: dict[tuple[str, str, str], list[datetime]] = {}
        for draft in drafts:
            if draft.representative is not None and draft.representative != broker:
                key = (draft.service.agency, draft.service.code, draft.representative)
                filed.setdefault(key, []).append(draft.times[0])
        for (agency, code, ref), times in filed.items():
            service = self.catalog.services[(agency, code)]
            rule = service.oversight.applicant_broker
            window = rule.window.as_timedelta()
            earlier = self.crowd.representatives(agency, code).get(ref, [])
            for at in times:
                near = [t for t in [*earlier, *times] if abs(t - at) <= window]
                if len(near) > rule.max_applicants:
                    return False
        return True

    def _commit(self, drafts: Sequence[Draft]) -> None:
        """Remember what later plans must respect."""
        for draft in drafts:
            service = draft.service
            for _index, kind, at in _completions(draft):
                self.crowd.add_completion(kind, at)
            if draft.representative is not None and draft.path and draft.times:
                first = service.step(draft.path[0])
                if first is not None and first.start:
                    self.crowd.add_filing(
                        service.agency, service.code, draft.representative, draft.times[0]
                    )
            for key, wait in self._long_waits(draft):
                self.crowd.add_long_wait(key, wait)
            for name, at in _measured(draft):
                self.crowd.add_peer((service.agency, service.code, name), at)

    # --- planning ------------------------------------------------------------------------

    def draft(
        self,
        service: Service,
        number: int,
        arrival: datetime,
        rng: random.Random,
        path: list[str],
        *,
        late: tuple[int, str] | None = None,
        special: dict[int, Special] | None = None,
        preset: dict[int, Officer] | None = None,
        representative: str | None = None,
    ) -> Draft | None:
        """Times and officers for `path`, inside every deadline unless `late` says otherwise.

        `late = (index, "step")` puts that event past its own step sla; `(index, "case")` past the
        service sla while keeping every step sla. `special` times some steps on purpose,
        `preset` names their officers, `representative` files the case (else one is chosen, or
        none, as for most cases).
        """
        agency = self.catalog.agencies[service.agency]
        calendar = self.calendars[agency.calendar]
        case_id = f"{service.code.upper()}-{self.tag}-{number:06d}"
        draft = Draft(service, calendar, case_id, path)
        times = _timeline(service, calendar, path, arrival, rng, late, special or {})
        if times is None:
            return None
        draft.times = times
        officers = self._assign_officers(service, path, times, rng, preset or {})
        if officers is None:
            return None
        draft.officers = officers
        first = service.step(path[0])
        if representative is not None:
            draft.representative = representative
        elif first is not None and first.start:
            draft.representative = self._representative(service, times[0], rng)
        return draft

    def _assign_officers(
        self,
        service: Service,
        path: list[str],
        times: list[datetime],
        rng: random.Random,
        preset: dict[int, Officer],
    ) -> list[Officer | None] | None:
        """Officers holding each step's role, busy ones more often, none of them taking on more
        of a step than `officer_burst` allows; None when nobody is free."""
        done: dict[str, set[str]] = {}
        chosen: list[Officer | None] = []
        rule = service.oversight.officer_burst
        window = rule.window.as_timedelta()
        mine: dict[OfficerKind, list[datetime]] = {}
        for index, code in enumerate(path):
            step = service.step(code)
            assert step is not None
            if index in preset:
                officer: Officer | None = preset[index]
            elif not step.roles:
                officer = None
            else:
                barred = set()
                for first, second in service.separate:
                    if code in (first, second):
                        barred |= done.get(second if code == first else first, set())
                role = sorted(step.roles)[rng.randrange(len(step.roles))]
                pool = [o for o in self.officers[(service.agency, role)] if o.id not in barred]
                at = times[index] if index < len(times) else times[-1]
                counted = _counts_for_burst(service, step)
                if counted:
                    free = []
                    for candidate in pool:
                        kind = (service.agency, candidate.id, f"{service.code}/{code}")
                        load = self.crowd.officer_load(kind, at - window, at + window)
                        load += sum(1 for t in mine.get(kind, []) if abs(t - at) <= window)
                        if load < rule.max_steps:
                            free.append(candidate)
                    pool = free
                if not pool:
                    return None
                officer = _busy_first(pool, rng)
                if counted:
                    kind = (service.agency, officer.id, f"{service.code}/{code}")
                    mine.setdefault(kind, []).append(at)
            chosen.append(officer)
            if officer is not None:
                done.setdefault(code, set()).add(officer.id)
        return chosen

    def _representative(self, service: Service, at: datetime, rng: random.Random) -> str | None:
        """Who files the case: nobody for most, else a representative who stays within
        `applicant_broker.max_applicants` clients in any window."""
        share = REPRESENTED.get(service.code, REPRESENTED_OTHERWISE)
        if rng.random() >= share:
            return None
        rule = service.oversight.applicant_broker
        window = rule.window.as_timedelta()
        reps = self.crowd.representatives(service.agency, service.code)
        free = [
            ref
            for ref, times in reps.items()
            if sum(1 for t in times if abs(t - at) <= window) < rule.max_applicants
        ]
        if free and rng.random() < 0.8:
            return rng.choice(free)
        return _pseudonym(rng)

    def _emit(self, draft: Draft, rng: random.Random, *, duplicates: bool) -> list[Emission]:
        service = draft.service
        applicant = {"ref": "sim:" + "".join(rng.choices("abcdefghjkmnpqrstuvwxyz", k=14))}
        channel = "online" if not draft.calendar.is_working_time(draft.times[0]) else None
        channel = channel or rng.choice(CHANNELS)
        fee = draft.fee
        if fee is None and not service.fee.is_free:
            fee = _tariff_amount(service, rng)  # what the case is assessed, and pays
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
                if draft.representative is not None:
                    document["attributes"] = {"representative_ref": draft.representative}
            if step.assessment and fee is not None:
                document["attributes"] = {ASSESSED_AMOUNT: fee}
            if step.payment and fee is not None:
                document["payment"] = _paid(service, fee, rng)
            if step.reason_required or step.clock == "stop":  # an honest stop says why
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
        sla = service.sla if not name else _sla_of(service, name)
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
            times.append(_ceil_second(at))
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
        return _advance(calendar, before, _minimum(service, code) * how[1], True, rng)
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


def _unit(service: Service, step: Step) -> DurationUnit:
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


def _minimum(service: Service, step: Step) -> timedelta:
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


def _advance(
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
        return _ceil_second(at.astimezone(calendar.tz))
    # Wall-clock steps: a working instant within the duration's spread, not the next opening
    # (which would bunch them up and make honest durations uneven).
    for _try in range(20):
        at = before + amount * (1 + rng.random() * spread)
        if calendar.is_working_time(at):
            return _ceil_second(at)
    at = before + amount
    return _ceil_second(calendar.next_opening(at) + timedelta(minutes=rng.randint(0, 60)))


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
    least = _minimum(service, step)
    working = _unit(service, step).is_working_time
    for spread in (SPREAD, SPREAD / 3, SPREAD / 10, 0.0):
        if working:
            at = _advance(calendar, before, least * (1 + spread * rng.random()), True, rng)
        else:
            at = _advance(calendar, before, least, False, rng, spread)
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
        at = _ceil_second(at)
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
        at = _ceil_second(at)
        # Room after it for the rest of the case before the limit.
        return at if at < case_due - 8 * MARGIN else None
    days = Duration(rng.randint(1, 8), DurationUnit.WORKING_DAYS)
    at = calendar.deadline(case_due, days)
    assert at is not None
    return _ceil_second(at)


def _paid(
    service: Service, amount: str, rng: random.Random, *, receipt: bool = True
) -> dict[str, Any]:
    """An honest payment of `amount`: with a receipt number, through a channel the service
    takes (now and then not stated)."""
    payment: dict[str, Any] = {"amount": amount, "currency": "IDR"}
    if receipt:
        payment["receipt"] = f"KW-{rng.randrange(10**6):06d}"
    allowed = [c for c in PAYMENT_CHANNELS if c in (service.payment_channels or PAYMENT_CHANNELS)]
    if rng.random() >= UNSTATED_PAYMENT_CHANNEL:
        payment["channel"] = rng.choice(allowed)
    return payment


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


def _officer_pools(
    catalog: Catalog, rng: random.Random, staffing: int
) -> dict[tuple[str, str], list[Officer]]:
    pools: dict[tuple[str, str], list[Officer]] = {}
    for service in catalog.services.values():
        for step in service.steps:
            for role in step.roles:
                key = (service.agency, role)
                if key in pools:
                    continue
                size = rng.randint(3, 6) * staffing
                pools[key] = [Officer(_nip(rng), role) for _ in range(size)]
    return pools


def _nip(rng: random.Random) -> str:
    """An 18-digit NIP: birth date, appointment month, sex, serial."""
    born = f"{rng.randint(1965, 1998)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    appointed = f"{rng.randint(1990, 2022)}{rng.randint(1, 12):02d}"
    return f"{born}{appointed}{rng.randint(1, 2)}{rng.randint(1, 999):03d}"


# --- the cross-case view of a plan ----------------------------------------------------------

# Rules the simulation reads off a plan itself (the fee rules by the reference reading), so a
# plan that does not raise its rule is planned again; the others (speed, bursts, brokers) are
# planted by construction and the truth states the intent.
_JUDGED_HERE = frozenset(
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


def _is_staff(service: Service, step: Step, named: bool) -> bool:
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


def _sla_of(service: Service, code: str) -> Duration | None:
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
            _is_staff(service, done, b < len(draft.officers) and draft.officers[b] is not None)
            and not done.is_rejection
            and done.clock != "stop"
            and (rule.steps is None or done.code in rule.steps)
        )
        key = (service.agency, service.code, waited.code)
        found.append((key, Wait(draft.case_id, since, leave, submitted or since), overtakes))
    return found


def _counts_for_burst(service: Service, step: Step) -> bool:
    rule = service.oversight.officer_burst
    return (
        rule.enabled
        and (rule.steps is None or step.code in rule.steps)
        and _is_staff(service, step, False)
    )


def _completions(draft: Draft) -> list[tuple[int, OfficerKind, datetime]]:
    """The steps of the plan an officer completes, as officer.burst counts them."""
    service = draft.service
    found = []
    for index in _applied(draft):
        officer = draft.officers[index] if index < len(draft.officers) else None
        step = service.step(draft.path[index])
        assert step is not None
        if officer is not None and _counts_for_burst(service, step):
            kind = (service.agency, officer.id, f"{service.code}/{step.code}")
            found.append((index, kind, draft.times[index]))
    return found


def _is_measured(service: Service, step: Step) -> bool:
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
        if _is_measured(service, step):
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


def _pseudonym(rng: random.Random) -> str:
    """A pseudonymous reference like those the senders make: key version and an HMAC."""
    return "k1:" + "".join(rng.choices("0123456789abcdef", k=64))


# --- planting anomalies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Planter:
    """How to plant one rule: which services allow it, and how to build the case.

    `reading` is the reference reading of the rule for one event of a case, for a rule that
    `reference.rules_raised` does not read itself (a rule added beside the rule table's).
    """

    applies: Callable[[Simulation, Service], bool]
    plant: Callable[[Simulation, Service, int, datetime, random.Random], Draft | _Group | None]
    companions: frozenset[str] = frozenset()  # rules the planted case cannot avoid raising
    reading: Reading | None = None


def _happy(sim: Simulation, service: Service, rng: random.Random) -> list[str]:
    return _walk(service, rng, happy=True)


def _happy_draft(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    """An honest case along a happy path, for a planter to put its anomaly in."""
    return sim.draft(service, n, at, rng, _happy(sim, service, rng))


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


def _overtakable(service: Service, waited: str) -> bool:
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


def _unqueued_slow_index(service: Service, path: list[str]) -> int | None:
    """A slow step (see `_slow_step_index`) waited for where nobody can overtake: a delay there
    is the case's alone and makes no honest case a queue jumper."""
    for index in range(len(path) - 1, 0, -1):
        pending = service.allowed_after(path[index - 1]) | {path[index]}
        if all(
            (s := service.step(o)) is not None and s.sla is None for o in pending
        ) and not _overtakable(service, path[index - 1]):
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
        sla = _sla_of(service, code)
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
    draft.times.append(_ceil_second(later))
    draft.officers.append(
        _busy_first(sim.officers[(service.agency, sorted(last.roles)[0])], rng)
        if last.roles
        else None
    )
    return draft


def _plant_unknown_case(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    draft = sim.draft(service, n, at, rng, _happy(sim, service, rng))
    if draft is None:
        return None
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


def _plant_role_not_allowed(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    draft = _happy_draft(sim, service, n, at, rng)
    if draft is None:
        return None
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


def _plant_fee_mismatch(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    """A charge on a free service; where the service assesses its fee, a levy on top of the
    case's assessment (within the tariff where it fits) or an assessment off the tariff;
    elsewhere a payment off the tariff."""
    draft = _happy_draft(sim, service, n, at, rng)
    if draft is None:
        return None
    path = draft.path
    steps = _steps(service, path)
    fee = service.fee
    if fee.is_free:
        index = rng.choice([i for i, s in enumerate(steps) if not s.start])
        amount = Decimal(rng.choice((25000, 50000, 100000)))  # an unofficial charge
        draft.extra[index] = {"payment": _paid(service, format(amount, "f"), rng)}
        return draft
    paying = next(i for i, s in enumerate(steps) if s.payment)
    assessing = any(s.assessment for s in steps[:paying])
    if assessing and rng.random() < 0.5:
        # The assessment itself off the tariff; the applicant pays what was assessed.
        draft.fee = format(_off_tariff(service, rng), "f")
        return draft
    if assessing:
        assessed = Decimal(_tariff_amount(service, rng))
        levy = Decimal(rng.choice((150000, 250000, 500000)))
        amount = assessed + levy if assessed + levy <= fee.max else assessed - levy
        if amount <= 0:
            amount = assessed + levy
        draft.fee = format(assessed, "f")
    else:
        amount = _off_tariff(service, rng)
    draft.extra[paying] = {"payment": _paid(service, format(amount, "f"), rng)}
    return draft


def _paying_step(service: Service, path: list[str]) -> int:
    """The index of the first payment step of `path`."""
    return next(i for i, s in enumerate(_steps(service, path)) if s.payment)


def _fee_payment(draft: Draft, rng: random.Random, *, receipt: bool = True) -> dict[str, Any]:
    """The payment of the case's fee: the assessed one, else an amount of the tariff (which
    becomes the case's fee)."""
    draft.fee = draft.fee or _tariff_amount(draft.service, rng)
    return _paid(draft.service, draft.fee, rng, receipt=receipt)


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
    draft.extra[early] = {"payment": _paid(service, _tariff_amount(service, rng), rng)}
    return draft


def _plant_no_receipt(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    """The fee paid without an official receipt number."""
    draft = _happy_draft(sim, service, n, at, rng)
    if draft is None:
        return None
    index = _paying_step(service, draft.path)
    draft.extra[index] = {"payment": _fee_payment(draft, rng, receipt=False)}
    return draft


def _plant_cash_to_officer(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    """The fee handed in cash to an officer, on a service paid only through the bank or online:
    the right amount with a receipt, so the channel alone is wrong."""
    draft = _happy_draft(sim, service, n, at, rng)
    if draft is None:
        return None
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


def _plant_backdated(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    draft = _happy_draft(sim, service, n, at, rng)
    if draft is None:
        return None
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
        path = _walk(service, rng, happy=True)
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


def _plant_conflicting_duplicate(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> Draft | None:
    draft = _happy_draft(sim, service, n, at, rng)
    if draft is None:
        return None
    path = draft.path
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


# --- planting cross-case anomalies ----------------------------------------------------------


def _happy_through(service: Service, rng: random.Random, second: str) -> list[str] | None:
    """A successful path whose second step is `second`."""
    for _try in range(8):
        path = _walk(service, rng, happy=True)
        if len(path) > 2 and path[1] == second:
            return path
    return None


def _first_staff_step(service: Service) -> Step | None:
    """The staff step every successful case does right after its submission, if one is."""
    rng = random.Random(f"first:{service.agency}:{service.code}")
    seconds = {tuple(_walk(service, rng, happy=True)[:2]) for _ in range(6)}
    for _start, second in sorted(seconds):
        step = service.step(second)
        if step is not None and step.roles and _is_staff(service, step, False):
            return step
    return None


def _working_start(calendar: WorkingCalendar, at: datetime, rng: random.Random) -> datetime:
    """A working instant at or soon after `at`."""
    if calendar.is_working_time(at) and calendar.is_working_time(at + timedelta(hours=2)):
        return _ceil_second(at)
    return _ceil_second(calendar.next_opening(at) + timedelta(minutes=rng.randint(15, 90)))


def _plant_queue_jump(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Group | None:
    """Cases submitted together wait; one submitted `min_wait` later is done first, after a
    short wait, and they follow minutes later, so no honest case could overtake them."""
    rule = service.oversight.queue_jump
    step = _first_staff_step(service)
    if step is None:
        return None
    agency = sim.catalog.agencies[service.agency]
    calendar = sim.calendars[agency.calendar]
    least = _minimum(service, step)
    begin = _working_start(calendar, at, rng)
    submitted = [
        begin + timedelta(minutes=2 * k + rng.randint(0, 1)) for k in range(rule.min_positions)
    ]
    dues = [calendar.deadline(s, rule.min_wait) for s in submitted]
    if any(due is None for due in dues):
        return None
    ripe = [due for due in dues if due is not None]
    since = _ceil_second(max(ripe) + timedelta(minutes=rng.randint(1, 3)))
    done = _advance(calendar, since, least * rng.uniform(0.75, 0.85), True, rng)
    # Every honest case that could overtake them waits at least `least` from `min(ripe)`.
    safe_until = _advance(calendar, min(ripe), least, True, rng)
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
    return _Group([*drafts, jumper], len(drafts))


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
            _is_measured(service, step)
            and _unit(service, step).is_working_time
            and peers >= rule.min_samples + 10
        ):
            options.append(index)
    if not options:
        return None
    index = rng.choice(options)
    return sim.draft(service, n, at, rng, path, special={index: ("fast", rng.uniform(0.05, 0.25))})


def _plant_officer_burst(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Group | None:
    """One officer clears `max_steps + 1` files of a step within the window; the last one
    completed makes the burst."""
    rule = service.oversight.officer_burst
    step = _first_staff_step(service)
    if step is None:
        return None
    agency = sim.catalog.agencies[service.agency]
    calendar = sim.calendars[agency.calendar]
    window = rule.window.as_timedelta()
    gap = window * 0.8 / rule.max_steps
    span = gap * rule.max_steps
    least = _minimum(service, step)
    start = _advance(calendar, _working_start(calendar, at, rng), least * 4, True, rng)
    for _try in range(3):
        if calendar.is_working_time(start) and calendar.is_working_time(start + span):
            break
        start = _ceil_second(
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
        done = _ceil_second(start + gap * k)
        for _attempt in range(6):
            arrival = _ceil_second(at + (done - at) * rng.uniform(0.0, 0.8))
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
    return _Group(drafts, len(drafts) - 1)


def _plant_broker(
    sim: Simulation, service: Service, n: int, at: datetime, rng: random.Random
) -> _Group | None:
    """A representative files for `max_applicants + 1` applicants within days; the last filing
    crosses the limit."""
    rule = service.oversight.applicant_broker
    ref = _pseudonym(rng)
    agency = sim.catalog.agencies[service.agency]
    calendar = sim.calendars[agency.calendar]
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
    return _Group(drafts, len(drafts) - 1)


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
        if step.roles and _is_staff(service, step, False):
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
    agency = sim.catalog.agencies[service.agency]
    calendar = sim.calendars[agency.calendar]
    begin = calendar.next_opening(sim.start) + timedelta(hours=1)
    waited = calendar.deadline(begin, rule.min_wait)
    due = calendar.deadline(begin, step.sla)
    least = _minimum(service, step)
    return (
        waited is not None
        and due is not None
        and _advance(calendar, waited, least * 2, True, random.Random(0)) < due
        and least >= timedelta(hours=1)
    )


def _burst_fits(sim: Simulation, service: Service) -> bool:
    """A burst can be planted where it is a handful of cases, a few minutes apart (so that the
    order they are received in is certain)."""
    rule = service.oversight.officer_burst
    step = _first_staff_step(service)
    return (
        step is not None
        and _counts_for_burst(service, step)
        and rule.max_steps <= 10
        and rule.window.as_timedelta() * 0.8 / rule.max_steps >= 3 * LIVE_LATENCY_MAX
    )


def _broker_fits(sim: Simulation, service: Service) -> bool:
    rule = service.oversight.applicant_broker
    return rule.enabled and rule.max_applicants <= 8


def _speed_fits(sim: Simulation, service: Service) -> bool:
    rng = random.Random(f"speed:{service.agency}:{service.code}")
    path = _walk(service, rng, happy=True)
    return any(
        (s := service.step(code)) is not None
        and _is_measured(service, s)
        and _unit(service, s).is_working_time
        for code in path[1:]
    )


def _clock_fits(sim: Simulation, service: Service) -> bool:
    rng = random.Random(f"clock:{service.agency}:{service.code}")
    return service.oversight.clock_reset.enabled and any(
        _stop_cycle(service, _walk(service, rng, happy=True)) is not None for _ in range(4)
    )


def _off_hours_fits(sim: Simulation, service: Service) -> bool:
    return service.oversight.off_hours.enabled and any(
        step.roles and _is_staff(service, step, False) for step in service.steps
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
        _any(lambda s, p: _unqueued_slow_index(s, p) is not None and s.deemed_approval is not None),
        _plant_deemed_near,
    ),
    Rule.SLA_DEEMED_APPROVED: Planter(
        _any(lambda s, p: _unqueued_slow_index(s, p) is not None and s.deemed_approval is not None),
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
    Rule.PROCESS_AFTER_TERMINAL: Planter(
        _any(lambda s, p: any(st.is_rejection for st in s.steps)), _plant_after_terminal
    ),
    Rule.PROCESS_UNKNOWN_CASE: Planter(_any(lambda s, p: len(p) > 2), _plant_unknown_case),
    Rule.PROCESS_REASON_MISSING: Planter(
        _any(lambda s, p: any(st.is_rejection for st in s.steps)), _plant_reason_missing
    ),
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
        _any(lambda s, p: _payment_index(s, p) is not None),
        _plant_paid_twice,
        # The catalogs let a case pay once: a second payment step is also out of the flow.
        companions=frozenset({Rule.PROCESS_INVALID_TRANSITION}),
    ),
    Rule.FEE_PAID_BEFORE_ASSESSMENT: Planter(
        _any(lambda s, p: _payment_index(s, p) is not None), _plant_paid_before_assessment
    ),
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
