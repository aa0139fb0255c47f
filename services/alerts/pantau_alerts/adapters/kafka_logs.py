"""Kafka for the alerts service: read four topics from the beginning, publish with acks=all.

No consumer group: every instance assigns itself every partition, seeks to the beginning and
rebuilds its full view, then follows live (`pantau.adapters.replayed_logs`). Nothing is
committed, so instances never steal partitions from each other and a restart always rebuilds the
same state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pantau.adapters.kafka_topics import TopicSpec
from pantau.adapters.replayed_logs import Handler, ReplayedLogs

__all__ = ["KafkaLogs", "deliveries_topic_spec"]

log = logging.getLogger("pantau.alerts.kafka")


def deliveries_topic_spec(name: str, partitions: int) -> TopicSpec:
    """The internal deliveries topic: one final outcome per (alert, target), compacted."""
    return TopicSpec(name, max(1, partitions // 4), {"cleanup.policy": "compact"})


class KafkaLogs(ReplayedLogs):
    """The reader and the publisher of one alerts instance."""

    def __init__(
        self,
        servers: list[str],
        handlers: dict[str, Handler],
        action_topic: str,
        delivery_topic: str,
        on_caught_up: Callable[[], None],
        client_id: str = "pantau-alerts",
    ) -> None:
        super().__init__(servers, handlers, on_caught_up, client_id, log)
        self._action_topic = action_topic
        self._delivery_topic = delivery_topic

    async def publish_action(self, key: str, value: bytes) -> None:
        """An action record, keyed by alert_id; returns after acks=all."""
        await self.send(self._action_topic, key, value)

    async def publish_delivery(self, key: str, value: bytes) -> None:
        """A delivery outcome, keyed `<alert_id>|<target>`; returns after acks=all."""
        await self.send(self._delivery_topic, key, value)
