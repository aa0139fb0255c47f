"""sla.clock_reset_abuse: given a case's clock stops, these alerts and no others."""

from __future__ import annotations

from oversight_scenarios import AGENCY, NOW, Cases, wib
from pantau.core.alerts import Alert, Category, Rule, alert_id
from pantau.core.durations import Duration, DurationUnit
from pantau_tracker.domain.rulebook.case_step import CaseStep, RunningLimit
from pantau_tracker.domain.rulebook.clock import check_clock_reset

REASON = "dokumen kurang"


def run(steps: list[CaseStep]) -> list[Alert]:
    """Check every step in order, collecting every alert."""
    return [alert for step in steps for alert in check_clock_reset(step, NOW)]


def stop_and_resume(cases: Cases, case_id: str, day: int, month: int = 11) -> list[CaseStep]:
    """A clarification asked (with a reason) at 9:00 on `day` and answered at 14:00."""
    return [
        cases.step(
            case_id,
            "clarification_requested",
            wib(day, 9, month=month),
            officer="V1",
            reason=REASON,
        ),
        cases.step(case_id, "clarification_received", wib(day, 14, month=month)),
    ]


def test_a_third_stop_is_one_too_many() -> None:
    """Two clock stops are allowed (max_stops 2); the third is alerted."""
    cases = Cases()
    steps = [cases.step("A", "submitted", wib(2, 8))]
    for day in (3, 5, 9):
        steps += stop_and_resume(cases, "A", day)
    alerts = run(steps)
    assert [(alert.rule, alert.case_id, alert.step) for alert in alerts] == [
        (Rule.SLA_CLOCK_RESET_ABUSE, "A", "clarification_requested")
    ]
    alert = alerts[0]
    assert alert.category is Category.UNDUE_DELAY
    assert alert.evidence == {"stop_number": 3, "max_stops": 2}
    assert alert.alert_id == alert_id(Rule.SLA_CLOCK_RESET_ABUSE, AGENCY, "A", f"{AGENCY}:A:6")


def test_a_stop_in_the_last_fifth_of_the_case_sla_is_alerted() -> None:
    """Stopping the clock two working days before a 28-working-day limit runs out is late."""
    cases = Cases()
    steps = [cases.step("A", "submitted", wib(2, 8)), *stop_and_resume(cases, "A", 8, month=12)]
    alerts = run(steps)
    assert len(alerts) == 1
    late = alerts[0].evidence["late"]
    assert isinstance(late, list)
    assert len(late) == 1
    assert isinstance(late[0], dict)
    assert late[0]["limit"] == "case"
    assert late[0]["sla"] == "28 working_days"
    assert isinstance(late[0]["remaining"], float)
    assert 0 < late[0]["remaining"] <= 0.2


def test_an_early_stop_with_a_reason_is_fine() -> None:
    """One stop a week into the case, with a reason, is ordinary clarification."""
    cases = Cases()
    assert run([cases.step("A", "submitted", wib(2, 8)), *stop_and_resume(cases, "A", 10)]) == []


def test_a_stop_after_the_deadline_is_not_late() -> None:
    """A stop after the limit ran out cannot save that deadline (the overdue rule reports it)."""
    cases = Cases()
    steps = [cases.step("A", "submitted", wib(2, 8)), *stop_and_resume(cases, "A", 15, month=12)]
    assert run(steps) == []


def test_a_stop_late_in_a_running_step_limit_is_alerted() -> None:
    """A step limit the tracker passes as running counts like the case's own limit."""
    cases = Cases()
    cases.step("A", "submitted", wib(23, 8))
    verification = RunningLimit("verified", wib(23, 8), Duration(3, DurationUnit.WORKING_DAYS))
    stop = cases.step(
        "A",
        "clarification_requested",
        wib(25, 15),
        officer="V1",
        reason=REASON,
        awaiting=(verification,),
    )
    alerts = run([stop])
    assert len(alerts) == 1
    late = alerts[0].evidence["late"]
    assert isinstance(late, list)
    assert isinstance(late[0], dict)
    assert late[0]["limit"] == "verified"


def test_a_stop_without_a_reason_is_alerted() -> None:
    """A clock stop that gives no reason, or only blanks, is alerted."""
    cases = Cases()
    cases.step("A", "submitted", wib(2, 8))
    cases.step("B", "submitted", wib(2, 8))
    steps = [
        cases.step("A", "clarification_requested", wib(3, 9), officer="V1"),
        cases.step("B", "clarification_requested", wib(3, 9), officer="V1", reason="   "),
    ]
    alerts = run(steps)
    assert [(alert.case_id, alert.evidence) for alert in alerts] == [
        ("A", {"reason_missing": True}),
        ("B", {"reason_missing": True}),
    ]


def test_catalog_settings_are_used() -> None:
    """With max_stops 0 every stop is too many; with reason_required false a bare stop is fine."""
    strict = Cases({"clock_reset": {"max_stops": 0}})
    strict.step("A", "submitted", wib(2, 8))
    assert len(run(stop_and_resume(strict, "A", 3))) == 1
    lenient = Cases({"clock_reset": {"reason_required": False}})
    lenient.step("A", "submitted", wib(2, 8))
    assert run([lenient.step("A", "clarification_requested", wib(3, 9), officer="V1")]) == []


def test_other_steps_and_a_disabled_rule_raise_nothing() -> None:
    """Only clock-stop steps are judged, and `enabled: false` turns the rule off."""
    cases = Cases()
    steps = [cases.step("A", "submitted", wib(2, 8)), cases.step("A", "verified", wib(3, 9))]
    assert run(steps) == []
    off = Cases({"clock_reset": {"enabled": False}})
    off.step("A", "submitted", wib(2, 8))
    assert run([off.step("A", "clarification_requested", wib(3, 9), officer="V1")]) == []
