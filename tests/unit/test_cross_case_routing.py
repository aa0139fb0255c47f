"""Routing applied steps to the cross-case rules: the step record and the rule table as data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oversight_scenarios import AGENCY, NOW, Cases, wib
from pantau.core.alerts import Alert
from pantau.core.durations import Duration, DurationUnit
from pantau_tracker.domain.rulebook import CASE_RULES, QUEUE, STATEFUL_RULES, route_key
from pantau_tracker.domain.rulebook.case_step import CaseStep, RunningLimit, case_step_from_dict
from pantau_tracker.domain.rulebook.queue import observe_queue


def through_json(step: CaseStep) -> CaseStep:
    """The step as a repartition topic would carry it, read back."""
    data: dict[str, Any] = json.loads(json.dumps(step.to_dict()))
    return case_step_from_dict(data, step.service, step.calendar)


def test_a_case_step_round_trips_through_json() -> None:
    """Event, previous step and times, clock stops and running limits all survive."""
    cases = Cases()
    cases.step("A", "submitted", wib(23, 8))
    cases.step("A", "clarification_requested", wib(23, 9), officer="V1", reason="kurang")
    cases.step("A", "clarification_received", wib(24, 9))
    limit = RunningLimit("verified", wib(24, 9), Duration(3, DurationUnit.WORKING_DAYS))
    step = cases.step("A", "clarification_requested", wib(25, 9), officer="V1", awaiting=(limit,))
    assert step.stops
    assert step.stop_count == 1
    assert through_json(step) == step


def test_a_first_step_round_trips_through_json() -> None:
    """A case's first event, with nothing before it, survives too."""
    step = Cases().step("A", "submitted", wib(23, 8), applicant="k1:x")
    assert through_json(step) == step


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("stop_count", -1, "stop_count must be a whole number"),
        ("previous_step", 3, "previous_step must be a step code or null"),
        ("previous_at", "yesterday", "RFC 3339"),
        ("event", "{}", "validation error"),
    ],
)
def test_a_malformed_case_step_is_refused(field: str, value: object, message: str) -> None:
    """A record that is not what to_dict gives raises ValueError saying what is wrong."""
    step = Cases().step("A", "submitted", wib(23, 8))
    data = step.to_dict() | {field: value}
    with pytest.raises(ValueError, match=message):
        case_step_from_dict(data, step.service, step.calendar)


def test_stateful_rules_have_unique_names_and_cover_their_rules() -> None:
    """Each stateful rule has its own table name; with the case rules they are all six."""
    names = [rule.name for rule in STATEFUL_RULES]
    assert len(set(names)) == len(names)
    rules = {rule_id for rule in STATEFUL_RULES for rule_id in rule.rules}
    assert rules == {"queue.jump", "speed.too_fast", "officer.burst", "applicant.broker"}
    assert len(CASE_RULES) == 2


def test_apply_through_stored_data_matches_the_pure_fold() -> None:
    """Keeping the state as stored data between steps alerts as folding it directly does."""
    cases = Cases()
    steps = [cases.step(f"C{n}", "submitted", wib(23, 8, n)) for n in range(4)]
    steps.append(cases.step("LATE", "submitted", wib(26, 9)))
    steps.append(cases.step("LATE", "verified", wib(26, 10), officer="V1"))
    stored: dict[str, Any] | None = None
    via_table: list[Alert] = []
    for step in steps:
        assert QUEUE.key(step.event) == f"{AGENCY}|pbg"
        stored, raised = QUEUE.apply(stored, through_json(step), NOW)
        stored = json.loads(json.dumps(stored))
        via_table.extend(raised)
    state = QUEUE.empty()
    direct: list[Alert] = []
    for step in steps:
        state, raised = observe_queue(state, step, NOW)
        direct.extend(raised)
    assert via_table == direct != []


def test_every_state_key_starts_with_the_service_it_is_routed_by() -> None:
    """All four stateful rules keep their state under keys of the step's service, so one
    record per step, keyed by the service, reaches every state it changes on one partition."""
    cases = Cases()
    cases.step(
        "A", "submitted", wib(23, 8), applicant="k1:a", attributes={"representative_ref": "k1:r"}
    )
    step = cases.step("A", "verified", wib(24, 9), officer="V1")
    first = Cases().step(
        "B", "submitted", wib(23, 8), applicant="k1:b", attributes={"representative_ref": "k1:r"}
    )
    keys = [rule.key(s.event) for rule in STATEFUL_RULES for s in (step, first)]
    assert {key for key in keys if key is not None} == {
        f"{AGENCY}|pbg",
        f"{AGENCY}|pbg|V1",
        f"{AGENCY}|pbg|k1:r",
    }
    for key in keys:
        assert key is None or key.startswith(route_key(step.event))
