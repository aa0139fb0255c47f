"""A peer of the tracker for the benchmark: Quix Streams running the same pure core.

Not part of Pantau: it shows what the stream runtime costs next to the core. One Quix Streams
application reads the events topic, keeps each case's state in Quix's RocksDB state store
(the `encode_state` document the tracker keeps, as text), judges each event with the same
`handle_event` (the contract's rules; the cross-case rules, which need a second stage keyed by
service, are off) and produces the alerts. It runs in a virtual environment of its own
(`.venv-quix`, made by `make bench-tracker`), since Quix Streams needs other versions of shared
libraries than Pantau pins.

    .venv-quix/bin/python benchmarks/quix_peer.py TOPIC ALERTS_TOPIC EVENTS

Prints `quix peer: N events in S s` once N events are handled and committed.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from quixstreams import Application

from pantau.core.catalog import load_catalog
from pantau.settings import SAMPLE_CATALOG
from pantau_tracker.domain.batches import decode_state, encode_state
from pantau_tracker.domain.records import Rejection, read_event
from pantau_tracker.domain.standards import Standards, TrackerPolicy
from pantau_tracker.domain.tracking import handle_event

KAFKA = "127.0.0.1:9092"


def main() -> int:
    topic_name, alerts_name, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    catalog = load_catalog(SAMPLE_CATALOG)
    standards = Standards(catalog, TrackerPolicy(cross_case=False))
    seen = {"events": 0, "first": 0.0, "last": 0.0}
    with tempfile.TemporaryDirectory() as state_dir:
        app = Application(
            broker_address=KAFKA,
            consumer_group=f"quix-peer-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            state_dir=state_dir,
            commit_interval=1.0,
            processing_guarantee="at-least-once",
        )
        events = app.topic(topic_name, key_deserializer="bytes", value_deserializer="bytes")
        alerts = app.topic(alerts_name, key_serializer="bytes", value_serializer="bytes")

        def judge(value: bytes, key: bytes, timestamp: int, headers: Any, state: Any) -> list[Any]:
            if not seen["first"]:
                seen["first"] = time.perf_counter()
            found = read_event(key, value, catalog)
            out: list[bytes] = []
            if not isinstance(found, Rejection):
                standard = standards.for_case(found.agency, found.service)
                if standard is not None:
                    stored = state.get("case")
                    before = None if stored is None else decode_state(stored.encode())
                    received = datetime.fromtimestamp(timestamp / 1000, UTC)
                    outcome = handle_event(before, found, received, standard)
                    if outcome.state is None:
                        state.delete("case")
                    elif outcome.changed:
                        # Quix keeps JSON values: the tracker's state bytes, as text.
                        state.set("case", encode_state(outcome.state, 0).decode())
                    out = [alert.to_json_bytes() for alert in outcome.alerts]
            seen["events"] += 1
            if seen["events"] >= total:
                seen["last"] = time.perf_counter()
                app.stop()
            return out

        frame = app.dataframe(events)
        frame = frame.apply(judge, stateful=True, metadata=True, expand=True)
        frame.to_topic(alerts)
        app.run()
    print(f"quix peer: {seen['events']} events in {seen['last'] - seen['first']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
