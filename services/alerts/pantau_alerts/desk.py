"""The operators' desk: applies the logs to the board, answers actions, feeds the live stream.

The desk is the use-case layer between the adapters (Kafka reader and publisher, HTTP, webhooks)
and the pure core. An action is answered only once it has been acknowledged by Kafka (acks=all)
AND read back from the action log into this instance's board, so the answer is the state that
every instance will compute, even when two instances race on one alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from pantau.core.alerts import Alert
from pantau.core.catalog import Catalog
from pantau_alerts.domain.board import AlertBoard, alert_view
from pantau_alerts.domain.cases import parse_case_state
from pantau_alerts.domain.lifecycle import (
    ActionKind,
    AlertState,
    IllegalMove,
    MalformedAction,
    decide,
    parse_action,
)
from pantau_alerts.domain.operators import Operator
from pantau_alerts.domain.standards import CaseCatalogs

__all__ = ["ActionLog", "AlertDesk", "LiveHub", "LogUnavailable", "NotVisible", "UnknownAlert"]

log = logging.getLogger("pantau.alerts")


class UnknownAlert(KeyError):
    """No alert with this id (HTTP 404)."""


class NotVisible(PermissionError):
    """The operator is not granted the alert's agency (HTTP 403)."""


class LogUnavailable(RuntimeError):
    """Kafka did not acknowledge, or the action was not read back in time (HTTP 503)."""


class ActionLog(Protocol):
    """Port: the durable logs the desk writes to. Returns only after acks=all."""

    async def publish_action(self, key: str, value: bytes) -> None: ...

    async def publish_delivery(self, key: str, value: bytes) -> None: ...


@dataclass(eq=False)  # identity: each open stream is its own subscriber
class _Subscriber:
    agencies: Collection[str] | None
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=1000)
    )


class LiveHub:
    """Fan-out of board changes to live-stream subscribers, each seeing only their agencies.

    A subscriber that falls 1000 updates behind is dropped (its stream ends and the dashboard
    reconnects and reloads), so one slow client never holds memory or other clients back.
    """

    def __init__(self) -> None:
        self._subscribers: set[_Subscriber] = set()

    def __len__(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, agency: str, payload: dict[str, Any]) -> None:
        for sub in list(self._subscribers):
            if sub.agencies is not None and agency not in sub.agencies:
                continue
            try:
                sub.queue.put_nowait((kind, payload))
            except asyncio.QueueFull:
                self._subscribers.discard(sub)

    async def subscribe(
        self, agencies: Collection[str] | None
    ) -> AsyncIterator[tuple[str, dict[str, Any]] | None]:
        """Updates for these agencies; yields None every 15 s of silence (for keep-alives)."""
        sub = _Subscriber(agencies)
        self._subscribers.add(sub)
        try:
            while sub in self._subscribers:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), timeout=15)
                except TimeoutError:
                    yield None
                    continue
                if item is None:
                    return
                yield item
        finally:
            self._subscribers.discard(sub)

    def close(self) -> None:
        """End every stream (at shutdown)."""
        for sub in list(self._subscribers):
            self._subscribers.discard(sub)
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)


class AlertDesk:
    """Board + hub + action log: what the API and the Kafka reader talk to."""

    def __init__(
        self,
        log_port: ActionLog,
        catalog: Catalog | None,
        clock: Callable[[], datetime],
        readback_timeout: float = 10.0,
    ) -> None:
        self.board = AlertBoard()
        self.hub = LiveHub()
        # The catalogs timelines and digests are drawn with: every version read, by case.
        self.standards = CaseCatalogs(catalog)
        self.clock = clock
        self._log = log_port
        self._readback_timeout = readback_timeout
        self._seen_actions: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self.ready = False
        self.rejected_records = 0
        self.alert_listeners: list[Callable[[Alert], None]] = []
        self.actions_taken: dict[str, int] = {}

    # --- the logs, in order ------------------------------------------------------------------

    def on_alert(self, value: bytes | None) -> None:
        """A record of the alerts topic."""
        if value is None:
            return
        try:
            alert = Alert.from_json_bytes(value)
        except ValidationError as error:
            self.rejected_records += 1
            log.warning("skipping an invalid alert record: %s", error.errors()[:1])
            return
        state = self.board.add_alert(alert)
        if state is None:
            return
        self.hub.publish("alert", alert.agency, alert_view(state))
        for listener in self.alert_listeners:
            listener(alert)

    def on_action(self, value: bytes | None) -> None:
        """A record of the alert-actions topic."""
        if value is None:
            return
        try:
            record = parse_action(value)
        except MalformedAction as error:
            self.rejected_records += 1
            log.warning("skipping an invalid action record: %s", error)
            return
        state = self.board.add_action(record)
        waiting = self._seen_actions.get(record.action_id)
        if waiting is not None:
            waiting.set()
        if state is not None:
            self.hub.publish("alert", state.alert.agency, alert_view(state))

    def on_case(self, key: bytes | None, value: bytes | None) -> None:
        """A record of the cases topic (a tombstone or unreadable state is skipped)."""
        if value is None:
            return
        case = parse_case_state(None if key is None else key.decode("utf-8", "replace"), value)
        if case is None:
            self.rejected_records += 1
            return
        self.board.set_case(case)

    def on_delivery(self, value: bytes | None) -> None:
        """A record of the internal deliveries topic."""
        if value is None:
            return
        try:
            record = json.loads(value)
        except ValueError:
            self.rejected_records += 1
            return
        if isinstance(record, dict):
            self.board.set_delivery(record)

    # --- operators ---------------------------------------------------------------------------

    def get(self, alert_id: str, operator: Operator) -> AlertState:
        """The alert, or UnknownAlert / NotVisible."""
        state = self.board.alerts.get(alert_id)
        if state is None:
            raise UnknownAlert(alert_id)
        if not operator.can_see(state.alert.agency):
            raise NotVisible(state.alert.agency)
        return state

    async def act(
        self, alert_id: str, operator: Operator, action: ActionKind, note: str | None
    ) -> AlertState:
        """Record an operator's action; the resulting state once it is durable and read back.

        Raises UnknownAlert, NotVisible, IllegalMove, MalformedAction or LogUnavailable.
        """
        async with self._lock:  # one decision at a time: two clicks cannot both pass the check
            state = self.get(alert_id, operator)
            record = decide(
                state,
                action=action,
                actor=operator.id,
                note=note,
                action_id=uuid.uuid4().hex,
                now=self.clock(),
            )
            seen = self._seen_actions.setdefault(record.action_id, asyncio.Event())
            try:
                await self._log.publish_action(alert_id, record.to_json_bytes())
            except Exception as error:
                self._seen_actions.pop(record.action_id, None)
                raise LogUnavailable(f"the action log did not acknowledge: {error}") from error
            try:
                await asyncio.wait_for(seen.wait(), timeout=self._readback_timeout)
            except TimeoutError:
                raise LogUnavailable(
                    "the action is durable but was not read back in time; reload to see it"
                ) from None
            finally:
                self._seen_actions.pop(record.action_id, None)
            self.actions_taken[action.value] = self.actions_taken.get(action.value, 0) + 1
            if not self.board.has_action(alert_id, record.action_id):
                # Another instance's action came first in the log and made this one illegal.
                now_state = self.board.alerts[alert_id]
                raise IllegalMove(
                    f"cannot {action.value}: the alert became {now_state.status.value} meanwhile"
                )
            return self.board.alerts[alert_id]
