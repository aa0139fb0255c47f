"""One of two ClickHouse replicas killed with SIGKILL while the sink writes to it, then started
again (replicas, ZooKeeper and a Kafka stack of this test's own)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_driver import Client

from faults.pipeline import (
    CHECKPOINT_KEY,
    PANTAU,
    check_history,
    fault_traffic,
    pipeline,
    send_stream,
)
from integration.history.sink_process import wait_for
from replicas import PrivateReplicas

# Longer than the quorum timeout (15 s) and the replica's ZooKeeper session (10 s): the insert
# in flight at the kill times out waiting for its quorum, and later ones find one replica alive.
DOWN_S = 20


@pytest.fixture
def private_replicas(tmp_path: Path, servers: None) -> Iterator[PrivateReplicas]:
    """Two replicas of one shard and their ZooKeeper for this test only, stopped afterwards."""
    with PrivateReplicas(tmp_path / "local", replicas=2).started() as replicas:
        yield replicas


def _count(port: int, query: str) -> int:
    client = Client(host="127.0.0.1", port=port, connect_timeout=2)
    try:
        return int(client.execute(query)[0][0])
    finally:
        client.disconnect()


def _resumed_after(log: Path, since: datetime) -> float | None:
    """Seconds from `since` to the sink's first "consumption resumed" line after it."""
    for line in log.read_text().splitlines():
        if "consumption resumed" in line:
            at = datetime.fromisoformat(json.loads(line)["ts"].replace("Z", "+00:00"))
            if at >= since:
                return (at - since).total_seconds() or 0.001
    return None


def _verify(env: dict[str, str], url: str) -> str:
    """`pantau verify` of every chain on the server(s) of `url`, with the sink's checkpoints."""
    result = subprocess.run(
        [str(PANTAU), "verify", "--all"],
        env={
            **os.environ,
            **env,
            "PANTAU_CLICKHOUSE": url,
            "PANTAU_CHECKPOINT_KEY": CHECKPOINT_KEY,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


# Two servers and a ZooKeeper start (and one again) on the shared cores: minutes when busy.
@pytest.mark.timeout(480)
def test_replica_kill_9_under_the_sink_loses_and_doubles_nothing_and_it_catches_up(
    private_replicas: PrivateReplicas, tmp_path: Path
) -> None:
    """The replica the sink writes to killed with SIGKILL mid-stream and started again after
    DOWN_S: the intake keeps answering 202, the sink moves to the other replica and pauses
    until a quorum is back instead of writing where it could fork a chain, every 202'd event
    is in v_events once on both replicas, the views of both replicas are equal, every chain
    verifies on each replica, and the killed replica holds every row again."""
    started = time.monotonic()
    stream, ledger, done = fault_traffic(700, "rpk")
    first, second = private_replicas.ports
    with pipeline(tmp_path, clickhouse=private_replicas) as stack:
        db = stack.database.database
        assert stack.database.replicated
        sender = send_stream(stack.intake, stream, ledger, batch=20, pause=0.2, done=done)
        wait_for(lambda: _count(first, f"SELECT count() FROM `{db}`.events"), timeout=60)
        os.kill(private_replicas.pid(1), signal.SIGKILL)
        killed_at = time.monotonic()
        before = len(ledger.acknowledged)
        time.sleep(DOWN_S)
        assert len(ledger.acknowledged) > before, "the intake must not depend on ClickHouse"
        assert stack.sink.process.poll() is None, "the sink must wait for a quorum, not exit"
        assert not done.is_set(), "the stream ended while the replica was down"
        restarted_at, restarted_wall = time.monotonic(), datetime.now(UTC)
        private_replicas.run("start")
        private_replicas.sync(db)
        caught_up = time.monotonic() - restarted_at
        resumed = wait_for(lambda: _resumed_after(stack.sink.log, restarted_wall), timeout=90)
        sender.join(timeout=120)
        assert done.is_set()
        counts = check_history(stack, ledger, timeout=90)
        per_replica = {}
        for port in (first, second):
            client = Client(host="127.0.0.1", port=port, database=db)
            try:
                per_replica[port] = {
                    view: sorted(client.execute(f"SELECT * FROM {view}"))
                    for view in ("v_events", "v_alerts", "v_cases", "v_alert_status")
                }
            finally:
                client.disconnect()
        assert per_replica[first] == per_replica[second], "the replicas' views differ"
        verified = [
            _verify(stack.env, f"clickhouse://default@127.0.0.1:{p}/{db}") for p in (first, second)
        ]
        stored_events = {p: len(views["v_events"]) for p, views in per_replica.items()}
        sink_log = stack.sink.log.read_text()
    assert ledger.failed | ledger.unknown == set(), stack.intake.refusals[:3]
    assert counts["acknowledged"] == len({e["event_id"] for e in stream})
    assert f"Failed to connect to 127.0.0.1:{first}" in sink_log, "the sink never failed over"
    assert "consumption paused" in sink_log, "the sink wrote without a quorum"
    assert "consumption resumed" in sink_log
    figures = {
        "s replica down": round(restarted_at - killed_at, 1),
        "s from restart until the replica had fetched every part": round(caught_up, 1),
        "s from restart until the sink resumed": round(resumed, 1),
        "offered": len({e["event_id"] for e in stream}),
        "acknowledged": counts["acknowledged"],
        "stored": counts["stored"],
        "v_events per replica": list(stored_events.values()),
        "lost": counts["lost"],
        "duplicated": counts["duplicated"],
        "alerts": counts["alerts"],
        "failed inserts retried": sink_log.count("failed, will retry"),
        "verify": verified,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(figures)
