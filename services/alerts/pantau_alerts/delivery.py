"""Webhook delivery: each routed alert goes to each target once, with retries and a dead letter.

Final outcomes (delivered, dead_letter) are recorded on the internal compacted deliveries topic,
keyed `<alert_id>|<target>`, before the next alert is considered done; at start the dispatcher
waits until that topic has been read, so a restart sends only what has no outcome yet. Only the
instance with `PANTAU_ALERTS_DELIVER=true` runs a dispatcher. A crash between a successful call
and its record can send that one alert again after restart (at-least-once); receivers get the
alert_id in `Idempotency-Key` to drop it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from pantau.core.alerts import Alert, format_detected_at
from pantau_alerts.core.board import AlertBoard
from pantau_alerts.core.routing import DeliveryStatus, Route, RoutingTable, backoff_delay

__all__ = ["DeliveryDispatcher", "DeliveryFailed", "WebhookPoster"]

log = logging.getLogger("pantau.alerts.delivery")


class DeliveryFailed(Exception):
    """One attempt failed: a timeout, a refused connection or a non-2xx answer."""


class WebhookPoster(Protocol):
    """Port: one HTTP attempt to a route's webhook."""

    async def post(self, route: Route, alert: Alert) -> None: ...


class DeliveryDispatcher:
    """Queues (alert, route) pairs without an outcome and works them off with retries."""

    def __init__(
        self,
        board: AlertBoard,
        routes: RoutingTable,
        poster: WebhookPoster,
        record: Callable[[str, bytes], Awaitable[None]],
        clock: Callable[[], datetime],
        attempts: int = 5,
        backoff: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        concurrency: int = 8,
    ) -> None:
        self.board = board
        self.routes = routes
        self._poster = poster
        self._record = record
        self._clock = clock
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep
        self._in_flight: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self.outcomes: dict[str, int] = {}
        self.attempts_made = 0

    def submit(self, alert: Alert) -> None:
        """Start delivering an alert to every matching target that has no outcome yet."""
        for route in self.routes.targets_for(alert):
            pair = (alert.alert_id, route.name)
            if pair in self._in_flight or self.board.delivered(*pair):
                continue
            self._in_flight.add(pair)
            task = asyncio.get_running_loop().create_task(self._deliver(alert, route))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def catch_up(self) -> None:
        """After the logs were read: everything routed but not yet delivered (oldest first)."""
        pending = sorted(self.board.alerts.values(), key=lambda s: s.alert.detected_at)
        for state in pending:
            self.submit(state.alert)

    async def drain(self) -> None:
        """Wait until every started delivery finished (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def _deliver(self, alert: Alert, route: Route) -> None:
        pair = (alert.alert_id, route.name)
        error = ""
        attempt = 0
        try:
            async with self._slots:
                for attempt in range(1, self._attempts + 1):
                    self.attempts_made += 1
                    try:
                        await self._poster.post(route, alert)
                    except DeliveryFailed as failure:
                        error = str(failure)
                        log.warning(
                            "webhook %s for alert %s failed (attempt %d/%d): %s",
                            route.name,
                            alert.alert_id,
                            attempt,
                            self._attempts,
                            error,
                        )
                        if attempt < self._attempts:
                            await self._sleep(backoff_delay(attempt, self._backoff))
                        continue
                    await self._finish(alert, route, DeliveryStatus.DELIVERED, attempt, None)
                    return
                await self._finish(alert, route, DeliveryStatus.DEAD_LETTER, attempt, error)
        except Exception:
            # Recording failed (Kafka down): leave no outcome, so a later start retries it.
            log.exception("could not record the delivery of %s to %s", alert.alert_id, route.name)
        finally:
            self._in_flight.discard(pair)

    async def _finish(
        self, alert: Alert, route: Route, status: str, attempts: int, error: str | None
    ) -> None:
        record = {
            "alert_id": alert.alert_id,
            "target": route.name,
            "status": status,
            "attempts": attempts,
            "at": format_detected_at(self._clock()),
            "error": error,
        }
        await self._record(f"{alert.alert_id}|{route.name}", json.dumps(record).encode())
        # Also keep it locally now: the read-back may lag, and a new alert could be submitted.
        self.board.set_delivery(record)
        self.outcomes[status] = self.outcomes.get(status, 0) + 1
        if status == DeliveryStatus.DEAD_LETTER:
            log.error(
                "alert %s dead-lettered for %s after %d attempts: %s",
                alert.alert_id,
                route.name,
                attempts,
                error,
            )
