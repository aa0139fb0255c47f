"""Running `pantau sink` as a real process for tests, and publishing to its topics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from pantau.core.events import Event, event_key
from ports import free_port
from stacks import stop_process


class SinkProcess:
    """`pantau sink` in the background with the given PANTAU_* environment."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.metrics_port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pantau.cli", "sink"],
            env={**os.environ, "PANTAU_SINK_METRICS_PORT": str(self.metrics_port), **env},
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def peak_rss_kib(self) -> int:
        """The process's peak resident memory so far (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM")

    def stop(self) -> int:
        """Stop it with SIGTERM (a graceful stop) and return its exit status."""
        stop_process(self.process)
        self._out.close()
        return self.process.returncode


def publish_events(servers: str, topic: str, events: list[Event]) -> None:
    """Publish events as agency backends may: keyed by case, acknowledged by all replicas."""
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5)
    for event in events:
        producer.send(
            topic, key=event_key(event.agency, event.case_id), value=event.to_json_bytes()
        )
    producer.flush(timeout=60)
    producer.close()


def publish(
    servers: str | list[str], topic: str, records: list[tuple[bytes | None, bytes]]
) -> None:
    """Publish raw (key, value) records."""
    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=60)
    producer.close()


def wait_for(check: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as error:  # the store may be unreachable for a while
            last = error
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout} s; last: {last!r}")
