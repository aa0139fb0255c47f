"""The Kafka broker killed with SIGKILL mid-stream and started again (a private broker)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.pipeline import (
    check_history,
    fault_traffic,
    pipeline,
    read_topic,
    send_stream,
)
from integration.history.sink_process import wait_for
from private_servers import PrivateBroker


@pytest.fixture
def private_broker(tmp_path: Path, servers: None) -> Iterator[PrivateBroker]:
    """A Kafka broker for this test only, stopped afterwards."""
    with PrivateBroker(tmp_path / "local").started() as broker:
        yield broker


def test_broker_kill_9_mid_stream_answers_503_or_202_and_stores_every_202(
    private_broker: PrivateBroker, tmp_path: Path
) -> None:
    """Broker killed with SIGKILL while events flow and started again: the intake answers only
    202 or 503, and every 202'd event ends up in v_events once with alerts and cases right."""
    started = time.monotonic()
    # About 40 s of flow at the pace below: the stream must outlast the first alert, the kill
    # and the broker's restart even when the intake answers fast and the machine is loaded.
    stream, ledger, done = fault_traffic(800, "brk")
    with pipeline(tmp_path, broker=private_broker) as stack:
        sender = send_stream(stack.intake, stream, ledger, batch=20, pause=0.2, done=done)
        wait_for(lambda: read_topic(private_broker.servers, stack.topics.alerts), timeout=40)
        os.kill(private_broker.pid, signal.SIGKILL)
        time.sleep(2)
        private_broker.run("start")
        assert not done.is_set(), "the stream ended before the broker came back"
        sender.join(timeout=90)
        assert done.is_set()
        counts = check_history(stack, ledger, timeout=60)
    assert set(ledger.statuses) <= {202, 503}, dict(ledger.statuses)
    assert 503 in ledger.statuses, "the broker was down for some requests"
    print(counts, dict(ledger.statuses), f"{time.monotonic() - started:.1f} s")
