"""Without credentials, every route of every process (intake, tracker, sink, alerts, status)
answers 401 (or 404), except the documented public ones."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiohttp.test_utils import TestClient as AiohttpClient
from aiohttp.test_utils import TestServer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute, Route

from pantau.core.catalog import load_catalog
from pantau.metrics import MetricsServer
from pantau.settings import SAMPLE_CATALOG
from pantau_alerts.api import create_app as create_alerts_app
from pantau_alerts.desk import AlertDesk
from pantau_alerts.domain.operators import OperatorDirectory
from pantau_intake.api_keys import AgencyKeyring
from pantau_intake.app import create_app as create_intake_app
from pantau_intake.domain.publishing import InMemoryPublisher
from pantau_status.api import create_app as create_status_app
from pantau_status.book import CaseBook
from pantau_status.domain.limits import AddressLimiter
from pantau_tracker.app import create_app as create_tracker
from pantau_tracker.settings import TrackerSettings
from samples import intake_settings

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
# Health, readiness and metrics, and the API description of a FastAPI process.
API_PAGES = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
}
# Health, readiness and metrics everywhere; the intake's API description (README: /docs and
# /openapi.json); the alerts dashboard's page and static files (they carry no data: the page
# asks for an operator token before it reads anything).
PUBLIC = {
    "intake": API_PAGES,
    "alerts": API_PAGES | {"/", "/static/{name}"},
    # The applicants' pages and their JSON twins: a receipt number and check code, not a login,
    # open a case (a wrong pair answers 404 like an unknown case).
    "status": API_PAGES | {"/", "/status", "/report", "/v1/status", "/v1/reports"},
    # Faust's index page answers {"status": "OK"}; its table and router pages are switched off.
    "tracker": {"/healthz", "/readyz", "/metrics", "/"},
}


class _NoLog:
    async def publish_action(self, key: str, value: bytes) -> None:
        raise AssertionError("nothing may be written without credentials")

    async def publish_delivery(self, key: str, value: bytes) -> None:
        raise AssertionError("nothing may be written without credentials")


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves, included routers too, and every operation
    its OpenAPI describes (a path may be served ahead of the router)."""
    found: list[tuple[str, str]] = [
        (method.upper(), path)
        for path, operations in app.openapi().get("paths", {}).items()
        for method in operations
    ]

    def walk(listing: list[BaseRoute]) -> None:
        for route in listing:
            if isinstance(route, Route):
                found.extend((method, route.path) for method in sorted(route.methods or ()))
            elif hasattr(route, "original_router"):  # FastAPI's include_router
                assert not getattr(getattr(route, "include_context", None), "prefix", ""), (
                    "prefixes not handled"
                )
                walk(route.original_router.routes)
            else:
                raise AssertionError(f"a route of a kind this test does not check: {route!r}")

    walk(app.routes)
    return sorted(set(found))


def concrete(path: str) -> str:
    values = {"name": "app.js", "agency": "kota-malang.dpmptsp"}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x-1"), path)


def check(client: TestClient, app: FastAPI, public: set[str]) -> list[str]:
    answers = [
        (method, path, client.request(method, concrete(path)).status_code)
        for method, path in routes(app)
        if method != "HEAD"
    ]
    return judged(answers, public)


def judged(answers: list[tuple[str, str, int]], public: set[str]) -> list[str]:
    """What is wrong with the answers to requests without credentials: a protected route that
    does not answer 401, a public one that asks for credentials, a public page that fails."""
    wrong = []
    for method, path, status in answers:
        if path not in public:
            if status != 401:
                wrong.append(f"{method} {path}: {status} without credentials")
        elif status in (401, 403) or (method == "GET" and status >= 400 and path != "/readyz"):
            wrong.append(f"{method} {path}: public, but {status}")
    assert len(answers) >= 4, "no routes found: the listing is broken"
    assert any(path not in public for _, path, _ in answers), "no protected route found"
    return wrong


def test_intake_routes_need_an_agency_key_but_the_documented_public_ones() -> None:
    """POST /v1/events and GET /v1/catalog answer 401 without a key; health, readiness,
    metrics and the API description answer."""
    settings = intake_settings()
    publisher = InMemoryPublisher()
    app = create_intake_app(settings, publisher=publisher)
    with TestClient(app) as client:
        assert check(client, app, PUBLIC["intake"]) == []
        assert ("POST", "/v1/events") in routes(app)
    assert publisher.records == []


def test_alerts_routes_need_an_operator_token_but_the_documented_public_ones() -> None:
    """Alerts, cases, SLA, digest, actions and the live stream answer 401 without a token."""
    operators = OperatorDirectory.parse({"operators": []})
    desk = AlertDesk(_NoLog(), load_catalog(SAMPLE_CATALOG), lambda: NOW, readback_timeout=1)
    desk.ready = True
    app = create_alerts_app(desk, operators)
    with TestClient(app) as client:
        assert check(client, app, PUBLIC["alerts"]) == []


def test_sink_metrics_port_serves_only_metrics_and_health() -> None:
    """/metrics, /healthz and /readyz answer; any other path is 404, other methods refused."""
    server = MetricsServer(CollectorRegistry(), "127.0.0.1", 0, ready=lambda: False).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/metrics").status_code == 200
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 503  # not ready: says so
        for path in ("/", "/v1/cases/kota-malang.dpmptsp/x", "/metrics/../x", "/admin"):
            assert httpx.get(f"{base}{path}").status_code == 404, path
        assert httpx.post(f"{base}/metrics").status_code == 501
    finally:
        server.close()


def test_status_routes_need_an_agency_key_but_the_applicants_pages() -> None:
    """The check-code endpoint for agency systems answers 401 without a key; the applicants'
    pages, health, readiness, metrics and the API description answer without one."""
    book = CaseBook()
    book.ready = True
    sent: list[Any] = []

    async def publish(key: str, value: bytes) -> None:
        sent.append((key, value))

    keyring = AgencyKeyring.load(REPO / "deploy" / "dev-api-keys.yaml")
    app = create_status_app(
        book,
        load_catalog(SAMPLE_CATALOG),
        b"unit-test-status-key-0123",
        publish,
        lambda: NOW,
        AddressLimiter(per_minute=6, burst=1000),
        keyring,
    )
    with TestClient(app) as client:
        assert check(client, app, PUBLIC["status"]) == []
    assert sent == []


def test_tracker_pages_need_the_internal_token_but_health_readiness_and_metrics(
    tmp_path: Path,
) -> None:
    """With PANTAU_INTERNAL_TOKEN set, every page of the tracker's web server (Faust's own
    included, as the worker serves them) answers 401 without the token, except /healthz,
    /readyz, /metrics and Faust's index; Faust's table and router pages are not served."""
    settings = TrackerSettings(tracker_data_dir=tmp_path, internal_token="unit-test-token-0123")
    tracker = create_tracker(settings, load_catalog(SAMPLE_CATALOG))
    web = tracker.app.web
    web.blueprints.apply(web)  # what the worker does when its web server starts
    listed = [
        (route.method, route.resource.canonical)
        for route in web.web_app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    ]

    async def ask() -> list[tuple[str, str, int]]:
        async with AiohttpClient(TestServer(web.web_app)) as client:
            answers = []
            for method, path in listed:
                response = await client.request(method, concrete(path))
                answers.append((method, path, response.status))
            return answers

    answers = asyncio.run(ask())
    assert judged(answers, PUBLIC["tracker"]) == []
    assert not any(path.startswith(("/table", "/router")) for _, path in listed), listed
