"""The operators' HTTP API and the dashboard's static files (FastAPI, a thin adapter).

Every route but health, readiness, metrics and the dashboard's static files needs
`Authorization: Bearer <operator token>`. The live stream uses the same header: the dashboard
reads it with `fetch` streaming rather than `EventSource`, which cannot send headers — a token
in the URL would end up in access logs and browser history.

The routes are module-level routers that reach the desk and the operator directory through
dependencies; `create_app` is the composition root that builds them into one app.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
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
from starlette.types import HTTPExceptionHandler

from pantau import health
from pantau.core.alerts import RULES, Category, Rule, Severity
from pantau.core.events import parse_rfc3339
from pantau_alerts.desk import AlertDesk, LogUnavailable, NotVisible, UnknownAlert
from pantau_alerts.domain.board import AlertQuery, alert_view
from pantau_alerts.domain.cases import case_timeline, service_health
from pantau_alerts.domain.digest import agency_timezone, daily_digest, previous_local_day
from pantau_alerts.domain.lifecycle import (
    NOTE_MAX_CHARS,
    ActionKind,
    AlertStatus,
    IllegalMove,
    MalformedAction,
)
from pantau_alerts.domain.operators import Operator, OperatorDirectory

__all__ = ["create_app"]

_STATIC = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}


class ActionRequest(BaseModel):
    """An operator's action on an alert; `note` is the reason of a dismissal."""

    action: ActionKind
    note: str | None = Field(None, max_length=NOTE_MAX_CHARS)


@dataclass(frozen=True)
class AlertsApi:
    """What the routes need, built once by `create_app`."""

    desk: AlertDesk
    operators: OperatorDirectory
    extra_metrics: Callable[[CollectorRegistry], None] | None = None


# --- dependencies --------------------------------------------------------------------------------
# Coroutines, so they run on the event loop beside the desk rather than on a thread pool.


async def _api(request: Request) -> AlertsApi:
    api: AlertsApi = request.app.state.alerts_api
    return api


ApiDep = Annotated[AlertsApi, Depends(_api)]


async def _authenticated(request: Request, api: ApiDep) -> Operator:
    """The operator whose bearer token the request carries, or a 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    operator = api.operators.authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if operator is None:
        raise HTTPException(
            401,
            detail="missing or unknown operator token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return operator


AuthenticatedDep = Annotated[Operator, Depends(_authenticated)]


async def _ready_operator(operator: AuthenticatedDep, api: ApiDep) -> Operator:
    # Until the logs are read to where they ended at start, the board is incomplete: an
    # answer such as 404 for an alert not read yet would be wrong, so say so instead.
    if not api.desk.ready:
        raise HTTPException(503, detail="catching up with the logs", headers={"Retry-After": "2"})
    return operator


OperatorDep = Annotated[Operator, Depends(_ready_operator)]


def _time_param(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as error:
        raise HTTPException(
            422, detail=[{"loc": ["query", name], "msg": str(error), "type": "rfc3339"}]
        ) from None


async def _alert_query(
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
        raise HTTPException(422, detail=[{"loc": ["query", "until"], "msg": "must be after since"}])
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


QueryDep = Annotated[AlertQuery, Depends(_alert_query)]


def _scope(operator: Operator, agency: str | None) -> frozenset[str] | None:
    """The agencies an operator's request may read; 403 when a filter asks for more."""
    if agency is not None and not operator.can_see(agency):
        raise HTTPException(403, detail=f"not granted agency {agency}")
    return None if operator.sees_all else operator.agencies


# --- the desk's refusals as HTTP answers ---------------------------------------------------------


async def _unknown(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"no alert {exc.args[0]}"}, status_code=404)


async def _not_visible(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"not granted agency {exc.args[0]}"}, status_code=403)


async def _illegal(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _malformed(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})


_ERROR_HANDLERS: dict[type[Exception], HTTPExceptionHandler] = {
    UnknownAlert: _unknown,
    NotVisible: _not_visible,
    IllegalMove: _illegal,
    MalformedAction: _malformed,
    LogUnavailable: _unavailable,
}

# --- health --------------------------------------------------------------------------------------

health_router = health.health_router()


@health_router.get("/readyz")
async def readyz(api: ApiDep) -> JSONResponse:
    return health.readiness(
        api.desk.ready, "catching up with the logs", alerts=len(api.desk.board.alerts)
    )


