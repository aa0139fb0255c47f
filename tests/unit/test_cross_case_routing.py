"""Routing applied steps to the cross-case rules: the step record and the rule table as data."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from oversight_scenarios import AGENCY, NOW, Cases, wib
from pantau.core.alerts import Alert
from pantau.core.durations import Duration, DurationUnit
from pantau.oversight.case_step import CaseStep, RunningLimit, case_step_from_dict
from pantau.oversight.queue import observe_queue
from pantau.oversight.rules import CASE_RULES, QUEUE, SPEED, STATEFUL_RULES, route_key


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
    for offset, step in enumerate(steps):
        assert QUEUE.key(step.event) == f"{AGENCY}|pbg"
        stored, raised = QUEUE.apply(stored, through_json(step), NOW, (0, offset))
        stored = json.loads(json.dumps(stored))
        via_table.extend(raised)
    state = QUEUE.empty()
    direct: list[Alert] = []
    for step in steps:
        state, raised = observe_queue(state, step, NOW)
        direct.extend(raised)
    assert via_table == direct != []


def test_a_redelivered_step_changes_nothing_and_gives_the_same_alerts() -> None:
    """A redelivered step leaves the record as it was and gives its first alerts again."""
    cases = Cases()
    steps = [cases.step(f"C{n}", "submitted", wib(23, 8, n)) for n in range(4)]
    steps.append(cases.step("LATE", "submitted", wib(26, 9)))
    jump = cases.step("LATE", "verified", wib(26, 10), officer="V1")
    stored: dict[str, Any] | None = None
    for offset, step in enumerate(steps):
        stored, _ = QUEUE.apply(stored, step, NOW, (3, offset))
    stored, first = QUEUE.apply(stored, jump, NOW, (3, 40))
    later = NOW + timedelta(hours=1)
    again_record, again = QUEUE.apply(json.loads(json.dumps(stored)), jump, later, (3, 40))
    assert again == first != []
    assert again_record == stored
    quiet_record, quiet = QUEUE.apply(stored, steps[2], later, (3, 2))
    assert quiet == []
    assert quiet_record == stored


def test_a_redelivered_duration_is_not_counted_twice() -> None:
    """Speed samples are not doubled by a redelivery."""
    cases = Cases()
    cases.step("A", "submitted", wib(23, 8))
    verified = cases.step("A", "verified", wib(24, 9), officer="V1")
    stored, _ = SPEED.apply(None, verified, NOW, (0, 7))
    stored, _ = SPEED.apply(stored, verified, NOW, (0, 7))
    assert stored["state"]["durations"]["step:verified"] == [pytest.approx(9.5 * 3600)]


def test_a_step_redelivered_after_thousands_of_others_on_a_busy_key_is_still_recognised() -> None:
    """The record keeps one offset per partition, so a busy service's queue recognises an old
    step however many others were folded in since, and the record does not grow with them."""
    cases = Cases()
    first = cases.step("C0", "submitted", wib(23, 8))
    stored, _ = QUEUE.apply(None, first, NOW, (5, 100))
    for n in range(1, 3000):
        step = cases.step(f"C{n}", "submitted", wib(23, 8))
        stored, _ = QUEUE.apply(stored, step, NOW, (n % 12, 100 + n))
    before = json.loads(json.dumps(stored))
    again_record, again = QUEUE.apply(stored, first, NOW, (5, 100))
    assert again == []
    assert again_record == before
    assert len(stored["applied"]) == 12
    assert len(json.dumps(stored["applied"])) < 200


def test_steps_of_other_partitions_are_not_mistaken_for_redeliveries() -> None:
    """A lower offset of another partition is a new step: offsets are per partition."""
    cases = Cases()
    stored, _ = QUEUE.apply(None, cases.step("A", "submitted", wib(23, 8)), NOW, (0, 900))
    stored, _ = QUEUE.apply(stored, cases.step("B", "submitted", wib(23, 9)), NOW, (1, 3))
    assert stored["applied"] == {"0": 900, "1": 3}
    waiting = json.dumps(stored["state"])
    assert '"A"' in waiting
    assert '"B"' in waiting


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
