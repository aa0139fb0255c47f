"""The six cross-case rules judged through a running tracker against the simulator's truth.

`pantau simulate` sends a history with every rule planted to a tracker; `pantau evaluate` then
scores the alerts topic per rule: the issue's bar is precision and recall 1.0 for every
cross-case rule but `speed.too_fast` (recall >= 0.95 and precision >= 0.9, a statistical rule),
and the contract's rules stay at 1.0 beside them.

The topics have one partition. The rules judge steps in the order the tracker applies them, and
across partitions that is the order of arrival only while the tracker keeps up: on a loaded
machine a paced history piles up and steps of different cases a few simulated minutes apart are
fetched together and applied either way round (docs/contract-extensions.md, section 4). One
partition makes the order the order sent, whatever the load; the routing over twelve partitions
is checked against a fresh fold in tests/integration/test_tracker.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracker_harness import TrackerProcess, consumer_lag, fresh_topics

REPO = Path(__file__).resolve().parents[2]
CASES = 700


def _pantau(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pantau.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


@pytest.fixture(scope="module")
def tracker(
    local_servers: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """One tracker worker (every rule) on a fresh prefix whose topics have one partition."""
    folder = tmp_path_factory.mktemp("cross-case-stack")
    with fresh_topics(partitions=1) as stack:
        env = {**stack, "PANTAU_CATALOG": str(REPO / "catalog"), "PANTAU_LOG_LEVEL": "WARNING"}
        worker = TrackerProcess(env, folder / "state", folder / "tracker.log").start()
        try:
            worker.wait_ready()
            yield env
        finally:
            worker.stop()


@pytest.mark.timeout(600)
def test_planted_cross_case_anomalies_are_found_through_the_stack(
    tracker: dict[str, str], tmp_path: Path
) -> None:
    """Every planted queue jump, burst, broker episode, clock-stop abuse and off-hours step is
    alerted on its case and nothing else is; speed.too_fast meets its statistical bar; every
    deemed approval, its warning and a rejection after it too."""
    truth = tmp_path / "truth.jsonl"
    sent = _pantau(
        tracker, "simulate", "--cases", str(CASES), "--seed", "11", "--anomaly-rate", "0.4",
        "--truth", str(truth), "--via", "kafka",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    prefix = tracker["PANTAU_TOPIC_PREFIX"]
    deadline = time.monotonic() + 120
    for topic in ("events", "tracker-oversight"):
        while consumer_lag(f"{prefix}tracker", prefix + topic):
            assert time.monotonic() < deadline, f"the tracker did not take in {topic}"
            time.sleep(1)

    def judged(rules: str, precision: float, recall: float) -> str:
        result = _pantau(
            tracker, "evaluate", "--truth", str(truth), "--idle", "5", "--rules", rules,
            "--min-precision", str(precision), "--min-recall", str(recall),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
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
