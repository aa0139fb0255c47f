"""queue.jump: given cases of one service moving through their steps, these alerts and no others."""

from __future__ import annotations

import json
from typing import Any

from oversight_scenarios import AGENCY, Cases, observe_all, wib
from pantau.core.alerts import Alert, Category, Rule, alert_id
from pantau_tracker.domain.rulebook.case_step import CaseStep
from pantau_tracker.domain.rulebook.queue import (
    QueueState,
    Waiting,
    _waited_longer_count,
    observe_queue,
    queue_key,
)


def run(steps: list[CaseStep], state: QueueState | None = None) -> tuple[QueueState, list[Alert]]:
    """Feed the steps in order, as the tracker would, collecting every alert."""
    return observe_all(observe_queue, state or QueueState(), steps)


def early_birds(cases: Cases, count: int = 4, day: int = 23) -> list[CaseStep]:
    """`count` cases submitted on the morning of `day` (23 Nov 2026 is a Monday), still waiting."""
    return [cases.step(f"C{n}", "submitted", wib(day, 8, n)) for n in range(count)]


def late_case(cases: Cases, day: int = 26) -> list[CaseStep]:
    """Case LATE submitted at 09:00 on `day` (26 Nov 2026 is a Thursday), verified at 10:00."""
    return [
        cases.step("LATE", "submitted", wib(day, 9)),
        cases.step("LATE", "verified", wib(day, 10), officer="V1"),
    ]


def test_a_late_case_verified_ahead_of_long_waiting_ones_is_a_queue_jump() -> None:
    """A Thursday case verified at once, while four Monday cases wait, is one jump naming them."""
    cases = Cases()
    steps = early_birds(cases)
    steps += late_case(cases)
    _state, alerts = run(steps)
    assert [alert.rule for alert in alerts] == [Rule.QUEUE_JUMP]
    alert = alerts[0]
    assert alert.category is Category.DISCRIMINATION
    assert alert.case_id == "LATE"
    assert alert.step == "verified"
    assert alert.officer_id == "V1"
    assert alert.evidence["overtaken"] == 4
    assert alert.evidence["waited_at"] == "submitted"
    overtaken = alert.evidence["overtaken_cases"]
    assert isinstance(overtaken, list)
    assert [case["case_id"] for case in overtaken if isinstance(case, dict)] == [
        "C0",
        "C1",
        "C2",
        "C3",
    ]
    event_id = f"{AGENCY}:LATE:2"
    assert alert.event_ids == [event_id]
    assert alert.alert_id == alert_id(Rule.QUEUE_JUMP, AGENCY, "LATE", event_id)


def test_first_come_first_served_raises_nothing() -> None:
    """Cases verified in the order they were submitted overtake no one."""
    cases = Cases()
    steps = early_birds(cases)
    steps.append(cases.step("LATE", "submitted", wib(26, 9)))
    steps += [cases.step(f"C{n}", "verified", wib(26, 10, n), officer="V1") for n in range(4)]
    steps.append(cases.step("LATE", "verified", wib(26, 11), officer="V1"))
    assert run(steps)[1] == []


def test_overtaking_within_the_margin_raises_nothing() -> None:
    """Cases that waited only a day longer (less than min_wait, 2 working days) do not count."""
    cases = Cases()
    steps = early_birds(cases)
    steps += late_case(cases, day=24)
    assert run(steps)[1] == []


def test_overtaking_fewer_than_min_positions_raises_nothing() -> None:
    """Overtaking two long-waiting cases is below the three positions required."""
    cases = Cases()
    steps = early_birds(cases, count=2)
    steps += late_case(cases)
    assert run(steps)[1] == []


def paid_waiting(cases: Cases) -> list[CaseStep]:
    """Four cases submitted 16 Nov, verified the next day and paid 23 Nov, awaiting approval."""
    steps: list[CaseStep] = []
    for n in range(4):
        steps.append(cases.step(f"Y{n}", "submitted", wib(16, 8, n)))
        steps.append(cases.step(f"Y{n}", "verified", wib(17, 9, n), officer="V1"))
        steps.append(cases.step(f"Y{n}", "paid", wib(23, 9, n)))
    return steps


def test_passing_later_submitted_cases_is_no_jump() -> None:
    """An earlier-submitted case may pass later-submitted ones that reached the step first."""
    cases = Cases()
    steps = [cases.step("OLD", "submitted", wib(2, 8))]
    steps.append(cases.step("OLD", "verified", wib(3, 9), officer="V1"))
    steps += paid_waiting(cases)
    steps.append(cases.step("OLD", "paid", wib(26, 9)))
    steps.append(cases.step("OLD", "approved", wib(26, 10), officer="H1"))
    assert run(steps)[1] == []


def test_approval_ahead_of_earlier_paid_cases_is_a_jump() -> None:
    """The same passing by a case submitted after them is a jump, at any staff step."""
    cases = Cases()
    steps = paid_waiting(cases)
    steps.append(cases.step("NEW", "submitted", wib(25, 8)))
    steps.append(cases.step("NEW", "verified", wib(25, 9), officer="V1"))
    steps.append(cases.step("NEW", "paid", wib(26, 9)))
    steps.append(cases.step("NEW", "approved", wib(26, 10), officer="H1"))
    assert [(alert.case_id, alert.evidence["waited_at"]) for alert in run(steps)[1]] == [
        ("NEW", "paid")
    ]


def test_catalog_thresholds_are_used() -> None:
    """With min_positions 2 and min_wait 1 working_days, the smaller overtaking is alerted."""
    cases = Cases({"queue_jump": {"min_positions": 2, "min_wait": "1 working_days"}})
    steps = early_birds(cases, count=2)
    steps += late_case(cases, day=24)
    assert [alert.evidence["overtaken"] for alert in run(steps)[1]] == [2]


