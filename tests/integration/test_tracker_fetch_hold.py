"""A live worker holds its fetches at the broker while records flow steadily, and answers at
once when a backlog comes (`stream_runtime.FetchHold`), on the real broker and aiokafka."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from pantau.core.events import event_key
from pantau.settings import TopicNames
from tracker_harness import TrackerProcess, consumer_lag, fresh_topics, pbg_case, producer

HELD = "pantau_tracker_fetches_held"


def case_events(start: datetime) -> Iterator[dict[str, Any]]:
    index = 0
    while True:
        yield from pbg_case(f"HOLD-{index:06d}", start + timedelta(seconds=index))
        index += 1


def wait_for(worker: TrackerProcess, held: float, timeout: float, step: Any = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if step is not None:
            step()
        if worker.metric(HELD) == held:
            return True
        time.sleep(0.1)
    return False


def test_fetches_are_held_under_a_steady_flow_and_not_on_a_backlog(
    local_servers: None, tmp_path: Path
) -> None:
    with fresh_topics() as env:
        names = TopicNames(env["PANTAU_TOPIC_PREFIX"])
        sender = producer()
        events = case_events(datetime.now(UTC) - timedelta(days=2))

        def send(count: int) -> None:
            for _ in range(count):
                event = next(events)
                key = event_key(event["agency"], event["case_id"])
                sender.send(names.events, key=key, value=orjson.dumps(event))
            sender.flush()

        process = TrackerProcess(env, tmp_path / "state", tmp_path / "tracker.log")
        try:
            with process.running() as worker:
                assert worker.metric(HELD) == 0  # idle: the long poll
                # About 100 events/s, in steps of 10.
                assert wait_for(worker, 1, 20, step=lambda: send(10)), worker.log_tail()
                send(10_000)  # a backlog: ten seconds of a worker's rate
                assert wait_for(worker, 0, 10), worker.log_tail()
                deadline = time.monotonic() + 120
                while consumer_lag(names.group("tracker"), names.events) > 0:
                    assert time.monotonic() < deadline, "the backlog was not read in 120 s"
                    time.sleep(0.5)
        finally:
            sender.close()
