"""Webhook delivery: each routed alert goes to each target once, with retries and a dead letter.

A delivery has a subject — an alert_id, or `digest:<agency>:<day>` for a daily digest — and a
target route. Final outcomes (delivered, dead_letter) are recorded on the internal compacted
deliveries topic, keyed `<subject>|<target>`; at start the dispatcher waits until that topic has
been read, so a restart sends only what has no outcome yet. Only the instance with
`PANTAU_ALERTS_DELIVER=true` runs a dispatcher. A crash between a successful call and its record
can send that one subject again after restart (at-least-once); receivers get the subject in
`Idempotency-Key` to drop it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from pantau.core.alerts import Alert, format_detected_at
from pantau_alerts.domain.board import AlertBoard
from pantau_alerts.domain.digest import (
    agency_timezone,
    daily_digest,
    digest_subject,
    previous_local_day,
)
from pantau_alerts.domain.routing import DeliveryStatus, Route, RoutingTable, backoff_delay
from pantau_alerts.domain.standards import CaseCatalogs

__all__ = ["DeliveryDispatcher", "DeliveryFailed", "WebhookPoster"]

log = logging.getLogger("pantau.alerts.delivery")


class DeliveryFailed(Exception):
    """One attempt failed: a timeout, a refused connection or a non-2xx answer."""


class WebhookPoster(Protocol):
    """Port: one HTTP attempt to a route's webhook with a JSON body."""

    async def post(self, route: Route, body: bytes, idempotency_key: str) -> None: ...


class DeliveryDispatcher:
    """Starts a delivery per (subject, route) without an outcome and retries it with backoff."""

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
        standards: CaseCatalogs | None = None,
    ) -> None:
        self.board = board
        self.routes = routes
        self.standards = standards or CaseCatalogs(None)
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
        # For /metrics, by the route's configured name (never a subject or an address).
        self.outcomes_by_route: dict[tuple[str, str], int] = {}
        self.failed_attempts_by_route: dict[str, int] = {}

    def submit(self, alert: Alert) -> None:
        """Start delivering an alert to every matching target that has no outcome yet."""
        for route in self.routes.targets_for(alert):
            self._start(alert.alert_id, route, alert.to_json_bytes(), alert_id=alert.alert_id)

    def catch_up(self) -> None:
        """After the logs were read: everything routed but not yet delivered (oldest first)."""
        pending = sorted(self.board.alerts.values(), key=lambda s: s.alert.detected_at)
        for state in pending:
            self.submit(state.alert)
        self.send_digests()

    def send_digests(self) -> None:
        """Start yesterday's digest (agency local day) for each agency and digest route."""
        now = self._clock()
        current = self.standards.at(now)
        agencies = {s.alert.agency for s in self.board.alerts.values()}
        if current is not None:
            agencies |= set(current.agencies)
        for agency in sorted(agencies):
            routes = self.routes.digest_routes_for(agency)
            if not routes:
                continue
            day = previous_local_day(now, agency_timezone(current, agency))
            subject = digest_subject(agency, day)
            fresh = [r for r in routes if not self._known(subject, r)]
            if not fresh:
                continue
            digest = daily_digest(
                self.board.alerts.values(),
                self.board.cases.values(),
                agency,
                day,
                self.standards.on_day(agency, day),
                now,
            )
            body = json.dumps(digest, ensure_ascii=False).encode()
            for route in fresh:
                self._start(subject, route, body)

    async def drain(self) -> None:
        """Wait until every started delivery finished (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _known(self, subject: str, route: Route) -> bool:
        pair = (subject, route.name)
        return pair in self._in_flight or self.board.delivered(*pair)

    def _start(self, subject: str, route: Route, body: bytes, alert_id: str | None = None) -> None:
        if self._known(subject, route):
            return
        self._in_flight.add((subject, route.name))
        task = asyncio.get_running_loop().create_task(self._deliver(subject, route, body, alert_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, subject: str, route: Route, body: bytes, alert_id: str | None) -> None:
        error = ""
        attempt = 0
        try:
            async with self._slots:
                for attempt in range(1, self._attempts + 1):
                    self.attempts_made += 1
                    try:
                        await self._poster.post(route, body, subject)
                    except DeliveryFailed as failure:
                        error = str(failure)
                        failed = self.failed_attempts_by_route
                        failed[route.name] = failed.get(route.name, 0) + 1
                        log.warning(
                            "webhook %s for %s failed (attempt %d/%d): %s",
                            route.name,
                            subject,
                            attempt,
                            self._attempts,
                            error,
                        )
                        if attempt < self._attempts:
                            await self._sleep(backoff_delay(attempt, self._backoff))
                        continue
                    await self._finish(subject, alert_id, route, DeliveryStatus.DELIVERED, attempt)
                    return
                await self._finish(
                    subject, alert_id, route, DeliveryStatus.DEAD_LETTER, attempt, error
                )
        except Exception:
            # Recording failed (Kafka down): leave no outcome, so a later start retries it.
            log.exception("could not record the delivery of %s to %s", subject, route.name)
        finally:
            self._in_flight.discard((subject, route.name))

    async def _finish(
        self,
        subject: str,
        alert_id: str | None,
        route: Route,
        status: str,
        attempts: int,
        error: str | None = None,
    ) -> None:
        record = {
            "subject": subject,
            "alert_id": alert_id,
            "target": route.name,
            "status": status,
            "attempts": attempts,
            "at": format_detected_at(self._clock()),
            "error": error,
        }
        await self._record(f"{subject}|{route.name}", json.dumps(record).encode())
        # Also keep it locally now: the read-back may lag behind a new submission.
        self.board.set_delivery(record)
        self.outcomes[status] = self.outcomes.get(status, 0) + 1
        key = (route.name, str(status))
        self.outcomes_by_route[key] = self.outcomes_by_route.get(key, 0) + 1
        if status == DeliveryStatus.DEAD_LETTER:
            log.error(
                "%s dead-lettered for %s after %d attempts: %s",
                subject,
                route.name,
                attempts,
                error,
            )
