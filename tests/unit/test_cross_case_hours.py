"""time.off_hours: staff steps outside the agency's working hours or on days off, and no others."""

from __future__ import annotations

from oversight_scenarios import AGENCY, NOW, Cases, wib
from pantau.core.alerts import Alert, Category, Rule, alert_id
from pantau_tracker.domain.rulebook.case_step import CaseStep
from pantau_tracker.domain.rulebook.hours import check_off_hours


def run(steps: list[CaseStep]) -> list[Alert]:
    """Check every step in order, collecting every alert."""
    return [alert for step in steps for alert in check_off_hours(step, NOW)]


def verified_at(
    cases: Cases, case_id: str, day: int, hour: int, minute: int = 0, month: int = 11
) -> CaseStep:
    """Case `case_id` submitted early that day and verified by officer V1 at the given time."""
    cases.step(case_id, "submitted", wib(day, 0, 5, month=month))
    return cases.step(case_id, "verified", wib(day, hour, minute, month=month), officer="V1")


def test_a_verification_at_night_is_off_hours() -> None:
    """An officer verifying at 21:00 on a Monday is alerted, with the local time as evidence."""
    cases = Cases()
    alerts = run([verified_at(cases, "A", 23, 21)])
    assert [(alert.rule, alert.case_id, alert.officer_id) for alert in alerts] == [
        (Rule.TIME_OFF_HOURS, "A", "V1")
    ]
    alert = alerts[0]
    assert alert.category is Category.IMPROPRIETY
    assert alert.evidence["local_time"] == "2026-11-23T21:00:00+07:00"
    assert alert.evidence["working_day"] is True
    assert alert.alert_id == alert_id(Rule.TIME_OFF_HOURS, AGENCY, "A", f"{AGENCY}:A:2")


def test_weekends_holidays_and_days_off_are_off_hours() -> None:
    """Work on a Saturday, on Christmas Day and on a declared day off is alerted at any hour."""
    cases = Cases()
    steps = [
        verified_at(cases, "SAT", 28, 10),
        verified_at(cases, "XMAS", 25, 10, month=12),
        verified_at(cases, "CUTI", 24, 10, month=12),
    ]
    alerts = run(steps)
    assert [(alert.case_id, alert.evidence["working_day"]) for alert in alerts] == [
        ("SAT", False),
        ("XMAS", False),
        ("CUTI", False),
    ]


def test_office_hours_and_the_grace_period_raise_nothing() -> None:
    """Work in office hours, or within 30 minutes of opening or closing, is ordinary."""
    cases = Cases()
    steps = [
        verified_at(cases, "NOON", 23, 12),
        verified_at(cases, "LATE", 23, 16, 25),
        verified_at(cases, "EARLY", 24, 7, 5),
        verified_at(cases, "FRIDAY", 27, 16, 45),
    ]
    assert run(steps) == []


def test_the_grace_comes_from_the_catalog() -> None:
    """With `grace: 10 minutes`, 16:25 on a Monday is off hours."""
    cases = Cases({"off_hours": {"grace": "10 minutes"}})
    assert len(run([verified_at(cases, "A", 23, 16, 25)])) == 1


def test_applicants_and_systems_may_act_at_any_hour() -> None:
    """Submissions, payments (even with a cashier named) and automatic steps are not staff work."""
    cases = Cases({"automatic": ["issued"]})
    steps = [
        cases.step("A", "submitted", wib(23, 23)),
        cases.step("A", "verified", wib(24, 9), officer="V1"),
        cases.step("A", "paid", wib(29, 11), officer="CASHIER"),
        cases.step("A", "approved", wib(30, 10), officer="H1"),
        cases.step("A", "issued", wib(30, 22), officer="SYSTEM"),
    ]
    assert run(steps) == []


def test_disabled_rule_raises_nothing() -> None:
    """`enabled: false` turns the rule off for the service."""
    cases = Cases({"off_hours": {"enabled": False}})
    assert run([verified_at(cases, "A", 23, 21)]) == []
