"""ClickHouse stopped under the running sink while events flow, then started again."""

from __future__ import annotations

import time
from pathlib import Path

from faults.pipeline import (
    check_history,
    fault_traffic,
    pipeline,
    send_stream,
)
from replicas import PrivateClickHouse

DOWN_S = 6


def test_clickhouse_stopped_mid_stream_and_restarted_loses_and_doubles_nothing(
    private_clickhouse: PrivateClickHouse, tmp_path: Path
) -> None:
    """The ClickHouse server stopped while intake, tracker and sink run and events flow, then
    started again: the intake keeps answering 202, the sink waits it out, and every 202'd event
    is in v_events once with alerts and case states equal to a fold of the events."""
    started = time.monotonic()
    stream, ledger, done = fault_traffic(300, "chs")
    with pipeline(tmp_path, clickhouse=private_clickhouse) as stack:
        sender = send_stream(stack.intake, stream, ledger, batch=20, pause=0.2, done=done)
        private_clickhouse.wait_for_events(stack.database.database)
        private_clickhouse.run("stop")
        assert not private_clickhouse.running
        before = len(ledger.acknowledged)
        time.sleep(DOWN_S)
        assert len(ledger.acknowledged) > before, "the intake must not depend on ClickHouse"
        assert stack.sink.process.poll() is None, "the sink must wait for ClickHouse, not exit"
        assert not done.is_set(), "the stream ended while ClickHouse was down"
        private_clickhouse.run("start")
        sender.join(timeout=60)
        assert done.is_set()
        counts = check_history(stack, ledger, timeout=60)
        refusals = stack.intake.refusals
        sink_log = stack.sink.log.read_text()
    assert "consumption paused" in sink_log, "the sink never noticed the outage"
    assert "consumption resumed" in sink_log
    assert ledger.failed | ledger.unknown == set(), refusals[:3]
    assert counts["acknowledged"] == len({e["event_id"] for e in stream})
    print(counts, f"{time.monotonic() - started:.1f} s")
