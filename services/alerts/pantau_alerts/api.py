"""The operators' HTTP API and the dashboard's static files (FastAPI, a thin adapter).

Every route but health, readiness, metrics and the dashboard's static files needs
`Authorization: Bearer <operator token>`. The live stream uses the same header: the dashboard
reads it with `fetch` streaming rather than `EventSource`, which cannot send headers — a token
in the URL would end up in access logs and browser history.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the route signatures, which
# use aliases local to create_app (OperatorDep, QueryDep).
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from pantau.core.alerts import Category, Rule, Severity
from pantau.core.events import parse_rfc3339
from pantau_alerts.core.board import AlertQuery, alert_view
from pantau_alerts.core.cases import case_timeline, service_health
from pantau_alerts.core.digest import agency_timezone, daily_digest, previous_local_day
from pantau_alerts.core.lifecycle import (
    NOTE_MAX_CHARS,
    ActionKind,
    AlertStatus,
    IllegalMove,
    MalformedAction,
)
from pantau_alerts.core.operators import Operator, OperatorDirectory
from pantau_alerts.desk import AlertDesk, LogUnavailable, NotVisible, UnknownAlert

__all__ = ["create_app"]

_STATIC = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}


class ActionRequest(BaseModel):
    """An operator's action on an alert; `note` is the reason of a dismissal."""

    action: ActionKind
    note: str | None = Field(None, max_length=NOTE_MAX_CHARS)


