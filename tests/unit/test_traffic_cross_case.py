"""Simulated traffic folded through the pure cross-case rules raises exactly what its truth says."""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pantau.core.catalog import Catalog
from pantau.core.events import Event
from pantau.core.working_time import ClockStop, WorkingCalendar
from pantau.traffic.generator import (
    ALL_RULES,
    CONTRACT_RULES,
    CROSS_CASE_RULES,
    CaseTruth,
    Regime,
    Simulation,
)
from pantau.traffic.scoring import score, table
from pantau.traffic.simulate import planted_rules
from pantau_tracker.domain.rulebook import CASE_RULES, STATEFUL_RULES, CaseStep, RunningLimit

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
# When `pantau simulate` really sends a bounded history: after every simulated event, and
# within `queue_jump.stale_after` of it (see `history_start`).
REAL_SEND = START + timedelta(days=130)


@dataclass
class _Case:
    step: str
    latest_at: datetime
    last_seq: int | None
    opened_at: datetime | None
    closed: bool = False
    stops: list[ClockStop] = field(default_factory=list)
    awaiting: dict[str, datetime] = field(default_factory=dict)


class _Tracker:
    """A stand-in for the tracker's use of the cross-case rules: it applies each event once, in
    the order received (not out-of-order ones, nothing after a terminal step), builds the
    `CaseStep` from the case as it was before the event, and keeps each stateful rule's record
    under its key."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.calendars = {code: WorkingCalendar(spec) for code, spec in catalog.calendars.items()}
        self.cases: dict[tuple[str, str], _Case] = {}
        self.seen: set[str] = set()
        self.records: dict[tuple[str, str], Any] = {}
        self.raised: list[tuple[str, str, str]] = []
        self.offset = 0

    def receive(self, event: Event) -> None:
        if event.event_id in self.seen:
            return
        self.seen.add(event.event_id)
        service = self.catalog.service(event.agency, event.service)
        assert service is not None
        definition = service.step(event.step)
        assert definition is not None
        agency = self.catalog.agencies[event.agency]
        calendar = self.calendars[agency.calendar]
        key = (event.agency, event.case_id)
        case = self.cases.get(key)
        if case is not None and (
            case.closed
            or (event.seq is not None and case.last_seq is not None and event.seq < case.last_seq)
            or event.occurred_at < case.latest_at
        ):
            return  # not applied: the cross-case rules do not see it
        at = event.occurred_at
        if case is None:
            step = CaseStep(event, service, calendar, opened_at=at if definition.start else None)
            case = self.cases[key] = _Case(
                event.step, at, event.seq, at if definition.start else None
            )
            if definition.clock == "stop":
                case.stops.append(ClockStop(at))
        else:
            step = CaseStep(
                event=event,
                service=service,
                calendar=calendar,
                previous_step=case.step,
                previous_at=case.latest_at,
                opened_at=case.opened_at,
                stops=tuple(case.stops),
                stop_count=len(case.stops),
                awaiting=tuple(
                    RunningLimit(code, since, sla)
                    for code, since in case.awaiting.items()
                    if (sla := _sla(service, code)) is not None
                ),
            )
            if definition.clock == "stop":
                case.stops.append(ClockStop(at))
            elif definition.clock == "resume" and case.stops and case.stops[-1].resumed_at is None:
                case.stops[-1] = ClockStop(case.stops[-1].stopped_at, at)
        if definition.clock == "resume":
            for code in sorted(service.allowed_after(event.step)):
                if _sla(service, code) is not None and code not in case.awaiting:
                    case.awaiting[code] = at
        elif definition.clock != "stop":
            case.awaiting = {
                code: at
                for code in sorted(service.allowed_after(event.step))
                if _sla(service, code) is not None
            }
        case.step, case.latest_at = event.step, at
        case.last_seq = event.seq if event.seq is not None else case.last_seq
        case.closed = definition.terminal
        self._judge(step, at)

    def _judge(self, step: CaseStep, now: datetime) -> None:
        self.offset += 1
        alerts = [alert for check in CASE_RULES for alert in check(step, now)]
        for rule in STATEFUL_RULES:
            key = rule.key(step.event)
            if key is None:
                continue
            # Events in the order received; the record stays decoded between steps (`apply` is
            # `fold` between JSON and back).
            stored = self.records.get((rule.name, key))
            record, found = rule.fold(stored or rule.read(None), step, now)
            self.records[(rule.name, key)] = record
            alerts.extend(found)
        self.raised.extend((a.agency, a.case_id, a.rule.value) for a in alerts)


def _sla(service: Any, code: str) -> Any:
    step = service.step(code)
    return None if step is None else step.sla


def _fold(
    catalog: Catalog, regime: Regime, seed: int, cases: int
) -> tuple[list[CaseTruth], list[tuple[str, str, str]]]:
    simulation = Simulation(
        catalog, seed=seed, start=START, cases=cases, anomaly_rate=0.3, regime=regime
    )
    tracker = _Tracker(catalog)
    truths: list[CaseTruth] = []
    for emission in simulation:
        if emission.truth is not None:
            truths.append(emission.truth)
        event = emission.event
        if emission.anchored:
            # Sent for real long after the simulated history: it happens then (`pantau simulate`
            # sets `occurred_at` from the real send time).
            moved = event.occurred_at - emission.sent_at + REAL_SEND
            event = event.model_copy(update={"occurred_at": moved})
        else:
            assert event.occurred_at < REAL_SEND
        tracker.receive(event)
    return truths, tracker.raised


@pytest.mark.parametrize(
    ("regime", "seed"), [("backfill", 1), ("live", 2), ("backfill", 3), ("live", 4)]
)
def test_cross_case_rules_raise_exactly_the_planted_anomalies(
    catalog: Catalog, regime: Regime, seed: int
) -> None:
    """Every cross-case rule is planted; the pure rules find each plant on the case its truth
    names and nothing on honest traffic (speed.too_fast: recall >= 0.95, precision >= 0.9)."""
    truths, raised = _fold(catalog, regime, seed, 2000)
    scores = score(truths, raised, CROSS_CASE_RULES)
    report = "\n".join(table(scores))
    figures = {
        rule: (scores.rules[rule].tp, scores.rules[rule].fp, scores.rules[rule].fn)
        for rule in CROSS_CASE_RULES
    }
    for rule in CROSS_CASE_RULES:
        found = scores.rules[rule]
        assert found.expected > 0, f"{rule} was not planted\n{report}"
        least = (0.9, 0.95) if rule == "speed.too_fast" else (1.0, 1.0)
        assert found.precision is not None
        assert found.recall is not None
        assert found.precision >= least[0], (
            f"{rule}: extras {scores.extras.get(rule, [])[:5]} {figures}\n{report}"
        )
        assert found.recall >= least[1], (
            f"{rule}: misses {scores.misses.get(rule, [])[:5]} {figures}\n{report}"
        )
    assert scores.outside == 0


def test_representatives_are_pseudonymous_and_most_cases_have_none(catalog: Catalog) -> None:
    """Some filings name a representative, always as a `k1:` reference, never a raw number."""
    filed: dict[str, set[str]] = defaultdict(set)
    starts = 0
    for emission in Simulation(catalog, seed=8, start=START, cases=600, anomaly_rate=0.0):
        event = emission.event
        if event.applicant is None:
            continue
        starts += 1
        ref = event.attributes.get("representative_ref")
        if ref is not None:
            assert isinstance(ref, str)
            assert ref.startswith("k1:")
            assert not any(run.isdigit() and len(run) >= 16 for run in ref.split(":"))
            filed[ref].add(event.applicant.ref)
    represented = sum(len(applicants) for applicants in filed.values())
    assert 0 < represented < starts / 2
    assert any(len(applicants) > 1 for applicants in filed.values())


def test_what_an_endless_run_remembers_stays_bounded(catalog: Catalog) -> None:
    """Live traffic for ever: the cross-case bookkeeping of the second month is no larger than
    that of the first (only what later plans can still meet is kept)."""
    simulation = Simulation(
        catalog, seed=12, start=START, regime="live", cases_per_day=80, anomaly_rate=0.1
    )

    def remembered() -> int:
        crowd = simulation.crowd
        return (
            sum(map(len, crowd.completions.values()))
            + sum(map(len, crowd.long_waits.values()))
            + sum(len(times) for reps in crowd.filings.values() for times in reps.values())
            + len(crowd._upcoming)
        )

    sizes: list[int] = []
    marks = [START + timedelta(days=45), START + timedelta(days=90)]
    for emission in simulation:
        if emission.sent_at >= marks[len(sizes)]:
            sizes.append(remembered())
            if len(sizes) == len(marks):
                break
    first, second = sizes
    assert 0 < second <= first * 1.5, sizes


def test_the_report_scores_every_rule() -> None:
    """Scoring lists the extension rules beside the contract's, and `--rules` names a subset
    (a named set, such as `fee`, or rule ids)."""
    truth = CaseTruth("a", "s", "c1", ("queue.jump",), "queue.jump")
    scores = score([truth], [("a", "c1", "queue.jump"), ("a", "c1", "time.off_hours")])
    assert list(scores.rules) == list(ALL_RULES)
    assert (scores.rules["queue.jump"].tp, scores.rules["time.off_hours"].fp) == (1, 1)
    report = "\n".join(table(scores))
    assert all(rule in report for rule in ALL_RULES)
    assert planted_rules("contract,officer.burst") == (*CONTRACT_RULES, "officer.burst")
    assert planted_rules("cross-case") == CROSS_CASE_RULES
    assert planted_rules("fee") == (
        "fee.mismatch",
        "fee.paid_twice",
        "fee.paid_before_assessment",
        "fee.no_receipt",
        "fee.cash_to_officer",
    )
    assert planted_rules("contract,fee").count("fee.mismatch") == 1
    with pytest.raises(argparse.ArgumentTypeError):
        planted_rules("queue.jumps")
