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

This module holds the `Simulation` itself (arrivals, one case at a time, officers and
representatives, the events it emits); beside it are what it plans with (`plans`: the planned
case, emissions and truth, honest draws of people and fees), when steps happen (`timelines`),
the admission checks of a plan against the crowd (`admission`) and one planter per rule
(`planters.PLANTERS`). The names its users need are importable from here.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pantau.core.alerts import Rule
from pantau.core.catalog import Catalog, Service
from pantau.core.durations import Duration, DurationUnit
from pantau.core.events import ASSESSED_AMOUNT, Event
from pantau.core.working_time import WorkingCalendar
from pantau.traffic.admission import (
    JUDGED_HERE,
    commit,
    counts_for_burst,
    crowds_queue,
    long_waits,
    officers_fit,
    oversight_raised,
    representatives_fit,
)
from pantau.traffic.crowd import Crowd, OfficerKind, QueueKey, Wait
from pantau.traffic.plans import (
    ALL_RULES,
    CONTRACT_RULES,
    CROSS_CASE_RULES,
    DEEMED_APPROVAL_RULES,
    FEE_RULES,
    CaseTruth,
    Draft,
    Emission,
    Group,
    Officer,
    Regime,
    Special,
    busy_first,
    officer_pools,
    paid,
    pseudonym,
    tariff_amount,
)
from pantau.traffic.planters import PLANTERS, Planter
from pantau.traffic.reference import Delivery, Reading, rules_raised
from pantau.traffic.timelines import timeline, walk

__all__ = [
    "ALL_RULES",
    "CONTRACT_RULES",
    "CROSS_CASE_RULES",
    "DEEMED_APPROVAL_RULES",
    "FEE_RULES",
    "PLANTERS",
    "CaseTruth",
    "Draft",
    "Emission",
    "Officer",
    "Planter",
    "Regime",
    "Simulation",
]

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
# Share of submissions filed by a representative (an architect or notary for building permits,
# a consultant for business registration, a family member for civil registry documents).
REPRESENTED = {"pbg": 0.5, "slf": 0.5, "reklame-insidentil": 0.3, "nib": 0.2}
REPRESENTED_OTHERWISE = 0.05


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
        self.officers = officer_pools(catalog, random.Random(f"{seed}:officers"), staffing)
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
            draft = self.draft(service, number, when, rng, walk(service, rng))
            if draft is None:
                continue
            emissions = self._emit(draft, rng, duplicates=True)
            if self._raised(draft, emissions) or oversight_raised(self.crowd, draft, emissions, {}):
                continue
            if crowds_queue(self.crowd, draft, {}):
                continue
            if not officers_fit(self.crowd, [draft]):
                continue
            commit(self.crowd, [draft])
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
            group = plan if isinstance(plan, Group) else Group([plan], 0)
            if self.cases is not None and number + len(group.drafts) > self.cases:
                return None  # the run ends before the plant could be complete
            found = self._judge_group(planted, planter, group, rng)
            if found is not None:
                return found, len(group.drafts)
        return None

    def _judge_group(
        self, planted: str, planter: Planter, group: Group, rng: random.Random
    ) -> list[Emission] | None:
        """All emissions of a planted group with their truth, or None when a case of it would
        raise anything but what is planted."""
        staged: dict[QueueKey, list[Wait]] = {}
        out: list[Emission] = []
        truths: list[tuple[list[Emission], Draft, tuple[str, ...], str | None]] = []
        for index, draft in enumerate(group.drafts):
            emissions = self._emit(draft, rng, duplicates=False)
            raised = set(self._raised(draft, emissions))
            raised |= oversight_raised(self.crowd, draft, emissions, staged)
            if planted != Rule.QUEUE_JUMP and crowds_queue(self.crowd, draft, staged):
                return None
            if index == group.planted:
                if planted in JUDGED_HERE and planted not in raised:
                    return None
                raised.add(planted)
                if not raised <= planter.companions | {planted}:
                    return None
                truths.append((emissions, draft, tuple(sorted(map(str, raised))), planted))
            else:
                if raised:
                    return None
                truths.append((emissions, draft, (), None))
            for key, wait in long_waits(draft):
                staged.setdefault(key, []).append(wait)
        if not officers_fit(self.crowd, group.drafts):
            return None
        broker = None
        if planted == Rule.APPLICANT_BROKER:
            broker = group.drafts[group.planted].representative
        if not representatives_fit(self.crowd, self.catalog, group.drafts, broker):
            return None
        commit(self.crowd, group.drafts)
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

    # --- planning ------------------------------------------------------------------------

    def calendar_of(self, service: Service) -> WorkingCalendar:
        """The working calendar of the agency that runs `service`."""
        return self.calendars[self.catalog.agencies[service.agency].calendar]

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
        calendar = self.calendar_of(service)
        case_id = f"{service.code.upper()}-{self.tag}-{number:06d}"
        draft = Draft(service, calendar, case_id, path)
        times = timeline(service, calendar, path, arrival, rng, late, special or {})
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
                counted = counts_for_burst(service, step)
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
                officer = busy_first(pool, rng)
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
        return pseudonym(rng)

    def _emit(self, draft: Draft, rng: random.Random, *, duplicates: bool) -> list[Emission]:
        service = draft.service
        applicant = {"ref": "sim:" + "".join(rng.choices("abcdefghjkmnpqrstuvwxyz", k=14))}
        channel = "online" if not draft.calendar.is_working_time(draft.times[0]) else None
        channel = channel or rng.choice(CHANNELS)
        fee = draft.fee
        if fee is None and not service.fee.is_free:
            fee = tariff_amount(service, rng)  # what the case is assessed, and pays
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
                document["payment"] = paid(service, fee, rng)
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
