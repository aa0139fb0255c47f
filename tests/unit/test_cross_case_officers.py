"""officer.burst: given one officer's completions, a rubber-stamping burst is alerted once, and
a busy but honest officer never."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from oversight_scenarios import AGENCY, Cases, observe_keyed, wib
from pantau.core.alerts import Alert, Category, Rule, alert_id
from pantau_tracker.domain.rulebook.case_step import CaseStep
from pantau_tracker.domain.rulebook.officers import OfficerActivity, observe_officer, officer_key


def run(
    steps: list[CaseStep], states: dict[str, OfficerActivity] | None = None
) -> tuple[dict[str, OfficerActivity], list[Alert]]:
    """Feed the steps in order to the state of their officer key, as the tracker would,
    collecting every alert."""
    return observe_keyed(observe_officer, officer_key, OfficerActivity, steps, states)


def approvals(
    cases: Cases, count: int, start: datetime, every: timedelta, prefix: str = "A"
) -> list[CaseStep]:
    """`count` cases, each already paid, approved by officer H1 one every `every` from `start`."""
    steps: list[CaseStep] = []
    for n in range(count):
        name = f"{prefix}{n}"
        steps.append(cases.step(name, "submitted", start - timedelta(days=5)))
        verified = start - timedelta(days=3) + n * timedelta(minutes=10)
        steps.append(cases.step(name, "verified", verified, officer="V1"))
        steps.append(cases.step(name, "paid", start - timedelta(days=2)))
        steps.append(cases.step(name, "approved", start + n * every, officer="H1"))
    return steps


def test_more_than_twenty_approvals_in_half_an_hour_is_one_burst() -> None:
    """Thirty approvals a minute apart: one alert, on the 21st, naming the burst's cases."""
    cases = Cases()
    _state, alerts = run(approvals(cases, 30, wib(23, 10), timedelta(minutes=1)))
    assert [(alert.rule, alert.case_id, alert.officer_id) for alert in alerts] == [
        (Rule.OFFICER_BURST, "A20", "H1")
    ]
    alert = alerts[0]
    assert alert.category is Category.PROCEDURE_DEVIATION
    assert alert.evidence["completed"] == 21
    assert alert.evidence["case_ids"] == sorted(f"A{n}" for n in range(21))
    assert len(alert.event_ids) == 21
    event_id = f"{AGENCY}:A20:4"
    assert alert.event_ids[0] == event_id
    assert alert.alert_id == alert_id(Rule.OFFICER_BURST, AGENCY, "A20", event_id)


def test_a_later_burst_is_alerted_again() -> None:
    """After a pause longer than the window, a new burst is a new alert."""
    cases = Cases()
    steps = approvals(cases, 25, wib(23, 10), timedelta(minutes=1))
    steps += approvals(cases, 25, wib(24, 10), timedelta(minutes=1), prefix="B")
    assert [alert.case_id for alert in run(steps)[1]] == ["A20", "B20"]


def test_twenty_approvals_in_half_an_hour_is_within_the_limit() -> None:
    """Exactly max_steps (20) in the window is allowed."""
    cases = Cases()
    assert run(approvals(cases, 20, wib(23, 10), timedelta(minutes=1)))[1] == []


def test_a_busy_but_steady_officer_raises_nothing() -> None:
    """Fifty approvals over a working day, one every nine minutes, is hard work, not a burst."""
    cases = Cases()
    states, alerts = run(approvals(cases, 50, wib(23, 8), timedelta(minutes=9)))
    assert alerts == []
    assert len(states[f"{AGENCY}|pbg|H1"].recent["pbg/approved"]) <= 21


def test_steps_of_different_kinds_are_counted_apart() -> None:
    """Fifteen verifications and fifteen approvals in the same half hour are two kinds of work."""
    cases = Cases()
    steps: list[CaseStep] = []
    start = wib(23, 10)
    for n in range(15):
        steps.append(cases.step(f"V{n}", "submitted", start - timedelta(days=1)))
        steps.append(cases.step(f"V{n}", "verified", start + timedelta(minutes=n), officer="H1"))
    steps += approvals(cases, 15, start, timedelta(minutes=1))
    assert run(steps)[1] == []


def test_catalog_thresholds_and_steps_are_used() -> None:
    """With max_steps 5 in 10 minutes for approvals only, only quick approvals are a burst."""
    cases = Cases(
        {"officer_burst": {"max_steps": 5, "window": "10 minutes", "steps": ["approved"]}}
    )
    steps: list[CaseStep] = []
    for n in range(6):
        steps.append(cases.step(f"V{n}", "submitted", wib(23, 9)))
        steps.append(cases.step(f"V{n}", "verified", wib(23, 10, n), officer="H1"))
    steps += approvals(cases, 6, wib(23, 11), timedelta(minutes=1))
    assert [alert.case_id for alert in run(steps)[1]] == ["A5"]


def test_automatic_steps_and_steps_without_officer_are_not_counted() -> None:
    """A system approving files (marked automatic) is no officer's burst."""
    cases = Cases({"automatic": ["approved"]})
    assert run(approvals(cases, 30, wib(23, 10), timedelta(minutes=1)))[1] == []


def test_disabled_rule_raises_nothing() -> None:
    """`enabled: false` turns the rule off for the service."""
    cases = Cases({"officer_burst": {"enabled": False}})
    assert run(approvals(cases, 30, wib(23, 10), timedelta(minutes=1)))[1] == []


def test_state_round_trips_through_json_and_replays_identically() -> None:
    """The state survives JSON; a restart mid-burst alerts once, as an uninterrupted run does."""
    cases = Cases()
    steps = approvals(cases, 30, wib(23, 10), timedelta(minutes=1))
    split = len(steps) // 2
    states, early = run(steps[:split])
    stored: dict[str, Any] = json.loads(
        json.dumps({key: state.to_dict() for key, state in states.items()})
    )
    restored = {key: OfficerActivity.from_dict(data) for key, data in stored.items()}
    assert restored == states
    assert early + run(steps[split:], restored)[1] == run(steps)[1] != []


def test_partition_key_is_agency_and_officer() -> None:
    """The state is keyed by agency|officer id; events without an officer have no key."""
    cases = Cases()
    assert officer_key(cases.step("A", "submitted", wib(23)).event) is None
    verified = cases.step("A", "verified", wib(23, 10), officer="V1")
    assert officer_key(verified.event) == f"{AGENCY}|pbg|V1"