def _time_param(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as error:
        raise HTTPException(
            422, detail=[{"loc": ["query", name], "msg": str(error), "type": "rfc3339"}]
        ) from None


def _dashboard_file(name: str) -> bytes:
    return resources.files("pantau_alerts").joinpath("dashboard", name).read_bytes()


def create_app(
    desk: AlertDesk,
    operators: OperatorDirectory,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    extra_metrics: Callable[[CollectorRegistry], None] | None = None,
) -> FastAPI:
    """The FastAPI app over one desk; `lifespan` starts and stops the adapters."""
    app = FastAPI(
        title="Pantau alerts",
        version="1",
        lifespan=lifespan,
        description="Operators' API: alerts, their lifecycle, cases and a live stream.",
    )

    def current_operator(request: Request) -> Operator:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        operator = operators.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if operator is None:
            raise HTTPException(
                401,
                detail="missing or unknown operator token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return operator

    def ready_operator(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
        # Until the logs are read to where they ended at start, the board is incomplete: an
        # answer such as 404 for an alert not read yet would be wrong, so say so instead.
        if not desk.ready:
            raise HTTPException(
                503, detail="catching up with the logs", headers={"Retry-After": "2"}
            )
        return operator

    OperatorDep = Annotated[Operator, Depends(ready_operator)]

    def scope(operator: Operator, agency: str | None) -> frozenset[str] | None:
        """The agencies an operator's request may read; 403 when a filter asks for more."""
        if agency is not None and not operator.can_see(agency):
            raise HTTPException(403, detail=f"not granted agency {agency}")
        return None if operator.sees_all else operator.agencies

    def alert_query(
        agency: str | None = None,
        service: str | None = None,
        rule: Rule | None = None,
        category: Category | None = None,
        severity: Severity | None = None,
        min_severity: Severity | None = None,
        status: AlertStatus | None = None,
        case_id: str | None = None,
        since: Annotated[str | None, Query(description="RFC 3339; detected at or after")] = None,
        until: Annotated[str | None, Query(description="RFC 3339; detected before")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> AlertQuery:
        begin, end = _time_param(since, "since"), _time_param(until, "until")
        if begin is not None and end is not None and end <= begin:
            raise HTTPException(
                422, detail=[{"loc": ["query", "until"], "msg": "must be after since"}]
            )
        return AlertQuery(
            agency=agency,
            service=service,
            rule=rule,
            category=category,
            severity=severity,
            min_severity=min_severity,
            status=status,
            case_id=case_id,
            since=begin,
            until=end,
            limit=limit,
            offset=offset,
        )

    QueryDep = Annotated[AlertQuery, Depends(alert_query)]

    @app.exception_handler(UnknownAlert)
    async def _unknown(_: Request, exc: UnknownAlert) -> JSONResponse:
        return JSONResponse({"detail": f"no alert {exc.args[0]}"}, status_code=404)

    @app.exception_handler(NotVisible)
    async def _not_visible(_: Request, exc: NotVisible) -> JSONResponse:
        return JSONResponse({"detail": f"not granted agency {exc.args[0]}"}, status_code=403)

    @app.exception_handler(IllegalMove)
    async def _illegal(_: Request, exc: IllegalMove) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(MalformedAction)
    async def _malformed(_: Request, exc: MalformedAction) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(LogUnavailable)
    async def _unavailable(_: Request, exc: LogUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    # --- health ------------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        if desk.ready:
            return JSONResponse({"status": "ready", "alerts": len(desk.board.alerts)})
        return JSONResponse({"status": "catching up with the logs"}, status_code=503)

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        registry = CollectorRegistry()
        by_status = Gauge(
            "pantau_alerts_alerts", "alerts known, by status", ["status"], registry=registry
        )
        for st in AlertStatus:
            by_status.labels(st.value).set(
                sum(1 for s in desk.board.alerts.values() if s.status is st)
            )
        Gauge("pantau_alerts_ready", "1 once caught up with the logs", registry=registry).set(
            int(desk.ready)
        )
        Gauge("pantau_alerts_cases", "case states known", registry=registry).set(
            len(desk.board.cases)
        )
        Gauge("pantau_alerts_stream_clients", "open live streams", registry=registry).set(
            len(desk.hub)
        )
        Gauge(
            "pantau_alerts_rejected_records", "unreadable records skipped", registry=registry
        ).set(desk.rejected_records)
        Gauge("pantau_alerts_duplicate_alerts", "alert records seen again", registry=registry).set(
            desk.board.duplicates
        )
        actions = Gauge(
            "pantau_alerts_actions_taken", "actions taken here", ["action"], registry=registry
        )
        for kind, count in desk.actions_taken.items():
            actions.labels(kind).set(count)
        if extra_metrics is not None:
            extra_metrics(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # --- alerts ------------------------------------------------------------------------------

    @app.get("/v1/me", tags=["operators"])
    async def me(operator: Annotated[Operator, Depends(current_operator)]) -> dict[str, Any]:
        return operator.to_json()

    @app.get("/v1/alerts", tags=["alerts"])
    async def list_alerts(operator: OperatorDep, query: QueryDep) -> dict[str, Any]:
        page, total = desk.board.query(query, scope(operator, query.agency))
        return {
            "items": [alert_view(s) for s in page],
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
        }

    @app.get("/v1/alerts/summary", tags=["alerts"])
    async def summary(operator: OperatorDep, query: QueryDep) -> dict[str, Any]:
        return desk.board.counts(query, scope(operator, query.agency))

    @app.get("/v1/alerts/stream", tags=["alerts"])
    async def stream(
        operator: OperatorDep, request: Request, agency: str | None = None
    ) -> StreamingResponse:
        agencies = scope(operator, agency)
        if agency is not None:
            agencies = frozenset({agency})

        async def events() -> AsyncIterator[bytes]:
            yield b"retry: 2000\n: connected\n\n"
            async for item in desk.hub.subscribe(agencies):
                if await request.is_disconnected():
                    return
                if item is None:
                    yield b": keep-alive\n\n"
                    continue
                kind, payload = item
                data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                yield f"event: {kind}\ndata: {data}\n\n".encode()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/v1/alerts/{alert_id}", tags=["alerts"])
    async def get_alert(alert_id: str, operator: OperatorDep) -> dict[str, Any]:
        state = desk.get(alert_id, operator)
        case = desk.board.case_of(state.alert)
        return {
            **alert_view(state),
            "case": None if case is None else case_timeline(case, desk.catalog, desk.clock()),
            "deliveries": desk.board.deliveries_of(alert_id),
        }

    @app.post("/v1/alerts/{alert_id}/actions", tags=["alerts"])
    async def act(alert_id: str, body: ActionRequest, operator: OperatorDep) -> dict[str, Any]:
        state = await desk.act(alert_id, operator, body.action, body.note)
        return alert_view(state)

    # --- cases and service health ------------------------------------------------------------

    @app.get("/v1/cases/{agency}/{case_id}", tags=["cases"])
    async def get_case(agency: str, case_id: str, operator: OperatorDep) -> dict[str, Any]:
        scope(operator, agency)
        case = desk.board.cases.get((agency, case_id))
        if case is None:
            raise HTTPException(404, detail=f"no case state for {agency}|{case_id} yet")
        page, _ = desk.board.query(AlertQuery(agency=agency, case_id=case_id, limit=500), None)
        return {
            **case_timeline(case, desk.catalog, desk.clock()),
            "alerts": [alert_view(s) for s in page],
        }

    @app.get("/v1/sla", tags=["cases"])
    async def sla(operator: OperatorDep, agency: str | None = None) -> dict[str, Any]:
        agencies = scope(operator, agency)
        cases = [
            c
            for c in desk.board.cases.values()
            if (agencies is None or c.agency in agencies) and (agency is None or c.agency == agency)
        ]
        rows = service_health(cases, desk.catalog, desk.clock())
        rows = [
            r
            for r in rows
            if (agencies is None or r["agency"] in agencies)
            and (agency is None or r["agency"] == agency)
        ]
        return {"services": rows}

    @app.get("/v1/digest", tags=["cases"])
    async def digest(
        operator: OperatorDep,
        agency: str,
        day: Annotated[
            date | None, Query(alias="date", description="local day; default yesterday")
        ] = None,
    ) -> dict[str, Any]:
        scope(operator, agency)
        now = desk.clock()
        chosen = day or previous_local_day(now, agency_timezone(desk.catalog, agency))
        return daily_digest(
            desk.board.alerts.values(), desk.board.cases.values(), agency, chosen, desk.catalog, now
        )

    # --- dashboard ---------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(_dashboard_file("index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in _STATIC:
            return PlainTextResponse("not found", status_code=404)
        return Response(
            _dashboard_file(name),
            media_type=_STATIC[name],
            headers={"Cache-Control": "no-cache"},
        )

    return app
