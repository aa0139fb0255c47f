"""The case simulator's pure core: deterministic, plants every rule, and clean cases are clean."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pantau.core.alerts import Rule
from pantau.core.catalog import Catalog
from pantau.core.events import canonical_bytes
from pantau.core.working_time import ClockStop, WorkingCalendar
from pantau.traffic.generator import ALL_RULES, CONTRACT_RULES, CaseTruth, Emission, Simulation

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def run(catalog: Catalog) -> list[Emission]:
    return list(Simulation(catalog, seed=11, start=START, cases=560, anomaly_rate=0.5))


def _by_case(emissions: list[Emission]) -> dict[str, list[Emission]]:
    cases: dict[str, list[Emission]] = defaultdict(list)
    for emission in emissions:
        cases[emission.event.case_id].append(emission)
    return cases


def _truths(emissions: list[Emission]) -> dict[str, CaseTruth]:
    return {e.truth.case_id: e.truth for e in emissions if e.truth is not None}


def test_same_seed_and_start_give_the_same_traffic(catalog: Catalog) -> None:
    """Two runs with one seed and start emit byte-identical events at identical instants."""

    def signature(seed: int) -> list[tuple[datetime, bytes]]:
        simulation = Simulation(catalog, seed=seed, start=START, cases=60, anomaly_rate=0.5)
        return [(e.sent_at, canonical_bytes(e.event)) for e in simulation]

    assert signature(3) == signature(3)
    assert signature(3) != signature(4)


def test_emissions_come_in_send_order_and_every_case_has_one_truth(run: list[Emission]) -> None:
    """Sent instants never go backwards, and each case's first emission carries its truth."""
    assert all(a.sent_at <= b.sent_at for a, b in itertools.pairwise(run))
    cases, truths = _by_case(run), _truths(run)
    assert set(cases) == set(truths)
    for case_id, emissions in cases.items():
        assert emissions[0].truth is not None, case_id
        assert all(e.truth is None for e in emissions[1:])


# What a planted case cannot avoid raising beside its rule: a skipped step may leave a gap in
# the flow, and a case left undecided past its limit is warned of, overdue and deemed approved.
_DEEMED = {"sla.deemed_approval_near", "sla.case_overdue", "sla.deemed_approved"}
COMPANIONS = {
    "process.skipped_step": {"process.invalid_transition"},
    "sla.deemed_approved": _DEEMED,
    "process.after_deemed_approval": _DEEMED,
    "fee.paid_twice": {"process.invalid_transition"},
}


def test_every_rule_is_planted(run: list[Emission]) -> None:
    """All 14 contract rules, the 6 cross-case ones, the 3 of deemed approval and the 4 fee
    rules are planted, each planted case lists its rule in the truth and nothing it could
    avoid."""
    truths = _truths(run).values()
    planted = {t.planted for t in truths if t.planted}
    assert planted == set(ALL_RULES)
    assert len(planted) == 27
    for truth in truths:
        if truth.planted:
            assert truth.planted in truth.rules
            assert set(truth.rules) <= {truth.planted, *COMPANIONS.get(truth.planted, ())}


def test_clean_cases_follow_the_catalog(catalog: Catalog, run: list[Emission]) -> None:
    """Clean cases start, move, sign, pay, give reasons and finish as the catalog requires."""
    truths = _truths(run)
    clean = [c for c, t in truths.items() if not t.rules]
    assert len(clean) > 150
    resent = [
        c
        for c in clean
        if len(_by_case(run)[c]) > len({e.event.event_id for e in _by_case(run)[c]})
    ]
    assert resent, "some clean cases resend an event, which must raise nothing"
    for case_id in clean:
        emissions = _by_case(run)[case_id]
        events = list({e.event.event_id: e.event for e in emissions}.values())
        for event_id in {e.event.event_id for e in emissions}:  # a resent event is identical
            sent = {canonical_bytes(e.event) for e in emissions if e.event.event_id == event_id}
            assert len(sent) == 1
        service = catalog.service(events[0].agency, events[0].service)
        assert service is not None
        steps = [service.step(e.step) for e in events]
        assert all(s is not None for s in steps)
        assert steps[0] is not None
        assert steps[0].start
        for before, after in itertools.pairwise(events):
            assert after.step in service.allowed_after(before.step), case_id
            assert after.occurred_at > before.occurred_at
            assert after.seq is not None
            assert before.seq is not None
            assert after.seq > before.seq
        last = steps[-1]
        assert last is not None
        assert last.terminal
        if last.is_success:
            assert service.mandatory <= {e.step for e in events}
        signed: dict[str, set[str]] = defaultdict(set)
        assessed = None
        for event, step in zip(events, steps, strict=True):
            assert step is not None
            if step.roles:
                assert event.officer is not None
                assert event.officer.role in step.roles
            if event.officer is not None:
                signed[event.step].add(event.officer.id)
            if step.reason_required:
                assert event.reason
            if step.assessment:
                assessed = Decimal(str(event.attributes["assessed_amount"]))
                assert service.fee.allows(assessed)
            if event.payment is not None:
                assert step.payment
                assert service.fee.allows(event.payment.amount)
                assert event.payment.receipt
                if service.assessment_steps:
                    assert event.payment.amount == assessed, case_id
                if event.payment.channel is not None:
                    allowed = service.payment_channels or {"bank", "online", "cash"}
                    assert event.payment.channel in allowed, case_id
            assert event.mode == "backfill"
        for first, second in service.separate:
            assert not signed[first] & signed[second], case_id