@health_router.get("/metrics")
async def metrics(api: ApiDep) -> Response:
    registry = _desk_metrics(api.desk)
    if api.extra_metrics is not None:
        api.extra_metrics(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _desk_metrics(desk: AlertDesk) -> CollectorRegistry:
    """The desk's gauges, read now, in a registry of their own."""
    registry = CollectorRegistry()
    by_status = Gauge(
        "pantau_alerts_alerts", "alerts known, by status", ["status"], registry=registry
    )
    for st in AlertStatus:
        by_status.labels(st.value).set(sum(1 for s in desk.board.alerts.values() if s.status is st))
    Gauge("pantau_alerts_ready", "1 once caught up with the logs", registry=registry).set(
        int(desk.ready)
    )
    Gauge("pantau_alerts_cases", "case states known", registry=registry).set(len(desk.board.cases))
    Gauge("pantau_alerts_stream_clients", "open live streams", registry=registry).set(len(desk.hub))
    Gauge("pantau_alerts_rejected_records", "unreadable records skipped", registry=registry).set(
        desk.rejected_records
    )
    Gauge("pantau_alerts_duplicate_alerts", "alert records seen again", registry=registry).set(
        desk.board.duplicates
    )
    actions = Gauge(
        "pantau_alerts_actions_taken", "actions taken here", ["action"], registry=registry
    )
    for kind, count in desk.actions_taken.items():
        actions.labels(kind).set(count)
    return registry


# --- operators and alerts ------------------------------------------------------------------------

operators_router = APIRouter(tags=["operators"])


@operators_router.get("/v1/me")
async def me(operator: AuthenticatedDep) -> dict[str, Any]:
    return operator.to_json()


alerts_router = APIRouter(tags=["alerts"])


@alerts_router.get("/v1/rules")
async def rules(_: AuthenticatedDep) -> dict[str, Any]:
    """The rule catalogue: every rule's id, category, severity, kind and title in Bahasa
    Indonesia and English."""
    return {"rules": [info.catalogue_entry() for info in RULES.values()]}


@alerts_router.get("/v1/alerts")
async def list_alerts(api: ApiDep, operator: OperatorDep, query: QueryDep) -> dict[str, Any]:
    page, total = api.desk.board.query(query, _scope(operator, query.agency))
    return {
        "items": [alert_view(s) for s in page],
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
    }


@alerts_router.get("/v1/alerts/summary")
async def summary(api: ApiDep, operator: OperatorDep, query: QueryDep) -> dict[str, Any]:
    return api.desk.board.counts(query, _scope(operator, query.agency))


@alerts_router.get("/v1/alerts/stream")
async def stream(
    api: ApiDep, operator: OperatorDep, request: Request, agency: str | None = None
) -> StreamingResponse:
    agencies = _scope(operator, agency)
    if agency is not None:
        agencies = frozenset({agency})
    return StreamingResponse(
        _live_events(api.desk, agencies, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _live_events(
    desk: AlertDesk, agencies: frozenset[str] | None, request: Request
) -> AsyncIterator[bytes]:
    """Server-Sent Events of the board's changes in these agencies, with keep-alives."""
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


@alerts_router.get("/v1/alerts/{alert_id}")
async def get_alert(alert_id: str, api: ApiDep, operator: OperatorDep) -> dict[str, Any]:
    desk = api.desk
    state = desk.get(alert_id, operator)
    case = desk.board.case_of(state.alert)
    return {
        **alert_view(state),
        "case": None
        if case is None
        else case_timeline(case, desk.standards.of_alert(state.alert, case), desk.clock()),
        "deliveries": desk.board.deliveries_of(alert_id),
    }


@alerts_router.post("/v1/alerts/{alert_id}/actions")
async def act(
    alert_id: str, body: ActionRequest, api: ApiDep, operator: OperatorDep
) -> dict[str, Any]:
    state = await api.desk.act(alert_id, operator, body.action, body.note)
    return alert_view(state)


# --- cases and service health --------------------------------------------------------------------

cases_router = APIRouter(tags=["cases"])


@cases_router.get("/v1/cases/{agency}/{case_id}")
async def get_case(agency: str, case_id: str, api: ApiDep, operator: OperatorDep) -> dict[str, Any]:
    desk = api.desk
    _scope(operator, agency)
    case = desk.board.cases.get((agency, case_id))
    if case is None:
        raise HTTPException(404, detail=f"no case state for {agency}|{case_id} yet")
    page, _ = desk.board.query(AlertQuery(agency=agency, case_id=case_id, limit=500), None)
    return {
        **case_timeline(case, desk.standards.of_case(case), desk.clock()),
        "alerts": [alert_view(s) for s in page],
    }


@cases_router.get("/v1/sla")
async def sla(api: ApiDep, operator: OperatorDep, agency: str | None = None) -> dict[str, Any]:
    desk = api.desk
    agencies = _scope(operator, agency)
    cases = [
        c
        for c in desk.board.cases.values()
        if (agencies is None or c.agency in agencies) and (agency is None or c.agency == agency)
    ]
    now = desk.clock()
    rows = service_health(cases, desk.standards.at(now), now)
    rows = [
        r
        for r in rows
        if (agencies is None or r["agency"] in agencies)
        and (agency is None or r["agency"] == agency)
    ]
    return {"services": rows}


@cases_router.get("/v1/digest")
async def digest(
    api: ApiDep,
    operator: OperatorDep,
    agency: str,
    day: Annotated[
        date | None, Query(alias="date", description="local day; default yesterday")
    ] = None,
) -> dict[str, Any]:
    desk = api.desk
    _scope(operator, agency)
    now = desk.clock()
    chosen = day or previous_local_day(now, agency_timezone(desk.standards.at(now), agency))
    catalog = desk.standards.on_day(agency, chosen)
    return daily_digest(
        desk.board.alerts.values(), desk.board.cases.values(), agency, chosen, catalog, now
    )


# --- dashboard -----------------------------------------------------------------------------------

dashboard_router = APIRouter(include_in_schema=False)


def _dashboard_file(name: str) -> bytes:
    return resources.files("pantau_alerts").joinpath("dashboard", name).read_bytes()


@dashboard_router.get("/")
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_dashboard_file("index.html"), headers={"Cache-Control": "no-cache"})


@dashboard_router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in _STATIC:
        return PlainTextResponse("not found", status_code=404)
    return Response(
        _dashboard_file(name),
        media_type=_STATIC[name],
        headers={"Cache-Control": "no-cache"},
    )


# --- composition ---------------------------------------------------------------------------------


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
    app.state.alerts_api = AlertsApi(desk, operators, extra_metrics)
    for error, handler in _ERROR_HANDLERS.items():
        app.add_exception_handler(error, handler)
    for router in (health_router, operators_router, alerts_router, cases_router, dashboard_router):
        app.include_router(router)
    return app
