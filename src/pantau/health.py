"""The health endpoints of the HTTP services that read a log into memory before they serve it
(the alerts service, the status page): alive at once, ready once caught up."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse


def health_router() -> APIRouter:
    """A router answering `GET /healthz` while the process serves requests; the service adds
    its own `/readyz` (answered with `readiness`) and `/metrics`."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return router


def readiness(ready: bool, catching_up: str, **counts: int) -> JSONResponse:
    """`/readyz`: 200 with what is held (`counts`) once caught up, else 503 saying what the
    service is still reading."""
    if ready:
        return JSONResponse({"status": "ready", **counts})
    return JSONResponse({"status": catching_up}, status_code=503)
