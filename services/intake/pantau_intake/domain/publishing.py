"""Where accepted events go: the `EventPublisher` port and its in-memory fake.

`publish` returns only once every record is durably acknowledged (for Kafka: acks=all from the
in-sync replicas); anything else raises `PublishUnavailable`, and the intake then answers 503 so
that the caller sends again. A 503 promises nothing either way: some records of the request may
have been written, and the resend is deduplicated downstream by `event_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


class OutgoingRecord(NamedTuple):
    """One event ready for `pantau.events`: its key, its JSON value, and its id for the reply.

    A named tuple: one is built per event, at half the cost of a frozen dataclass."""

    key: bytes
    value: bytes
    event_id: str


class PublishUnavailable(Exception):
    """The records could not be acknowledged in time; the message is safe to show to callers."""


class EventPublisher(Protocol):
    """Hands events to the event log durably, or says it could not."""

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Return when every record is acknowledged; raise PublishUnavailable otherwise."""
        ...

    async def ready(self) -> bool:
        """True when the event log is reachable and the events topic exists."""
        ...

    async def close(self) -> None:
        """Finish what was sent (briefly) and release connections."""
        ...


class InMemoryPublisher:
    """A fake event log for tests: records in a list; can be switched to fail like a dead broker."""

    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []
        self.available = True
        self.closed = False

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if not self.available or self.closed:
            raise PublishUnavailable("the event log is unavailable")
        self.records.extend(records)

    async def ready(self) -> bool:
        return self.available and not self.closed

    async def close(self) -> None:
        self.closed = True
