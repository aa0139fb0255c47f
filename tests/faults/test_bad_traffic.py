"""Duplicates, conflicting resends, out-of-order and late events and poison records, mixed into
one stream flowing through intake, tracker and sink."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from faults.pipeline import Ledger, check_history, intake_stream, pipeline, send_stream
from tracker_harness import AGENCY, pbg_case, producer, read_topic


def test_bad_traffic_mixed_into_the_stream_is_stored_once_and_never_stalls(
    servers: None, tmp_path: Path
) -> None:
    """Resent and conflicting events, events out of order or days late, and poison records on
    the events topic: each 202'd event stored once, poison in the DLQ, alerts and case states
    equal a fold of the events."""
    started = time.monotonic()
    now = datetime.now(UTC)
    stream = intake_stream(200, now - timedelta(hours=8), "bad")
    # Late: cases that began twelve days ago arrive now; the deadline timer alerts them.
    late = [pbg_case(f"bad-late-{i}", now - timedelta(days=12, hours=i))[:2] for i in range(20)]
    for i, events in enumerate(late):
        stream[i * 40 : i * 40] = events
    # Resent in a later batch, as a client retrying after a lost answer.
    stream.extend(stream[100:160])
    # The same event_id again with other content: the first stored one stands.
    stream.extend({**event, "attributes": {"resent": "changed"}} for event in stream[200:230])
    poison: list[tuple[bytes | None, bytes]] = [
        (f"{AGENCY}|bad-00001".encode(), b"\x00\xffnot json"),
        (f"{AGENCY}|bad-00002".encode(), b"[1, 2, 3]"),
        (f"{AGENCY}|bad-00003".encode(), json.dumps({"event_id": "poison-1"}).encode()),
        (
            b"nobody.agency|X-1",
            json.dumps(
                {
                    "event_id": "poison-2",
                    "agency": "nobody.agency",
                    "service": "pbg",
                    "case_id": "X-1",
                    "step": "submitted",
                    "occurred_at": now.isoformat(),
                }
            ).encode(),
        ),
        (None, b"{}"),
    ]
    ledger = Ledger()
    done = threading.Event()
    with pipeline(tmp_path) as stack:
        sender = send_stream(stack.intake, stream, ledger, batch=20, pause=0.05, done=done)
        read_topic(stack.topics.alerts, until=lambda r: len(r) >= 10, timeout=30)
        raw = producer()
        for key, value in poison * 4:
            raw.send(stack.topics.events, key=key, value=value)
            time.sleep(0.05)
        raw.flush()
        raw.close()
        assert not done.is_set(), "the stream ended before the poison"
        sender.join(timeout=60)
        assert done.is_set()
        counts = check_history(stack, ledger)
        refusals = stack.intake.refusals
        dlq = read_topic(stack.topics.dlq, until=lambda r: len(r) >= len(poison) * 4, timeout=10)
    assert ledger.failed | ledger.unknown == set(), refusals[:3]
    assert counts["acknowledged"] == len({e["event_id"] for e in stream})
    assert len(dlq) == len(poison) * 4, "each poison record in the DLQ once"
    assert counts["stored"] == counts["acknowledged"], "poison must not be stored"
    print(counts, f"{time.monotonic() - started:.1f} s")
