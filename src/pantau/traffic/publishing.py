"""Sending traffic into the stack: straight to Kafka or through the HTTP intake, with progress.

Both publishers keep each case's events in the order given (one Kafka key per case; HTTP batches
are sent one after another), and both count an event as sent only once it is acknowledged:
Kafka with acks=all, the intake with its 202.
"""

from __future__ import annotations

import argparse
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Protocol, TextIO

import httpx

from pantau.core.events import Event, event_key
from pantau.traffic.settings import SimulateSettings, read_api_keys


class TrafficPublisher(Protocol):
    """Where simulated or replayed events go."""

    def send(self, event: Event) -> None:
        """Queue one event; it is acknowledged by the next `flush` at the latest."""
        ...

    def flush(self) -> int:
        """Wait until everything queued is acknowledged; the number acknowledged so far."""
        ...

    def close(self) -> None:
        """Flush and release connections."""
        ...


class PublishError(Exception):
    """Events could not be delivered; the message says why."""


class _ConnectedPublisher(ABC):
    """A publisher holding connections: `close` flushes, then releases them even when the flush
    fails."""

    @abstractmethod
    def flush(self) -> int:
        """Wait until everything queued is acknowledged; the number acknowledged so far."""

    @abstractmethod
    def release(self) -> None:
        """Close the publisher's connections."""

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.release()


class KafkaTrafficPublisher(_ConnectedPublisher):
    """Produces to the events topic with an idempotent producer (acks=all, ordered retries)."""

    def __init__(self, servers: list[str], topic: str) -> None:
        from pantau.adapters.kafka_client import KafkaProducer

        self.topic = topic
        self.producer = KafkaProducer(
            bootstrap_servers=servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            batch_size=512 * 1024,
            max_request_size=4 * 1024 * 1024,
            client_id="pantau-traffic",
        )
        self.acked = 0
        self.queued = 0
        self.failure: BaseException | None = None

    def _ok(self, _metadata: Any) -> None:
        self.acked += 1

    def _failed(self, error: BaseException) -> None:
        self.failure = self.failure or error

    def send(self, event: Event) -> None:
        if self.failure is not None:
            raise PublishError(f"Kafka refused an event: {self.failure}")
        future = self.producer.send(
            self.topic, key=event_key(event.agency, event.case_id), value=event.to_json_bytes()
        )
        future.add_callback(self._ok)
        future.add_errback(self._failed)
        self.queued += 1
        if self.queued - self.acked > 20000:  # bound memory: let the producer catch up
            self.flush()

    def flush(self) -> int:
        self.producer.flush()
        if self.failure is not None:
            raise PublishError(f"Kafka refused an event: {self.failure}")
        return self.acked

    def release(self) -> None:
        self.producer.close()


