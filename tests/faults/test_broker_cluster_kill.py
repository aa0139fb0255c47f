"""The leader of the events partitions killed with SIGKILL on a three-broker cluster while the
intake takes traffic; the cluster fails over by itself, and the broker rejoins and catches up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
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
from pantau.adapters.kafka_topics import ClusterView, describe_cluster
from private_servers import PrivateKafkaCluster

DOWN_S = 8
WATCH = Path(__file__).with_name("cluster_watch.py")


@pytest.fixture
def private_cluster(tmp_path: Path, servers: None) -> Iterator[PrivateKafkaCluster]:
    """Three KRaft brokers for this test only (deploy/kafka.sh), stopped afterwards."""
    with PrivateKafkaCluster(tmp_path / "local", brokers=3).started() as cluster:
        yield cluster


def _view(cluster: PrivateKafkaCluster, prefix: str) -> ClusterView:
    """The cluster as its brokers describe it (while every broker is up)."""
    return describe_cluster(cluster.servers.split(","), prefix)


def _watch(
    cluster: PrivateKafkaCluster, prefix: str, topic: str, broker: int, state: str
) -> subprocess.CompletedProcess[str]:
    """Until the cluster reaches `state` (cluster_watch.py); its stdout is the time it did."""
    watch = subprocess.run(
        [sys.executable, str(WATCH), cluster.servers, prefix, topic, str(broker), state, "90"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert watch.returncode == 0, watch.stderr[-2000:]
    return watch


# Three JVMs start (and one again) on the shared cores: minutes when the machine is busy.
@pytest.mark.timeout(480)
def test_leader_kill_9_on_three_brokers_fails_over_and_the_broker_catches_up(
    private_cluster: PrivateKafkaCluster, tmp_path: Path
) -> None:
    """kill -9 of the broker leading most events partitions mid-stream: the intake answers only
    202 or 503 and serves again once the partitions have new leaders, with no manual step; every
    202'd event is in v_events once, alerts and cases equal a fold of the events; the broker,
    started again, is back in sync on every partition of the stack."""
    started = time.monotonic()
    stream, ledger, done = fault_traffic(600, "cls")
    with pipeline(tmp_path, broker=private_cluster) as stack:
        prefix = stack.topics.prefix
        view = _view(private_cluster, prefix)
        assert len(view.brokers) == 3
        assert {len(p.replicas) for p in view.topics[stack.topics.events]} == {3}
        sender = send_stream(stack.intake, stream, ledger, batch=20, pause=0.2, done=done)
        wait_for(lambda: read_topic(private_cluster.servers, stack.topics.alerts), timeout=40)

        leaders = Counter(
            p.leader for p in _view(private_cluster, prefix).topics[stack.topics.events]
        )
        victim, led = leaders.most_common(1)[0]
        os.kill(private_cluster.pid(victim), signal.SIGKILL)
        killed_at = time.monotonic()

        watch = _watch(private_cluster, prefix, stack.topics.events, victim, "failed-over")
        leaders_back = float(watch.stdout) - killed_at

        def serving_again() -> float | None:
            with ledger.lock:
                served = [a for s, a, st in ledger.timeline if st == 202 and s > killed_at]
            return min(served) - killed_at if served else None

        recovered = wait_for(serving_again, timeout=60, every=0.1)
        time.sleep(max(0.0, DOWN_S - (time.monotonic() - killed_at)))
        assert not done.is_set(), "the stream ended before the broker came back"
        restarted_at = time.monotonic()
        private_cluster.run("start")

        watch = _watch(private_cluster, prefix, stack.topics.events, victim, "in-sync")
        caught_up_s = float(watch.stdout) - restarted_at
        in_sync = _view(private_cluster, prefix)
        assert all(victim in p.in_sync for parts in in_sync.topics.values() for p in parts), (
            "the restarted broker is not in sync everywhere"
        )
        sender.join(timeout=120)
        assert done.is_set()
        counts = check_history(stack, ledger, timeout=90)
    assert set(ledger.statuses) <= {202, 503}, dict(ledger.statuses)
    offered = len({e["event_id"] for e in stream})
    assert counts["acknowledged"] + len(ledger.failed - ledger.acknowledged) == offered
    figures = {
        "killed broker": victim,
        "events partitions it led": led,
        "s to new leaders": round(leaders_back, 1),
        "s to recover (first 202 sent after the kill)": round(recovered, 1),
        "s from restart to back in sync": round(caught_up_s, 1),
        "offered": offered,
        "acknowledged": counts["acknowledged"],
        "stored": counts["stored"],
        "lost": counts["lost"],
        "duplicated": counts["duplicated"],
        "requests": dict(ledger.statuses),
        "alerts": counts["alerts"],
        "seconds": round(time.monotonic() - started, 1),
    }
    print(figures)
