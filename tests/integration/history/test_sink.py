"""`pantau sink` against the real Kafka broker and ClickHouse server."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from clickhouse_driver import Client
from kafka import KafkaAdminClient

from integration.history.known_history import ACTIONS, ALERTS, alert_rows, events
from integration.history.sink_process import SinkProcess, publish, publish_events, wait_for
from pantau.core.events import Event
from stacks import group_stable, pantau_cli, stack_settings


def _count(client: Client, query: str) -> int:
    return int(client.execute(query)[0][0])


def test_published_records_appear_once_in_the_views_within_5_s(
    sink_env: dict[str, str], history_client: Client, tmp_path: Path
) -> None:
    """Events, alerts, case states and actions published to Kafka reach the v_* views once each,
    within 5 s (and the standards version published at bootstrap, v_standards); a replayed
    event is not stored again and an invalid one is skipped."""
    names = stack_settings(sink_env).topics
    servers = sink_env["PANTAU_KAFKA"]
    client = history_client
    sink = SinkProcess(sink_env, tmp_path / "sink.log")
    try:
        known = events()
        # The first event waits for the consumer group to form; the rest measure the latency.
        publish_events(servers, names.events, known[:1])
        wait_for(lambda: _count(client, "SELECT count() FROM v_events") == 1, timeout=60)

        started = time.monotonic()
        publish_events(servers, names.events, known[1:])
        publish(servers, names.events, [(b"x|y", b"{not json"), (None, b'{"event_id": "x"}')])
        alerts = [(row[4].encode() + b"|" + row[6].encode(), json_of(row)) for row in alert_rows()]
        publish(servers, names.alerts, alerts)
        publish(servers, names.cases, case_records())
        publish(servers, names.alert_actions, action_records())
        wait_for(
            lambda: (
                _count(client, "SELECT count() FROM v_events") == len(known)
                and _count(client, "SELECT count() FROM v_alerts") == len(ALERTS)
                and _count(client, "SELECT count() FROM v_cases") == 2
                and _count(client, "SELECT count() FROM v_alert_actions") == len(ACTIONS)
            ),
            timeout=5,
            every=0.05,
        )
        # The stack's bootstrap published the catalog as standards version 1.
        assert client.execute("SELECT version, published_by FROM v_standards") == [(1, "bootstrap")]
        latency = time.monotonic() - started
        print(f"published -> visible in the views: {latency:.2f} s")

        # A replay of events already stored: nothing new in the table, not even duplicates.
        publish_events(servers, names.events, known[:5])
        marker = _marker_event()
        publish_events(servers, names.events, [marker])
        wait_for(
            lambda: (
                _count(client, f"SELECT count() FROM events WHERE event_id = '{marker.event_id}'")
                == 1
            ),
            timeout=10,
        )
        assert _count(client, "SELECT count() FROM events") == len(known) + 1
        assert client.execute(
            "SELECT status, current_step, breached FROM v_cases WHERE case_id = 'PBG-1'"
        ) == [("closed", "issued", 0)]
        positions = client.execute(
            "SELECT groupArray(position) FROM (SELECT position FROM v_events "
            "WHERE case_id = 'PBG-1' ORDER BY position)"
        )
        assert positions == [([1, 2, 3, 4, 5, 6],)]
    finally:
        assert sink.stop() == 0, sink.log.read_text()
    log = sink.log.read_text()
    assert "Traceback" not in log, log
    checkpoints = list((tmp_path / "checkpoints").glob("checkpoints-*.jsonl"))
    assert checkpoints, "the sink signed no checkpoint"
    verified = pantau_cli(sink_env, "verify", "all", timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"intact: {len({(e.agency, e.case_id) for e in known}) + 1} cases" in verified.stdout


def test_a_restarted_sink_does_not_chain_a_stored_event_again(
    sink_env: dict[str, str], history_client: Client, tmp_path: Path
) -> None:
    """After a restart (empty head cache) a replayed event is found in ClickHouse and skipped;
    new events of the same case extend its stored chain."""
    names = stack_settings(sink_env).topics
    servers = sink_env["PANTAU_KAFKA"]
    client = history_client
    known = events()[:3]  # PBG-1: submitted, verified, fee_assessed
    first = SinkProcess(sink_env, tmp_path / "first.log")
    try:
        publish_events(servers, names.events, known[:2])
        wait_for(lambda: _count(client, "SELECT count() FROM events") == 2, timeout=60)
    finally:
        assert first.stop() == 0, first.log.read_text()
    # The same records again (as after a crash before the commit), then a new event.
    publish_events(servers, names.events, known)
    second = SinkProcess(sink_env, tmp_path / "second.log")
    try:
        wait_for(lambda: _count(client, "SELECT count() FROM events") >= 3, timeout=60)
        publish_events(servers, names.events, [_marker_event(2)])
        wait_for(lambda: _count(client, "SELECT count() FROM events") >= 4, timeout=30)
    finally:
        assert second.stop() == 0, second.log.read_text()
    assert "duplicates=2" in second.log.read_text()
    rows = client.execute(
        "SELECT event_id, position FROM events WHERE case_id = 'PBG-1' ORDER BY position"
    )
    assert rows == [(e.event_id, n) for n, e in enumerate(known, start=1)]


def json_of(row: tuple[object, ...]) -> bytes:
    """The alert JSON stored in an alerts row (its `alert` column)."""
    return str(row[15]).encode()


def _marker_event(number: int = 1) -> Event:
    return Event.model_validate(
        {
            "event_id": f"marker:{number}",
            "agency": "kota-malang.dpmptsp",
            "service": "nib",
            "case_id": f"NIB-MARK-{number}",
            "step": "submitted",
            "occurred_at": "2026-11-27T09:00:00+07:00",
        }
    )


def case_records() -> list[tuple[bytes | None, bytes]]:
    """Two versions of PBG-1's state and one of KTP-1's, as the tracker might publish them."""
    key = b"kota-malang.dpmptsp|PBG-1"
    base = {
        "agency": "kota-malang.dpmptsp",
        "service": "pbg",
        "case_id": "PBG-1",
        "opened_at": "2026-11-02T09:00:00+07:00",
    }
    records = [
        (key, json.dumps({**base, "status": "open", "current_step": "submitted", "version": 1})),
        (
            key,
            json.dumps(
                {
                    **base,
                    "status": "closed",
                    "current_step": "issued",
                    "closed_at": "2026-11-09T09:00:00+07:00",
                    "version": 6,
                }
            ),
        ),
        (
            b"kota-malang.disdukcapil|KTP-1",
            json.dumps({"service": "ktp-el", "status": "open", "current_step": "verified"}),
        ),
    ]
    return [(key, value.encode()) for key, value in records]


def action_records() -> list[tuple[bytes | None, bytes]]:
    """The known actions as the alerts service publishes them, one of them twice."""
    ids = [str(row[0]) for row in alert_rows()[1:]]
    out: list[tuple[bytes | None, bytes]] = []
    for number, (index, action, actor, at) in enumerate(ACTIONS, start=1):
        record: dict[str, str | None] = {
            "action_id": f"act-{number}",
            "alert_id": ids[index],
            "action": action,
        }
        record |= {"actor": actor, "note": None, "at": at}
        out.append((ids[index].encode(), json.dumps(record).encode()))
    return [*out, out[0]]


def test_two_sinks_share_the_partitions_and_chain_every_case_once(
    sink_env: dict[str, str], history_client: Client, tmp_path: Path
) -> None:
    """A second sink joining the group mid-stream takes over partitions (the first stores and
    commits what it holds when they are revoked): every event is stored once, each case's
    chain has positions 1..n without a gap, and verify finds every chain intact."""
    names = stack_settings(sink_env).topics
    servers = sink_env["PANTAU_KAFKA"]
    cases, per_case = 300, 4
    generated = [
        Event.model_validate(
            {
                "event_id": f"two:{case}:{n}",
                "agency": "kota-malang.dpmptsp",
                "service": "nib",
                "case_id": f"NIB-TWO-{case}",
                "step": "submitted",
                "occurred_at": f"2026-11-27T09:{n:02d}:00.{case % 1000:03d}+07:00",
                "seq": n,
            }
        )
        for n in range(1, per_case + 1)
        for case in range(cases)
    ]
    half = len(generated) // 2
    first = SinkProcess(sink_env, tmp_path / "first.log")
    second: SinkProcess | None = None
    try:
        publish_events(servers, names.events, generated[:half])
        wait_for(lambda: _count(history_client, "SELECT count() FROM events") > 0, timeout=60)
        second = SinkProcess(sink_env, tmp_path / "second.log")
        # Its join makes the group rebalance: the first sink gives partitions up.
        admin = KafkaAdminClient(bootstrap_servers=servers)
        try:
            wait_for(lambda: group_stable(admin, names.group("sink"), 2), timeout=60)
        finally:
            admin.close()
        publish_events(servers, names.events, generated[half:])
        wait_for(
            lambda: (
                _count(history_client, "SELECT uniqExact(event_id) FROM events") == len(generated)
            ),
            timeout=120,
        )
    finally:
        assert first.stop() == 0, first.log.read_text()
        if second is not None:
            assert second.stop() == 0, second.log.read_text()
    for sink in (first, second):
        assert sink is not None
        assert "Traceback" not in sink.log.read_text(), sink.log.read_text()
    stopped = [line for line in second.log.read_text().splitlines() if "sink stopped" in line]
    assert stopped, second.log.read_text()
    assert "stored={'events'" in stopped[0], "the second sink took no partition"
    # The first sink's assignments: everything at the start, its share after the second joined.
    first_stopped = [line for line in first.log.read_text().splitlines() if "sink stopped" in line]
    assert first_stopped, first.log.read_text()
    found = re.search(r"rebalances=(\d+)", first_stopped[0])
    assert found is not None, first_stopped[0]
    assert int(found.group(1)) >= 2, first_stopped[0]
    assert _count(history_client, "SELECT count() FROM events") == len(generated)
    chains = history_client.execute(
        "SELECT case_id, groupArray(position) FROM events GROUP BY case_id"
    )
    assert len(chains) == cases
    for case_id, positions in chains:
        assert sorted(positions) == list(range(1, per_case + 1)), case_id
    verified = pantau_cli(sink_env, "verify", "all", timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"intact: {cases} cases, {len(generated)} events" in verified.stdout
