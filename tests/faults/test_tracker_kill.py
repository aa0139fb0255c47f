"""kill -9 of the tracker while events flow through intake, tracker and sink."""

from __future__ import annotations

import time
from pathlib import Path

from faults.pipeline import check_history, fault_traffic, pipeline, send_stream
from tracker_harness import read_topic


def test_tracker_kill_9_mid_stream_loses_and_changes_nothing(servers: None, tmp_path: Path) -> None:
    """Tracker killed with SIGKILL mid-stream and restarted: every 202'd event is stored once,
    alerts keep one content each and case states equal a fold of the events."""
    started = time.monotonic()
    stream, ledger, done = fault_traffic(300, "kill")
    with pipeline(tmp_path) as stack:
        sender = send_stream(stack.intake, stream, ledger, batch=20, pause=0.1, done=done)
        read_topic(stack.topics.alerts, until=lambda r: len(r) >= 20, timeout=30)
        stack.tracker.kill()
        assert not done.is_set(), "the stream ended before the crash"
        time.sleep(1)
        stack.tracker.start()
        sender.join(timeout=60)
        assert done.is_set()
        stack.tracker.wait_ready()
        counts = check_history(stack, ledger)
        refusals = stack.intake.refusals
    assert ledger.failed | ledger.unknown == set(), refusals[:3]
    assert counts["acknowledged"] == len({e["event_id"] for e in stream})
    assert counts["alerts"] > 0
    print(counts, f"{time.monotonic() - started:.1f} s")
