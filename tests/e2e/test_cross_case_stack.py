"""The cross-case rules judged through a running tracker against the simulator's truth.

`pantau simulate` sends a history with every rule planted to a tracker; `pantau evaluate` then
scores the alerts topic per rule: the bar is precision and recall 1.0 for every cross-case rule
but `speed.too_fast` (recall >= 0.95 and precision >= 0.9, a statistical rule), and the
contract's rules stay at 1.0 beside them.

The production layout: twelve partitions, and a backlog. The tracker runs, stops, and stays down
for a minute while the whole history is sent as fast as the broker takes it; started again, it
reads twelve partitions' worth of backlog in whatever order the fetches give. The cross-case
rules still judge the steps of different cases in the order they happened (event-time order
behind the watermark, docs/contract-extensions.md, section 4).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacks import pantau_cli
from tracker_harness import (
    TrackerProcess,
    consumer_lag,
    fresh_topics,
    wait_nothing_held,
)

REPO = Path(__file__).resolve().parents[2]
CASES = 700
OUTAGE_S = 60


@pytest.fixture(scope="module")
def stack(local_servers: None) -> Iterator[dict[str, str]]:
    """A fresh prefix whose topics have twelve partitions, as in production."""
    with fresh_topics(partitions=12) as env:
        yield {
            **env,
            "PANTAU_CATALOG": str(REPO / "catalog"),
            "PANTAU_LOG_LEVEL": "WARNING",
            "PANTAU_TRACKER_ALLOWED_LATENESS_S": "120",  # the production default
        }


@pytest.mark.timeout(600)
def test_planted_cross_case_anomalies_are_found_through_the_stack_after_a_backlog(
    stack: dict[str, str], tmp_path: Path
) -> None:
    """Every planted queue jump, burst, broker episode, clock-stop abuse and off-hours step is
    alerted on its case and nothing else is; speed.too_fast meets its statistical bar; every
    deemed approval, its warning and a rejection after it too: on twelve partitions, from a
    backlog sent in bursts while the tracker was down."""
    worker = TrackerProcess(stack, tmp_path / "state", tmp_path / "tracker.log").start()
    worker.wait_ready()
    worker.stop()
    down_since = time.monotonic()
    truth = tmp_path / "truth.jsonl"
    sent = pantau_cli(
        stack, "simulate", "--cases", str(CASES), "--seed", "11", "--anomaly-rate", "0.4",
        "--truth", str(truth), "--via", "kafka",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    prefix = stack["PANTAU_TOPIC_PREFIX"]
    assert consumer_lag(f"{prefix}tracker", prefix + "events") > CASES, "no backlog"
    time.sleep(max(0.0, down_since + OUTAGE_S - time.monotonic()))
    worker.start()
    try:
        deadline = time.monotonic() + 180
        for topic in ("events", "tracker-oversight"):
            while consumer_lag(f"{prefix}tracker", prefix + topic):
                assert time.monotonic() < deadline, f"the tracker did not take in {topic}"
                time.sleep(1)
        wait_nothing_held([worker], timeout=max(10.0, deadline - time.monotonic()))
        _judge(stack, truth)
    finally:
        worker.stop()


def _judge(tracker: dict[str, str], truth: Path) -> None:

    def judged(rules: str, precision: float, recall: float) -> str:
        result = pantau_cli(
            tracker, "evaluate", "--truth", str(truth), "--idle", "5", "--rules", rules,
            "--min-precision", str(precision), "--min-recall", str(recall),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        print(result.stdout)  # the scores, for the record (pytest -rP shows them)
        return result.stdout

    exact = "queue.jump,officer.burst,applicant.broker,sla.clock_reset_abuse,time.off_hours"
    report = judged(exact, 1, 1)
    for rule in exact.split(","):
        # Each rule was planted and raised: a row with expected > 0.
        row = next(line for line in report.splitlines() if line.startswith(rule))
        assert int(row.split()[1]) > 0, report
    speed = judged("speed.too_fast", 0.9, 0.95)
    assert int(next(r for r in speed.splitlines() if r.startswith("speed")).split()[1]) > 0
    judged("contract", 1, 1)
    deemed = judged("deemed-approval", 1, 1)
    for rule in ("sla.deemed_approval_near", "sla.deemed_approved", "process.after_deemed"):
        row = next(line for line in deemed.splitlines() if line.startswith(rule))
        assert int(row.split()[1]) > 0, deemed