def test_fee_mismatches_are_planted_against_the_assessment_too(catalog: Catalog) -> None:
    """Where a service assesses its fee, a planted fee.mismatch is a payment that differs from
    the case's own assessment though inside the tariff (a levy), or an assessment outside the
    tariff paid as assessed."""
    simulation = Simulation(
        catalog, seed=12, start=START, cases=240, anomaly_rate=0.5, rules=[Rule.FEE_MISMATCH]
    )
    run = list(simulation)
    truths = _truths(run)
    levies, off_tariff = 0, 0
    for case_id, emissions in _by_case(run).items():
        if truths[case_id].planted != Rule.FEE_MISMATCH:
            continue
        events = list({e.event.event_id: e.event for e in emissions}.values())
        service = catalog.service(events[0].agency, events[0].service)
        assert service is not None
        if not service.assessment_steps:
            continue
        (assessing,) = [e for e in events if e.step in service.assessment_steps]
        assessed = Decimal(str(assessing.attributes["assessed_amount"]))
        (payment,) = [e.payment for e in events if e.payment is not None]
        if service.fee.allows(assessed):
            assert payment.amount != assessed
            levies += service.fee.allows(payment.amount)
        else:
            assert payment.amount == assessed
            off_tariff += 1
    assert levies > 0
    assert off_tariff > 0


def test_clean_cases_meet_every_deadline(catalog: Catalog, run: list[Emission]) -> None:
    """Clean steps meet their sla and clean cases their service sla, clock stops excluded."""
    truths = _truths(run)
    for case_id, emissions in _by_case(run).items():
        if truths[case_id].rules:
            continue
        events = list({e.event.event_id: e.event for e in emissions}.values())
        service = catalog.service(events[0].agency, events[0].service)
        assert service is not None
        spec = catalog.calendar_of(service.agency)
        assert spec is not None
        calendar = WorkingCalendar(spec)
        stops: list[ClockStop] = []
        stopped = None
        for before, event in itertools.pairwise(events):
            step = service.step(event.step)
            assert step is not None
            if step.sla is not None:
                due = calendar.deadline(before.occurred_at, step.sla, stops)
                assert due is not None
                assert event.occurred_at <= due, (case_id, event.step)
            if step.clock == "stop":
                stopped = event.occurred_at
            elif step.clock == "resume" and stopped is not None:
                stops.append(ClockStop(stopped, event.occurred_at))
        assert service.sla is not None
        due = calendar.deadline(events[0].occurred_at, service.sla, stops)
        assert due is not None
        assert events[-1].occurred_at <= due, case_id


def test_planted_time_anomalies_are_visible_to_the_receiver(run: list[Emission]) -> None:
    """A backdated event is live and sent over a day late; a future one is anchored ahead."""
    truths = _truths(run)
    cases = _by_case(run)
    for case_id, truth in truths.items():
        if truth.planted == Rule.TIME_BACKDATED:
            late = [e for e in cases[case_id] if e.event.mode == "live"]
            assert late
            assert all(e.sent_at - e.event.occurred_at > timedelta(hours=24) for e in late)
        if truth.planted == Rule.TIME_FUTURE:
            (only,) = cases[case_id]
            assert only.anchored
            assert only.event.occurred_at - only.sent_at > timedelta(minutes=5)


def test_live_regime_sends_live_events_close_to_when_they_happen(catalog: Catalog) -> None:
    """In the live regime every clean event is live and sent within minutes of happening."""
    emissions = list(Simulation(catalog, seed=5, start=START, cases=80, regime="live"))
    truths = _truths(emissions)
    for emission in emissions:
        if not truths[emission.event.case_id].rules:
            assert emission.event.mode == "live"
            lag = emission.sent_at - emission.event.occurred_at
            assert timedelta(0) <= lag <= timedelta(minutes=5)


def test_traffic_for_the_intake_has_every_required_reason_and_officer(catalog: Catalog) -> None:
    """For the intake no event lacks what its step requires, and reason_missing is not planted."""
    simulation = Simulation(
        catalog, seed=9, start=START, cases=300, anomaly_rate=0.6, complete_events=True
    )
    assert Rule.PROCESS_REASON_MISSING not in simulation.plantable
    emissions = list(simulation)
    for emission in emissions:
        event = emission.event
        service = catalog.service(event.agency, event.service)
        assert service is not None
        step = service.step(event.step)
        assert step is not None
        assert event.reason or not step.reason_required
        assert event.officer is not None or not step.roles
    planted = {t.planted for t in _truths(emissions).values() if t.planted}
    # Contract rules all planted (speed.too_fast waits for enough peers, past these 300 cases).
    assert set(CONTRACT_RULES) - {Rule.PROCESS_REASON_MISSING} <= planted
    assert Rule.PROCESS_REASON_MISSING not in planted
