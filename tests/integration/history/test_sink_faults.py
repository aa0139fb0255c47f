"""The sink rides out a ClickHouse outage: nothing lost, nothing doubled, memory bounded.

Uses a private ClickHouse server started by deploy/clickhouse.sh on free ports, never the
shared one, so it can be stopped and started under the sink.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_driver import Client
from kafka.admin import KafkaAdminClient

from integration.history.sink_process import SinkProcess, publish_events, wait_for
from pantau.core.events import Event
from pantau.provisioning import provision
from replicas import PrivateClickHouse
from stacks import KAFKA, pantau_cli, stack_settings

EVENTS = 10_000
STEPS = [  # ktp-el of the sample catalog: five events per case
    ("submitted", None),
    ("verified", ("OP1", "operator")),
    ("biometrics_recorded", ("OP1", "operator")),
    ("printed", ("PR1", "printing_officer")),
    ("handed_over", ("FO1", "front_office")),
]
# The sink's peak resident memory must stay below this through the outage and the catch-up
# after it. Measured: about 83 MiB once its modules are loaded (clickhouse-driver 25, kafka-python
# with ssl 17), 108 MiB running and through the outage, 138-139 MiB at the peak, reached in the
# catch-up (the 10,000 events as one backlog batch, inserted on the writer thread while the next
# poll of 2,000 records and Kafka's prefetch wait; 135 MiB with backlog batches of 2,500). The
# bound leaves 14 MiB for machines that differ (up to 7 MiB seen) and fails on a regression as
# large as orjson's kept 4 KiB buffers were (+17 MiB at the peak).
MEMORY_BOUND_MIB = 153


@pytest.fixture
def private_clickhouse(tmp_path: Path, local_servers: None) -> Iterator[PrivateClickHouse]:
    """A private ClickHouse server for this test, stopped afterwards."""
    with PrivateClickHouse(tmp_path / "local").started() as server:
        yield server


def _events() -> list[Event]:
    out = []
    for case in range(EVENTS // len(STEPS)):
        for seq, (step, officer) in enumerate(STEPS, start=1):
            document: dict[str, object] = {
                "event_id": f"ktp:{case}:{seq}",
                "agency": "kota-malang.disdukcapil",
                "service": "ktp-el",
                "case_id": f"KTP-{case:05d}",
                "step": step,
                "occurred_at": f"2026-11-27T{8 + seq:02d}:00:00+07:00",
                "seq": seq,
            }
            if officer:
                document["officer"] = {"id": officer[0], "role": officer[1]}
            out.append(Event.model_validate(document))
    # Kafka keeps each case's order within its partition; interleave cases like real traffic.
    return sorted(out, key=lambda e: (e.seq or 0, e.case_id))


def test_clickhouse_outage_loses_and_doubles_nothing(
    private_clickhouse: PrivateClickHouse, tmp_path: Path
) -> None:
    """ClickHouse stopped while 10,000 events flow and started again: v_events then holds all
    10,000 exactly once, every chain verifies, and the sink's memory stayed under the bound."""
    tag = uuid.uuid4().hex[:8]
    env = {
        "PANTAU_KAFKA": KAFKA,
        "PANTAU_TOPIC_PREFIX": f"test-fault-{tag}.",
        "PANTAU_CLICKHOUSE": (
            f"clickhouse://default@127.0.0.1:{private_clickhouse.tcp_port}/pantau_fault"
        ),
        "PANTAU_SINK_RETRY_MAX_SECONDS": "1",
        "PANTAU_CHECKPOINT_KEY": "fault-test-key",
        "PANTAU_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    settings = stack_settings(env)
    provision(settings)
    events = _events()
    client = Client(host="127.0.0.1", port=private_clickhouse.tcp_port, database="pantau_fault")
    sink = SinkProcess(env, tmp_path / "sink.log")
    chunks = [events[i : i + 500] for i in range(0, len(events), 500)]

    def produce() -> None:
        for chunk in chunks:
            publish_events(env["PANTAU_KAFKA"], settings.topics.events, chunk)
            time.sleep(0.4)

    producer = threading.Thread(target=produce)
    try:
        producer.start()
        wait_for(lambda: client.execute("SELECT count() FROM events")[0][0] >= 1000, timeout=60)
        private_clickhouse.run("stop")
        client.disconnect()
        stopped_at = time.monotonic()
        producer.join(timeout=120)  # the rest of the 10,000 flows while ClickHouse is down
        time.sleep(max(0.0, 3 - (time.monotonic() - stopped_at)))
        during_outage_kib = sink.peak_rss_kib()
        assert sink.process.poll() is None, sink.log.read_text()
        private_clickhouse.run("start")
        wait_for(
            lambda: client.execute("SELECT count() FROM v_events")[0][0] == EVENTS,
            timeout=90,
            every=0.5,
        )
        time.sleep(1.5)  # anything still in flight would show as a duplicate now
        counts = client.execute("SELECT count(), uniqExact(event_id) FROM v_events")
        assert counts == [(EVENTS, EVENTS)]
        stored = client.execute("SELECT count(), uniqExact(event_id, position) FROM events")[0]
        assert stored[1] == EVENTS  # any duplicate row is a retried block: same event, same link
        peak_kib = sink.peak_rss_kib()
    finally:
        producer.join(timeout=120)
        status = sink.stop()
        client.disconnect()
        admin = KafkaAdminClient(bootstrap_servers=env["PANTAU_KAFKA"])
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(f"test-fault-{tag}.")])
        admin.close()
    log = sink.log.read_text()
    assert status == 0, log
    assert "consumption paused" in log, log
    assert "consumption resumed" in log, log
    outage_mib = during_outage_kib / 1024
    print(
        f"sink peak RSS: {peak_kib / 1024:.0f} MiB (during the outage {outage_mib:.0f} MiB); "
        f"rows stored {stored[0]} for {EVENTS} events; bound {MEMORY_BOUND_MIB} MiB"
    )
    assert peak_kib < MEMORY_BOUND_MIB * 1024
    verified = pantau_cli(env, "verify", "all", timeout=120)
    assert verified.returncode == 0, verified.stdout[-3000:]
    assert f"intact: {EVENTS // len(STEPS)} cases, {EVENTS} events" in verified.stdout
