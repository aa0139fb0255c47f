"""speed.too_fast: given peers of one service and step, a far faster one is alerted, and only it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oversight_scenarios import AGENCY, Cases, observe_all, wib
from pantau.core.alerts import Alert, Category, Rule, alert_id
from pantau_tracker.domain.rulebook.case_step import CaseStep
from pantau_tracker.domain.rulebook.speed import (
    SpeedState,
    _sorted_window,
    low_quantile,
    observe_speed,
    speed_key,
)


def run(steps: list[CaseStep], state: SpeedState | None = None) -> tuple[SpeedState, list[Alert]]:
    """Feed the steps in order, as the tracker would, collecting every alert."""
    return observe_all(observe_speed, state or SpeedState(), steps)


def verified_peers(cases: Cases, count: int = 30) -> list[CaseStep]:
    """`count` cases submitted on Monday 23 Nov and verified about two working days later."""
    steps: list[CaseStep] = []
    for n in range(count):
        steps.append(cases.step(f"P{n}", "submitted", wib(23, 8, n)))
        steps.append(cases.step(f"P{n}", "verified", wib(25, 8 + n % 6, n), officer="V1"))
    return steps


def whole_case(cases: Cases, name: str, start: datetime, gap: timedelta) -> list[CaseStep]:
    """A case running submitted -> verified -> paid -> approved -> issued, `gap` between steps."""
    flow = [("submitted", None), ("verified", "V1"), ("paid", None), ("approved", "H1")]
    steps = [
        cases.step(name, step, start + index * gap, officer=officer)
        for index, (step, officer) in enumerate(flow)
    ]
    steps.append(cases.step(name, "issued", start + len(flow) * gap))
    return steps


def test_a_verification_in_minutes_among_two_day_peers_is_too_fast() -> None:
    """After 30 verifications taking about two working days, one taking ten minutes is alerted."""
    cases = Cases()
    steps = verified_peers(cases)
    steps.append(cases.step("FAST", "submitted", wib(26, 9)))
    steps.append(cases.step("FAST", "verified", wib(26, 9, 10), officer="V2"))
    _state, alerts = run(steps)
    assert [(alert.rule, alert.case_id, alert.step) for alert in alerts] == [
        (Rule.SPEED_TOO_FAST, "FAST", "verified")
    ]
    alert = alerts[0]
    assert alert.category is Category.IMPROPER_REQUEST
    assert alert.evidence["seconds"] == 600
    assert alert.evidence["peers"] == 30
    assert alert.evidence["measured"] == "step:verified"
    assert alert.evidence["time"] == "working"
    event_id = f"{AGENCY}:FAST:2"
    assert alert.alert_id == alert_id(
        Rule.SPEED_TOO_FAST, AGENCY, "FAST", f"{event_id}:step:verified"
    )


def test_an_ordinary_duration_raises_nothing() -> None:
    """A verification taking a working day and a half is within its peers' range."""
    cases = Cases()
    steps = verified_peers(cases)
    steps.append(cases.step("OK", "submitted", wib(26, 9)))
    steps.append(cases.step("OK", "verified", wib(27, 13), officer="V2"))
    assert run(steps)[1] == []


def test_too_few_peers_raise_nothing() -> None:
    """Below min_samples (30) peers, even a ten-minute verification is not judged."""
    cases = Cases()
    steps = verified_peers(cases, count=29)
    steps.append(cases.step("FAST", "submitted", wib(26, 9)))
    steps.append(cases.step("FAST", "verified", wib(26, 9, 10), officer="V2"))
    assert run(steps)[1] == []


def test_an_instant_service_is_never_too_fast() -> None:
    """A service whose standard is minutes (a free counter legalisation) is fast by design."""
    cases = Cases(service="legalisir")
    steps: list[CaseStep] = []
    for n in range(40):
        steps.append(cases.step(f"L{n}", "submitted", wib(23, 8, n)))
        steps.append(cases.step(f"L{n}", "stamped", wib(23, 9, n), officer="K1"))
        steps.append(cases.step(f"L{n}", "issued", wib(23, 10, n)))
    steps.append(cases.step("FAST", "submitted", wib(24, 9)))
    steps.append(cases.step("FAST", "stamped", wib(24, 9, 1), officer="K1"))
    steps.append(cases.step("FAST", "issued", wib(24, 9, 2)))
    state, alerts = run(steps)
    assert alerts == []
    assert state.durations == {}


def test_automatic_steps_are_never_too_fast() -> None:
    """A step the catalog marks automatic (a system verification) is not measured."""
    cases = Cases({"automatic": ["verified"]})
    steps = verified_peers(cases)
    steps.append(cases.step("FAST", "submitted", wib(26, 9)))
    steps.append(cases.step("FAST", "verified", wib(26, 9, 10)))
    state, alerts = run(steps)
    assert alerts == []
    assert "step:verified" not in state.durations


