"""Prometheus metrics for every Pantau process: the text exposition and a tiny HTTP server.

Processes with a web framework (the intake, the alerts service, the tracker's Faust web server)
answer `GET /metrics` with `metrics_payload(registry)`. Processes without one (the sink) run a
`MetricsServer`: `/metrics`, `/healthz` and `/readyz` on a port of their own, 404 for anything
else. Labels carry only codes operators filter on (agency, table, rule, partition, route,
outcome), never a case id, an officer id or anything else about a person.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported


def exposed_registry(own: CollectorRegistry) -> CollectorRegistry:
    """`own`, or the sum over every worker process when prometheus_client's multiprocess folder
    is set (several uvicorn workers sharing a port)."""
    folder = os.environ.get(MULTIPROCESS_DIR)
    if not folder:
        return own
    summed = CollectorRegistry()
    multiprocess.MultiProcessCollector(summed, path=folder)  # type: ignore[no-untyped-call]
    return summed


def metrics_payload(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The body and content type of a `/metrics` answer."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsServer:
    """`/metrics`, `/healthz` and `/readyz` for a process without a web server of its own."""

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self._registry = registry
        self._ready = ready
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a line per scrape would drown the process's own log

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.partition("?")[0]
        status, content_type = 200, "application/json"
        if path == "/metrics":
            body, content_type = metrics_payload(self._registry)
        elif path == "/healthz":
            body = b'{"status":"ok"}'
        elif path == "/readyz":
            ready = self._ready()
            status = 200 if ready else 503
            body = b'{"status":"ready"}' if ready else b'{"status":"unavailable"}'
        else:
            status, body = 404, b'{"error":"not_found"}'
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
