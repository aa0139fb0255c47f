"""Without credentials, every route of the intake, the alerts service and the sink's metrics
port answers 401 (or 404), except the documented public ones."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from starlette.routing import BaseRoute, Route

from pantau.core.catalog import load_catalog
from pantau.metrics import MetricsServer
from pantau.settings import SAMPLE_CATALOG
from pantau_alerts.api import create_app as create_alerts_app
from pantau_alerts.core.operators import OperatorDirectory
from pantau_alerts.desk import AlertDesk
from pantau_intake.app import create_app as create_intake_app
from pantau_intake.publisher import InMemoryPublisher
from pantau_intake.settings import IntakeSettings

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
# Health, readiness and metrics everywhere; the intake's API description (README: /docs and
# /openapi.json); the alerts dashboard's page and static files (they carry no data: the page
# asks for an operator token before it reads anything).
PUBLIC = {
    "intake": {
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
    },
    "alerts": {
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/",
        "/static/{name}",
    },
}


class _NoLog:
    async def publish_action(self, key: str, value: bytes) -> None:
        raise AssertionError("nothing may be written without credentials")

    async def publish_delivery(self, key: str, value: bytes) -> None:
        raise AssertionError("nothing may be written without credentials")


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves, included routers too."""
    found: list[tuple[str, str]] = []

    def walk(listing: list[BaseRoute]) -> None:
        for route in listing:
            if isinstance(route, Route):
                found.extend((method, route.path) for method in sorted(route.methods or ()))
            elif hasattr(route, "original_router"):  # FastAPI's include_router
                assert not getattr(route.include_context, "prefix", ""), "prefixes not handled"
                walk(route.original_router.routes)
            else:
                raise AssertionError(f"a route of a kind this test does not check: {route!r}")

    walk(app.routes)
    return found


def concrete(path: str) -> str:
    values = {"name": "app.js", "agency": "kota-malang.dpmptsp"}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x-1"), path)


def check(client: TestClient, app: FastAPI, public: set[str]) -> list[str]:
    wrong = []
    checked = 0
    for method, path in routes(app):
        if method == "HEAD":
            continue
        response = client.request(method, concrete(path))
        checked += 1
        if path in public:
            if response.status_code >= 400 and path != "/readyz":
                wrong.append(f"{method} {path}: public, but {response.status_code}")
        elif response.status_code != 401:
            wrong.append(f"{method} {path}: {response.status_code} without credentials")
    assert checked >= 4, "no routes found: the listing is broken"
    return wrong


def test_intake_routes_need_an_agency_key_but_the_documented_public_ones() -> None:
    """POST /v1/events and GET /v1/catalog answer 401 without a key; health, readiness,
    metrics and the API description answer."""
    settings = IntakeSettings(
        api_keys=REPO / "deploy" / "dev-api-keys.yaml",
        pseudonym_key=SecretStr("unit-test-pseudonym-key-0123"),
    )
    publisher = InMemoryPublisher()
    app = create_intake_app(settings, publisher=publisher)
    with TestClient(app) as client:
        assert check(client, app, PUBLIC["intake"]) == []
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
