"""The fee rules judged through a running tracker against the simulator's truth.

`pantau simulate --rules fee` sends 2,000 cases, a fifth of them with a fee anomaly (a levy on
top of the case's assessment, an assessment off the tariff, a bill paid twice or before it was
assessed, a payment without a receipt, cash to an officer), over the production layout of
twelve partitions; `pantau evaluate --rules fee` then scores the alerts topic. The fee rules
judge one case at a time, so the order across partitions does not matter to them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacks import pantau_cli
from tracker_harness import TrackerProcess, consumer_lag, fresh_topics

REPO = Path(__file__).resolve().parents[2]
CASES = 2000
FEE_RULES = (
    "fee.mismatch",
    "fee.paid_twice",
    "fee.paid_before_assessment",
    "fee.no_receipt",
    "fee.cash_to_officer",
)


@pytest.fixture(scope="module")
def tracker(
    local_servers: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """One tracker worker on a fresh prefix whose topics have twelve partitions."""
    folder = tmp_path_factory.mktemp("fee-stack")
    with fresh_topics(partitions=12) as stack:
        env = {**stack, "PANTAU_CATALOG": str(REPO / "catalog"), "PANTAU_LOG_LEVEL": "WARNING"}
        with TrackerProcess(env, folder / "state", folder / "tracker.log").running():
            yield env


@pytest.mark.timeout(600)
def test_planted_fee_anomalies_are_found_exactly_through_the_stack(
    tracker: dict[str, str], tmp_path: Path
) -> None:
    """On 2,000 simulated cases every planted fee anomaly is alerted on its case and no other
    case raises a fee rule: precision and recall 1.0 for fee.mismatch and the four fee rules."""
    truth = tmp_path / "truth.jsonl"
    sent = pantau_cli(
        tracker, "simulate", "--cases", str(CASES), "--seed", "17", "--anomaly-rate", "0.2",
        "--rules", "fee", "--truth", str(truth), "--via", "kafka",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert len(truth.read_text().splitlines()) == CASES
    prefix = tracker["PANTAU_TOPIC_PREFIX"]
    deadline = time.monotonic() + 180
    while consumer_lag(f"{prefix}tracker", prefix + "events"):
        assert time.monotonic() < deadline, "the tracker did not take in the events"
        time.sleep(1)
    result = pantau_cli(
        tracker, "evaluate", "--truth", str(truth), "--idle", "5", "--rules", "fee",
        "--min-precision", "1", "--min-recall", "1",
    )  # fmt: skip
    print(result.stdout)  # the score table, for the record of a run with -s
    assert result.returncode == 0, result.stdout + result.stderr
    for rule in FEE_RULES:
        row = next(line for line in result.stdout.splitlines() if line.startswith(rule))
        assert int(row.split()[1]) > 0, result.stdout  # planted, and raised as planted
