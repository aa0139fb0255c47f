"""kill -9 of a tracker worker while a second worker's arrival rebalances the group."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from faults.pipeline import (
    REBALANCING,
    GroupWatch,
    check_history,
    fault_traffic,
    group_members,
    pipeline,
    send_stream,
)
from integration.history.sink_process import wait_for
from tracker_harness import TrackerProcess, read_topic

# The shortest session timeout the tracker takes: the killed member's partitions move on soon.
SESSION_TIMEOUT = {"PANTAU_TRACKER_SESSION_TIMEOUT_S": "6"}


def _ready(worker: TrackerProcess) -> bool:
    try:
        return worker.get("/readyz")[0] == 200
    except (OSError, ValueError):  # not listening yet, or too busy to answer in time
        return False


def _kill_in_rebalance(
    first: TrackerProcess, second: TrackerProcess, watch: GroupWatch, moment: str
) -> str:
    """Kill the first worker at `moment` of the rebalance the second's join starts; say what
    was seen then.

    From the second's JoinGroup the coordinator waits for the first to rejoin, which it does
    at its next heartbeat (up to 2 s later): `awaited` kills it in that wait. The first then
    revokes its partitions, rejoins, takes its new assignment and recovers: `rejoined` kills
    it once both members have joined, in the middle of its own rebalance. Its not-ready spell
    lasts about 0.1 s, much of it in blocking calls, which a /readyz poll alone can miss on a
    fast machine; the group's state, asked every 10 ms, shows both moments.
    """
    deadline = time.monotonic() + 60
    while True:
        state, members = watch.state()
        if moment == "awaited" and state in REBALANCING:
            break
        if moment == "rejoined" and (
            state == "CompletingRebalance" or (state == "Stable" and members == 2)
        ):
            break
        if not _ready(first):
            state = f"{state}, the first worker not ready"
            break
        assert time.monotonic() < deadline, (
            f"no rebalance after the second worker started (group {state}); "
            f"second worker's log:\n{second.log_tail()}"
        )
        assert second.process is not None
        assert second.process.poll() is None, second.log_tail()
        time.sleep(0.01)
    first.kill()
    return state


@pytest.mark.parametrize("moment", ["awaited", "rejoined"])
def test_tracker_kill_9_during_a_rebalance_loses_and_changes_nothing(
    servers: None, tmp_path: Path, moment: str
) -> None:
    """A second worker joins mid-stream and the first is killed with SIGKILL while the group
    rebalances (waiting for the first, or once it rejoined): the second takes every partition
    over, the first restarts and rejoins, and every 202'd event is stored once with alerts and
    case states equal to a fold of the events."""
    started = time.monotonic()
    stream, ledger, done = fault_traffic(300, "rbl")
    with pipeline(tmp_path, label="rebalance", tracker_env=SESSION_TIMEOUT) as stack:
        first = stack.tracker
        sender = send_stream(stack.intake, stream, ledger, batch=20, pause=0.2, done=done)
        read_topic(stack.topics.alerts, until=lambda r: len(r) >= 10, timeout=30)
        second = stack.add_worker("second")
        kafka, group = stack.env["PANTAU_KAFKA"], stack.topics.group("tracker")
        watch = GroupWatch(kafka, group)
        try:
            state = _kill_in_rebalance(first, second, watch, moment)
            killed_at = time.monotonic()
        finally:
            watch.close()
        print(f"killed ({moment}) with the group {state}")
        assert not done.is_set(), "the stream ended before the crash"
        # The survivor owns every partition once the dead member's session expires.
        everything = set(range(int(stack.env["PANTAU_PARTITIONS"])))
        wait_for(
            lambda: (
                group_members(kafka, group, stack.topics.events)
                == ("Stable", {second.url: everything})
            ),
            timeout=60,
            every=0.3,
        )
        second.wait_ready(timeout=90)
        took_over = time.monotonic() - killed_at
        first.start()
        sender.join(timeout=90)
        assert done.is_set()
        first.wait_ready()
        second.wait_ready()
        # The second's assignments: all partitions once the dead member's session expired (its
        # own join, if the first rejoined before the kill), then its share when the first came
        # back.
        assert second.metric("pantau_tracker_rebalances_total") >= 2
        counts = check_history(stack, ledger, timeout=60)
        refusals = stack.intake.refusals
    assert ledger.failed | ledger.unknown == set(), refusals[:3]
    assert counts["acknowledged"] == len({e["event_id"] for e in stream})
    assert counts["alerts"] > 0
    print(counts, f"takeover {took_over:.1f} s", f"{time.monotonic() - started:.1f} s")
