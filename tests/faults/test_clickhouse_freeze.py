"""ClickHouse frozen (SIGSTOP) under the sink while events flow, then thawed (SIGCONT)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from faults.pipeline import (
    check_history,
    fault_traffic,
    pipeline,
    send_stream,
)
from replicas import PrivateClickHouse

FROZEN_S = 10


def test_clickhouse_frozen_mid_stream_loses_and_doubles_nothing(
    private_clickhouse: PrivateClickHouse, tmp_path: Path
) -> None:
    """ClickHouse stopped with SIGSTOP for 10 s while events flow, then SIGCONT: the intake keeps
    answering 202, and afterwards every 202'd event is in v_events once, alerts and cases right."""
    started = time.monotonic()
    stream, ledger, done = fault_traffic(400, "frz")
    with pipeline(tmp_path, clickhouse=private_clickhouse) as stack:
        sender = send_stream(stack.intake, stream, ledger, batch=20, pause=0.2, done=done)
        private_clickhouse.wait_for_events(stack.database.database)
        os.kill(private_clickhouse.pid, signal.SIGSTOP)
        before = len(ledger.acknowledged)
        time.sleep(FROZEN_S)
        assert len(ledger.acknowledged) > before, "the intake must not depend on ClickHouse"
        assert not done.is_set(), "the stream ended during the freeze"
        os.kill(private_clickhouse.pid, signal.SIGCONT)
        sender.join(timeout=60)
        assert done.is_set()
        counts = check_history(stack, ledger, timeout=60)
        refusals = stack.intake.refusals
    assert ledger.failed | ledger.unknown == set(), refusals[:3]
    assert counts["acknowledged"] == len({e["event_id"] for e in stream})
    print(counts, f"{time.monotonic() - started:.1f} s")
