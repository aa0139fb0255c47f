"""The cross-case rules in the running tracker: each of the six raised on the case it concerns,
through the re-keyed oversight topic and the rule tables, with state that survives kill -9.

The cases happen on fixed dates (late November and early December 2026) and are sent as
`backfill` records, so the receive time does not matter; one partition keeps the order across
cases the scenario is written in (tests/integration/test_tracker.py checks twelve partitions
against a fresh fold).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from oversight_scenarios import AGENCY, CATALOG, wib
from pantau.core.alerts import CROSS_CASE_RULES
from pantau.core.catalog import load_catalog
from pantau.settings import TopicNames
from tracker_harness import (
    TrackerProcess,
    alerts_in,
    consumer_lag,
    fold_oversight,
    fresh_topics,
    handed_over,
    publish,
    read_topic,
    wait_nothing_held,
)

# Small thresholds, so that a scenario of a few dozen events shows each rule.
OVERSIGHT = {
    "queue_jump": {"min_positions": 2, "min_wait": "1 working_days"},
    "speed_too_fast": {
        "quantile": 0.2,
        "factor": 0.5,
        "min_samples": 5,
        "window": 20,
        "steps": ["verified"],
        "whole_case": False,
    },
    "officer_burst": {"max_steps": 3, "window": "30 minutes", "steps": ["verified"]},
    "applicant_broker": {"max_applicants": 2, "window": "30 days"},
    "clock_reset": {"max_stops": 1},
    "off_hours": {"grace": "30 minutes"},
}


class Scenario:
    """Events of the scenario catalog's services, numbered per case."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.events: list[dict[str, Any]] = []
        self._seq: dict[str, int] = {}

    def case_id(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def add(
        self,
        name: str,
        step: str,
        at: Any,
        *,
        officer: str | None = None,
        role: str = "verifier",
        service: str = "pbg",
        **extra: Any,
    ) -> None:
        seq = self._seq[name] = self._seq.get(name, 0) + 1
        event: dict[str, Any] = {
            "event_id": f"{AGENCY}:{self.case_id(name)}:{seq}",
            "agency": AGENCY,
            "service": service,
            "case_id": self.case_id(name),
            "step": step,
            "occurred_at": at.isoformat(),
            "seq": seq,
            "mode": "backfill",
            **extra,
        }
        if officer is not None:
            event["officer"] = {"id": officer, "role": role}
        self.events.append(event)


def scenario(tag: str) -> tuple[Scenario, int, dict[str, set[str]]]:
    """The events, where a restart goes, and the cross-case rules each case must raise."""
    s = Scenario(tag)
    # Six honest peers take about a working day to verify; three of them are verified by one
    # busy but honest officer, three within 30 minutes (the limit, not above it).
    for n in range(1, 7):
        s.add(f"S{n}", "submitted", wib(23, 8, n), applicant={"ref": f"k1:s{n}"})
    for n in range(1, 7):
        officer = "V-busy" if n <= 3 else f"V{n}"
        s.add(f"S{n}", "verified", wib(24, 9, 9 * n), officer=officer)
    # A free counter service done in minutes: fast by design, never measured.
    for n in range(1, 9):
        s.add(f"L{n}", "submitted", wib(24, 10, n), service="legalisir")
        s.add(
            f"L{n}",
            "stamped",
            wib(24, 10, 5 + n),
            service="legalisir",
            officer=f"K{n}",
            role="clerk",
        )
        s.add(f"L{n}", "issued", wib(24, 10, 20 + n), service="legalisir")
    # S7 is verified ten minutes after it was filed: far below its peers.
    s.add("S7", "submitted", wib(25, 9), applicant={"ref": "k1:s7"})
    s.add("S7", "verified", wib(25, 9, 10), officer="V7")
    restart = len(s.events)
    # Q1 and Q2 wait from Wednesday; Q3, filed on Friday, is verified before them.
    s.add("Q1", "submitted", wib(25, 8), applicant={"ref": "k1:q1"})
    s.add("Q2", "submitted", wib(25, 8, 1), applicant={"ref": "k1:q2"})
    s.add("Q3", "submitted", wib(27, 8), applicant={"ref": "k1:q3"})
    s.add("Q3", "verified", wib(27, 13, 30), officer="V8")
    s.add("Q1", "verified", wib(27, 14), officer="V9")
    s.add("Q2", "verified", wib(27, 14, 5), officer="V10")
    # One officer verifies four files within fifteen minutes: the fourth makes the burst.
    for n in range(1, 5):
        s.add(f"R{n}", "submitted", wib(27, 9, n), applicant={"ref": f"k1:r{n}"})
    for n in range(1, 5):
        s.add(f"R{n}", "verified", wib(30, 10, 5 * (n - 1)), officer="B1")
    # One representative files for three applicants; another files twice for one.
    for n in range(1, 4):
        attributes = {"representative_ref": "k1:notaris-7c20"}
        s.add(
            f"N{n}",
            "submitted",
            wib(1, 8, n, month=12),
            applicant={"ref": f"k1:n{n}"},
            attributes=attributes,
        )
    for n in range(1, 3):
        attributes = {"representative_ref": "k1:keluarga-19aa"}
        s.add(
            f"F{n}",
            "submitted",
            wib(1, 8, 10 + n, month=12),
            applicant={"ref": "k1:f"},
            attributes=attributes,
        )
    # C1 stops its clock a second time; C2 stops it without a reason.
    s.add("C1", "submitted", wib(1, 8, 20, month=12), applicant={"ref": "k1:c1"})
    s.add(
        "C1", "clarification_requested", wib(1, 9, month=12), officer="V11", reason="kurang gambar"
    )
    s.add("C1", "clarification_received", wib(1, 10, month=12))
    s.add("C1", "verified", wib(2, 8, month=12), officer="V11")
    s.add("C1", "clarification_requested", wib(2, 9, month=12), officer="V12", reason="lagi")
    s.add("C2", "submitted", wib(1, 8, 21, month=12), applicant={"ref": "k1:c2"})
    s.add("C2", "clarification_requested", wib(1, 9, 30, month=12), officer="V13")
    # H1 is verified at eight in the evening.
    s.add("H1", "submitted", wib(1, 7, 45, month=12), applicant={"ref": "k1:h1"})
    s.add("H1", "verified", wib(1, 20, month=12), officer="V14")
    expected = {
        "S7": {"speed.too_fast"},
        "Q3": {"queue.jump"},
        "R4": {"officer.burst"},
        "N3": {"applicant.broker"},
        "C1": {"sla.clock_reset_abuse"},
        "C2": {"sla.clock_reset_abuse"},
        "H1": {"time.off_hours"},
    }
    return s, restart, {s.case_id(name): rules for name, rules in expected.items()}


@pytest.fixture
def stack(local_servers: None) -> Iterator[dict[str, str]]:
    """An isolated prefix with its contract topics, one partition each."""
    with fresh_topics(partitions=1) as env:
        yield env


def cross_case(records: list[Any], tag: str) -> dict[str, set[str]]:
    """The cross-case rules raised per case of this scenario."""
    found: dict[str, set[str]] = {}
    for alert in alerts_in(records):
        if alert.case_id.startswith(tag) and alert.rule.value in CROSS_CASE_RULES:
            found.setdefault(alert.case_id, set()).add(alert.rule.value)
    return found


def wait_until_handled(env: dict[str, str], workers: list[TrackerProcess]) -> None:
    """Until every event and every hand-over is committed by the workers' groups, and judged."""
    names = TopicNames(env["PANTAU_TOPIC_PREFIX"])
    split = len(workers) > 1
    lags = [
        (names.group("tracker"), names.events),
        (names.group("tracker-rules" if split else "tracker"), names.prefix + "tracker-oversight"),
    ]
    deadline = time.monotonic() + 60
    for group, topic in lags:
        while consumer_lag(group, topic):
            assert time.monotonic() < deadline, "\n".join(w.log_tail() for w in workers)
            time.sleep(0.3)
    wait_nothing_held(workers, timeout=max(5.0, deadline - time.monotonic()))


def start_workers(
    env: dict[str, str], roles: tuple[str, ...], folder: Path
) -> list[TrackerProcess]:
    workers = [
        TrackerProcess(
            {**env, "PANTAU_TRACKER_ROLE": role},
            folder / f"state-{role}",
            folder / f"tracker-{role}.log",
        ).start()
        for role in roles
    ]
    for worker in workers:
        worker.wait_ready()
    return workers


@pytest.mark.parametrize("roles", [("all",), ("cases", "rules")], ids=["one-worker", "split"])
def test_each_cross_case_rule_fires_on_its_case_and_survives_a_kill_9(
    stack: dict[str, str], tmp_path: Path, roles: tuple[str, ...]
) -> None:
    """Six rules, seven cases: each alerted once on the case it concerns, none on the honest
    ones (a busy officer at the limit, a free instant service, a family filing twice), with
    the state of queues, peers, officers and representatives carried across a kill -9 of every
    worker; the same with the rules in a worker of their own."""
    tag = uuid.uuid4().hex[:6]
    events, restart, expected = scenario(tag)
    assert set(expected) <= {event["case_id"] for event in events.events}
    folder = tmp_path / "catalog"
    folder.mkdir()
    data = json.loads(json.dumps(CATALOG))
    data["services"][0]["oversight"] = OVERSIGHT
    (folder / "scenario.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**stack, "PANTAU_CATALOG": str(folder), "PANTAU_TRACKER_BACKFILL_SETTLE_S": "86400"}
    names = TopicNames(env["PANTAU_TOPIC_PREFIX"])

    workers = start_workers(env, roles, tmp_path)
    try:
        publish(events.events[:restart], names.events)
        wait_until_handled(env, workers)
        for worker in workers:
            worker.kill()
        workers = start_workers(env, roles, tmp_path)
        publish(events.events[restart:], names.events)
        wait_until_handled(env, workers)
    finally:
        for worker in workers:
            worker.stop()

    alerts = read_topic(names.alerts, timeout=3)
    assert cross_case(alerts, tag) == expected, workers[-1].log_tail()
    raised = [a for a in alerts_in(alerts) if a.rule.value in CROSS_CASE_RULES]
    # One alert per case, however often the rules saw its step (redelivery after the kill).
    assert len({a.alert_id for a in raised}) == len(expected)
    # The oversight topic holds every event applied, and replayed through the pure rules it
    # gives exactly the stateful rules' alerts that were published.
    handed = read_topic(names.prefix + "tracker-oversight", timeout=3)
    assert len(handed_over(handed)) == len(events.events)
    stateful = fold_oversight(handed, load_catalog(folder))
    published = {a.alert_id: a.to_json_bytes() for a in raised}
    assert {k: v for k, v in published.items() if k in stateful} == stateful
    burst = next(a for a in raised if a.rule.value == "officer.burst")
    assert burst.evidence["completed"] == 4
    assert burst.officer_id == "B1"