def test_a_whole_case_far_faster_than_its_peers_is_alerted() -> None:
    """A permit issued within an hour, where peers take over a week, is a too-fast whole case."""
    cases = Cases({"speed_too_fast": {"steps": ["paid"]}})
    steps: list[CaseStep] = []
    for n in range(30):
        steps += whole_case(cases, f"P{n}", wib(2, 8, n), timedelta(days=2))
    steps += whole_case(cases, "FAST", wib(23, 8), timedelta(minutes=10))
    _state, alerts = run(steps)
    assert [(alert.case_id, alert.step, alert.evidence["measured"]) for alert in alerts] == [
        ("FAST", "issued", "case")
    ]
    assert alerts[0].alert_id == alert_id(
        Rule.SPEED_TOO_FAST, AGENCY, "FAST", f"{AGENCY}:FAST:5:case"
    )


def test_disabled_rule_raises_nothing() -> None:
    """`enabled: false` turns the rule off for the service."""
    cases = Cases({"speed_too_fast": {"enabled": False}})
    steps = verified_peers(cases)
    steps.append(cases.step("FAST", "submitted", wib(26, 9)))
    steps.append(cases.step("FAST", "verified", wib(26, 9, 10), officer="V2"))
    assert run(steps)[1] == []


def test_state_is_bounded_by_the_window() -> None:
    """Only the latest `window` durations of a step are kept."""
    cases = Cases({"speed_too_fast": {"window": 40}})
    state, _ = run(verified_peers(cases, count=50))
    assert len(state.durations["step:verified"]) == 40


def test_state_round_trips_through_json_and_replays_identically() -> None:
    """The state survives JSON, and a restart from it alerts as an uninterrupted run does."""
    cases = Cases()
    first = verified_peers(cases)
    later = [
        cases.step("FAST", "submitted", wib(26, 9)),
        cases.step("FAST", "verified", wib(26, 9, 10), officer="V2"),
    ]
    state, _ = run(first)
    stored: dict[str, Any] = json.loads(json.dumps(state.to_dict()))
    restored = SpeedState.from_dict(stored)
    assert restored == state
    assert run(later, restored)[1] == run(first + later)[1] != []


@pytest.mark.parametrize(("q", "expected"), [(0.0, 1.0), (0.05, 5.95), (0.5, 50.5), (1.0, 100.0)])
def test_low_quantile_interpolates(q: float, expected: float) -> None:
    """The quantile interpolates linearly between order statistics, whatever the input order."""
    values = [float(v) for v in reversed(range(1, 101))]
    assert low_quantile(values, q) == pytest.approx(expected)


def test_partition_key_is_agency_and_service() -> None:
    """The state is keyed by agency|service."""
    cases = Cases()
    assert speed_key(cases.step("A", "submitted", wib(23)).event) == f"{AGENCY}|pbg"


@given(
    st.lists(
        st.integers(min_value=0, max_value=20)
        | st.floats(min_value=0, max_value=20).map(lambda x: float(round(x))),
        max_size=60,
    ),
    st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=4),
)
def test_the_kept_sorted_window_is_sorted_of_the_window(
    durations: list[float], windows: list[int]
) -> None:
    """Added one by one (a window that shrinks now and then), the kept order is `sorted` of
    the window, value for value and type for type: the quantiles and their alerts' text stay
    those of sorting the window each time."""
    peers: tuple[float, ...] = ()
    kept: tuple[float, ...] = ()
    for index, seconds in enumerate(durations):
        window = (*peers, seconds)[-windows[index % len(windows)] :]
        kept = _sorted_window(kept, peers, seconds, window)
        expected = tuple(sorted(window))
        assert kept == expected
        assert [type(value) for value in kept] == [type(value) for value in expected]
        peers = window


def test_the_kept_order_is_not_stored_and_a_loaded_state_judges_alike() -> None:
    cases = Cases()
    steps = verified_peers(cases, 40)
    state, _ = run(steps)
    name = "step:verified"
    assert state.ordered[name] == tuple(sorted(state.durations[name]))
    loaded = SpeedState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert loaded == state
    assert "ordered" not in state.to_dict()
    fast = (
        cases.step("F1", "submitted", wib(30, 8, 0)),
        cases.step("F1", "verified", wib(30, 8, 5), officer="V1"),
    )
    judged = run(list(fast), state)[1]
    assert [alert.rule for alert in judged] == [Rule.SPEED_TOO_FAST]
    assert judged == run(list(fast), loaded)[1]
