"""Webhook calls over HTTP: one POST of a JSON body per attempt, with a hard timeout."""

from __future__ import annotations

import httpx

from pantau_alerts.delivery import DeliveryFailed
from pantau_alerts.domain.routing import Route

__all__ = ["HttpWebhookPoster"]


class HttpWebhookPoster:
    """Posts alerts with httpx; anything but a 2xx within the timeout is a failed attempt."""

    def __init__(self, timeout: float) -> None:
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)

    async def post(self, route: Route, body: bytes, idempotency_key: str) -> None:
        headers = {
            **route.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            "X-Pantau-Route": route.name,
        }
        try:
            response = await self._client.post(route.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryFailed("timed out") from None
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()