def test_rejections_clock_stops_and_automatic_steps_are_not_overtaking() -> None:
    """Rejecting a case, stopping its clock or an automatic step moves it without overtaking."""
    cases = Cases({"automatic": ["verified"]})
    steps = early_birds(cases)
    steps += [cases.step(name, "submitted", wib(26, 9)) for name in ("R", "S", "A")]
    steps.append(cases.step("R", "rejected", wib(26, 10), officer="V1", reason="incomplete"))
    steps.append(cases.step("S", "clarification_requested", wib(26, 10), officer="V1"))
    steps.append(cases.step("A", "verified", wib(26, 10)))
    assert run(steps)[1] == []


def test_cases_waiting_for_the_applicant_are_not_in_the_queue() -> None:
    """Cases whose clock is stopped wait for the applicant, so overtaking them is no jump."""
    cases = Cases()
    steps = early_birds(cases)
    steps += [
        cases.step(f"C{n}", "clarification_requested", wib(23, 10, n), officer="V1")
        for n in range(4)
    ]
    steps += late_case(cases)
    state, alerts = run(steps)
    assert alerts == []
    assert "clarification_requested" not in state.waiting


def test_only_the_listed_steps_are_checked() -> None:
    """With `steps: [approved]`, overtaking at verification is not alerted."""
    cases = Cases({"queue_jump": {"steps": ["approved"]}})
    steps = early_birds(cases)
    steps += late_case(cases)
    assert run(steps)[1] == []


def test_disabled_rule_raises_nothing() -> None:
    """`enabled: false` turns the rule off for the service."""
    cases = Cases({"queue_jump": {"enabled": False}})
    steps = early_birds(cases)
    steps += late_case(cases)
    assert run(steps)[1] == []


def test_a_case_moves_from_queue_to_queue() -> None:
    """A case leaves its previous step's queue for its new step's; a terminal step leaves all."""
    cases = Cases()
    state, _ = run([cases.step("A", "submitted", wib(23, 8))])
    assert [w.case_id for w in state.waiting["submitted"]] == ["A"]
    state, _ = run([cases.step("A", "verified", wib(23, 9), officer="V1")], state)
    assert "submitted" not in state.waiting
    assert [w.case_id for w in state.waiting["verified"]] == ["A"]
    state, _ = run([cases.step("A", "rejected", wib(23, 10), officer="V1", reason="x")], state)
    assert state.waiting == {}


def test_a_queue_keeps_at_most_max_waiting_cases() -> None:
    """Beyond max_waiting, the longest waiting cases are forgotten first."""
    cases = Cases({"queue_jump": {"max_waiting": 3}})
    state, _ = run(early_birds(cases, count=5))
    assert [w.case_id for w in state.waiting["submitted"]] == ["C2", "C3", "C4"]


def test_abandoned_cases_are_forgotten() -> None:
    """A case waiting longer than stale_after is dropped at the service's next step."""
    cases = Cases({"queue_jump": {"stale_after": "20 days"}})
    state, _ = run(
        [cases.step("OLD", "submitted", wib(2, 8)), cases.step("MID", "submitted", wib(9, 8))]
    )
    state, _ = run(early_birds(cases, count=1), state)
    assert [w.case_id for w in state.waiting["submitted"]] == ["MID", "C0"]


def test_state_round_trips_through_json_and_replays_identically() -> None:
    """The state survives JSON, and a restart from it alerts as an uninterrupted run does."""
    cases = Cases()
    first = early_birds(cases)
    later = [
        cases.step("LATE", "submitted", wib(26, 9)),
        cases.step("LATE", "verified", wib(26, 10), officer="V1"),
    ]
    state, _ = run(first)
    stored: dict[str, Any] = json.loads(json.dumps(state.to_dict()))
    restored = QueueState.from_dict(stored)
    assert restored == state
    assert run(later, restored)[1] == run(first + later)[1] != []


def test_partition_key_is_agency_and_service() -> None:
    """The state is keyed by agency|service."""
    cases = Cases()
    assert queue_key(cases.step("A", "submitted", wib(23)).event) == f"{AGENCY}|pbg"


def test_a_step_stamped_a_year_ahead_does_not_empty_the_queue() -> None:
    """Cases become stale by the receive time when an event claims a later one: a submission
    dated 2027 by mistake leaves the Monday cases waiting, and the Thursday jump is still seen."""
    cases = Cases()
    steps = early_birds(cases)
    steps.append(cases.step("TYPO", "submitted", wib(24, 9).replace(year=2027)))
    steps += late_case(cases)
    _state, alerts = run(steps)
    assert [(alert.case_id, alert.evidence["overtaken"]) for alert in alerts] == [("LATE", 4)]


def test_the_count_of_cases_that_waited_longer_is_found_at_every_length_and_position() -> None:
    """The search from the head of a queue counts what a scan of the whole queue counts: queues
    of 0 to 40 cases, one submitted every working hour, and a case that began waiting before,
    between and after each of them."""
    cases = Cases()
    step = cases.step("LATE", "verified", wib(30, 10), officer="V1")
    min_wait = step.policy.queue_jump.min_wait
    starts = [wib(16 + n // 8, 8 + n % 8) for n in range(40)]  # Mon 16 Nov 2026 onwards
    for size in (0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 40):
        queue = tuple(Waiting(f"C{n}", at, at) for n, at in enumerate(starts[:size]))
        for own_since in [wib(13), *starts, wib(30, 17)]:
            scanned = 0
            for entry in queue:
                due = step.calendar.deadline(entry.since, min_wait)
                if due is None or due > own_since:
                    break
                scanned += 1
            assert _waited_longer_count(step, queue, own_since) == scanned, (size, own_since)