class HttpTrafficPublisher(_ConnectedPublisher):
    """Posts batches to the intake's `POST /v1/events`, one agency key per batch.

    Retries 429 and 503 after their `Retry-After`; any other refusal stops the run, since it
    means the traffic itself is wrong (a 422 names the event and field).
    """

    def __init__(
        self,
        base_url: str,
        keys: Mapping[str, str],
        *,
        batch: int = 500,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/v1/events"
        self.keys = dict(keys)
        self.batch = batch
        self.client = client or httpx.Client(timeout=30.0)
        self.pending: dict[str, list[Event]] = {}
        self.pending_ids: dict[str, set[str]] = {}
        self.acked = 0

    def send(self, event: Event) -> None:
        if event.agency not in self.keys:
            raise PublishError(f"no API key for agency {event.agency} (see --api-keys)")
        ids = self.pending_ids.setdefault(event.agency, set())
        if event.event_id in ids:  # a resend goes in a later request, as a real retry would
            self._post(event.agency)
            ids = self.pending_ids.setdefault(event.agency, set())
        self.pending.setdefault(event.agency, []).append(event)
        ids.add(event.event_id)
        if len(self.pending[event.agency]) >= self.batch:
            self._post(event.agency)

    def _post(self, agency: str) -> None:
        events = self.pending.pop(agency, [])
        self.pending_ids.pop(agency, None)
        if not events:
            return
        body = b'{"events":[' + b",".join(e.to_json_bytes() for e in events) + b"]}"
        headers = {
            "Authorization": f"Bearer {self.keys[agency]}",
            "Content-Type": "application/json",
        }
        for _attempt in range(60):
            try:
                response = self.client.post(self.url, content=body, headers=headers)
            except httpx.TransportError as error:
                time.sleep(1.0)
                last = f"{type(error).__name__}: {error}"
                continue
            if response.status_code == 202:
                self.acked += len(events)
                return
            if response.status_code in (429, 503):
                time.sleep(float(response.headers.get("Retry-After", "1")))
                last = f"HTTP {response.status_code}"
                continue
            raise PublishError(f"the intake answered {response.status_code}: {response.text[:500]}")
        raise PublishError(f"the intake kept refusing a batch for {agency}: {last}")

    def flush(self) -> int:
        for agency in list(self.pending):
            self._post(agency)
        return self.acked

    def release(self) -> None:
        self.client.close()


class NullPublisher:
    """Discards events: measures how fast traffic is generated, without any sending."""

    def __init__(self) -> None:
        self.acked = 0

    def send(self, event: Event) -> None:
        event.to_json_bytes()  # serialising is part of generating, to compare like with like
        self.acked += 1

    def flush(self) -> int:
        return self.acked

    def close(self) -> None:
        return None


class Progress:
    """Events sent, rate and ETA on stderr: one rewritten line on a terminal, else a log line."""

    def __init__(
        self, label: str, total: int | None = None, out: TextIO | None = None, every: float = 0.5
    ) -> None:
        self.label = label
        self.total = total
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.every = every if self.tty else max(every, 5.0)
        self.started = time.monotonic()
        self.shown = 0.0
        self.events = 0
        self.done = 0  # units of `total` (cases or rows) finished

    def update(self, events: int, done: int | None = None, *, force: bool = False) -> None:
        self.events = events
        if done is not None:
            self.done = done
        now = time.monotonic()
        if not force and now - self.shown < self.every:
            return
        self.shown = now
        self.out.write(("\r" if self.tty else "") + self.line(now) + ("" if self.tty else "\n"))
        self.out.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.started, 1e-9)
        rate = self.events / elapsed
        text = f"{self.label}: {self.events:,} events, {rate:,.0f}/s"
        if self.total:
            share = self.done / self.total
            eta = elapsed * (1 - share) / share if share > 0 else None
            text += f", {self.done:,}/{self.total:,} ({share:.0%})"
            text += f", ETA {_clock(eta)}" if eta is not None else ""
        return text + f", {_clock(elapsed)} elapsed"

    @property
    def rate(self) -> float:
        return self.events / max(time.monotonic() - self.started, 1e-9)

    def finish(self) -> str:
        self.update(self.events, force=True)
        if self.tty:
            self.out.write("\n")
        return self.line()


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def chosen_publisher(
    command: str, args: argparse.Namespace, settings: SimulateSettings
) -> TrafficPublisher:
    """The publisher `pantau <command>` sends with: `--via` (else PANTAU_SIMULATE_VIA) Kafka, or
    the intake at `--intake-url` with the keys of `--api-keys` (else the settings')."""
    via = args.via or settings.simulate_via
    if via == "kafka":
        return KafkaTrafficPublisher(settings.kafka_servers, settings.topics.events)
    keys_file = args.api_keys or settings.simulate_api_keys
    if keys_file is None:
        raise SystemExit(
            f"pantau {command}: --via http needs --api-keys or PANTAU_SIMULATE_API_KEYS"
        )
    return HttpTrafficPublisher(args.intake_url or settings.intake_url, read_api_keys(keys_file))
