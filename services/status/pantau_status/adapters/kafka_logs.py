"""Kafka for the status service: read `pantau.cases` and `pantau.alerts` from the beginning into
the read model, and publish reports to `pantau.alerts` with acks=all.

No consumer group, nothing committed: each instance rebuilds its view from the compacted cases
topic at start and then follows it live, like the alerts service (`pantau.adapters.replayed_logs`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pantau.adapters.replayed_logs import Handler, ReplayedLogs

__all__ = ["StatusLogs"]

log = logging.getLogger("pantau.status.kafka")


class StatusLogs(ReplayedLogs):
    """The reader and the report publisher of one status instance."""

    def __init__(
        self,
        servers: list[str],
        handlers: dict[str, Handler],
        alerts_topic: str,
        on_caught_up: Callable[[], None],
        client_id: str = "pantau-status",
    ) -> None:
        super().__init__(servers, handlers, on_caught_up, client_id, log)
        self._alerts_topic = alerts_topic

    async def publish_alert(self, key: str, value: bytes) -> None:
        """One alert on `pantau.alerts`, keyed `<agency>|<case_id>`; returns after acks=all."""
        await self.send(self._alerts_topic, key, value)
