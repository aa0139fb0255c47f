"""Alerts of Pantau's own detectors are built unvalidated; they must equal validated ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pantau.core.alerts import Alert, Rule, detector_alert, make_alert
from pantau.core.events import event_key
from pantau_tracker.domain.batches import (
    CaseBatch,
    RuleBatch,
    hand_over_value,
)
from pantau_tracker.domain.ordering import (
    END_OF_TIME,
    PROGRESS_KEY,
    StepOrder,
    progress_value,
)
from pantau_tracker.domain.standards import Standards, TrackerPolicy
from tracker_harness import DictTable, case_table, rule_tables, sample_catalog, scenario_stream

WIB = timezone(timedelta(hours=7))


ARGUMENTS: list[dict[str, Any]] = [
    {
        "rule": Rule.DUTY_SAME_OFFICER,
        "agency": "kota-malang.dpmptsp",
        "service": "pbg",
        "case_id": "PBG-2026-000123",
        "trigger": "evt-9",
        "detected_at": datetime(2026, 11, 27, 10, 2, 1, 120_999, tzinfo=WIB),
        "message": "Officer OFC-1 approved his own verification\nsecond line",
        "step": "approved",
        "officer_id": "OFC-1",
        "occurred_at": datetime(2026, 11, 27, 9, 15, 0, 250_000, tzinfo=WIB),
        "evidence": {"steps": ["verified", "approved"], "nested": {"n": 1, "x": None}},
        "event_ids": ["evt-3", "evt-9"],
    },
    {
        "rule": "sla.case_overdue",
        "agency": "kota-malang.dpmptsp",
        "service": "pbg",
        "case_id": "PBG-2026-000124",
        "trigger": "case",
        "detected_at": datetime(2026, 12, 1, tzinfo=UTC),
        "message": "Case not closed within 28 working_days",
    },
]


@pytest.mark.parametrize("arguments", ARGUMENTS, ids=["every field", "fewest fields"])
def test_detector_alert_equals_the_validated_alert(arguments: dict[str, Any]) -> None:
    """The same arguments give an equal alert, with the same JSON, validated or not."""
    checked = make_alert(**arguments)
    built = detector_alert(**arguments)
    assert built == checked
    assert built.to_json_bytes() == checked.to_json_bytes()
    assert Alert.from_json_bytes(built.to_json_bytes()) == built


def test_detector_alert_refuses_a_naive_time() -> None:
    """A naive time has no instant: refused, as validation would."""
    arguments = ARGUMENTS[1] | {"detected_at": datetime(2026, 12, 1)}
    with pytest.raises(ValueError, match="aware"):
        detector_alert(**arguments)


def test_every_alert_the_detectors_raise_is_a_valid_alert() -> None:
    """Every alert of a run of every kind of case, per-case and cross-case, validates to itself:
    the detectors give only what validation would have accepted, unchanged."""
    catalog = sample_catalog()
    standards = Standards(catalog, TrackerPolicy())
    cases = case_table(10_000)
    rules = rule_tables(100)
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    alerts: list[Alert] = []
    documents = scenario_stream(120, start, "det")
    fold = CaseBatch(catalog, standards, cases)
    for offset, document in enumerate(documents):
        key = event_key(document["agency"], document["case_id"])
        received = datetime.fromisoformat(document["occurred_at"]) + timedelta(minutes=5)
        fold.event(key, json.dumps(document).encode(), 0, offset, received)
    outcome = fold.finish()
    alerts += [alert for _, alert in outcome.alerts]
    order_port = DictTable()
    rule_fold = RuleBatch(standards, rules, StepOrder(1, order_port.get))
    rule_fold.record(b"route", hand_over_value([h.entry for h in outcome.hand_overs]), 0)
    rule_fold.record(PROGRESS_KEY, progress_value({0: END_OF_TIME}), 0)  # all read: release
    alerts += [alert for _, alert in rule_fold.finish().alerts]
    later = CaseBatch(catalog, standards, cases)
    for key, write in outcome.writes.items():
        if write.state is not None:
            cases.save(key, write.partition, write.state, write.stored)
            later.check(key, None, write.partition, start + timedelta(days=120))
    alerts += [alert for _, alert in later.finish().alerts]

    raised = {alert.rule.value for alert in alerts}
    # Per-case, cross-case and timer-driven detectors, ten rules in all.
    assert {"duty.same_officer", "officer.burst", "sla.case_overdue"} <= raised, raised
    assert len(raised) >= 10, raised
    for alert in alerts:
        assert Alert.model_validate(alert.model_dump()) == alert, alert.rule
        assert Alert.from_json_bytes(alert.to_json_bytes()) == alert, alert.rule
