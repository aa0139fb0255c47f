"""The intake's HTTP API (contract section 3): a thin FastAPI shell around `submission`.

`create_app` is the composition root: it receives the settings and the publisher, loads the
catalog and the keys, and wires the routes. Nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field, TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pantau.adapters.key_store import ErasureFollower
from pantau.adapters.standards_topic import NewestStandards, StandardsFollower
from pantau.core.catalog import Catalog, catalog_summary, load_catalog
from pantau.core.events import IncomingEvent
from pantau.core.pseudonym import PseudonymKey
from pantau.core.sealing import ApplicantKeys
from pantau.core.standards import StandardVersion
from pantau.core.working_time import WorkingCalendar
from pantau.metrics import exposed_registry
from pantau_intake.api_keys import AgencyKeyring
from pantau_intake.domain.fast_submission import FastSubmission
from pantau_intake.domain.publishing import EventPublisher, OutgoingRecord, PublishUnavailable
from pantau_intake.domain.rate_limit import AgencyRateLimiter
from pantau_intake.domain.submission import (
    Rejection,
    check_agency,
    decode_body,
    seal_records,
    to_records,
    validate_events,
)
from pantau_intake.settings import (
    MAX_BATCH_EVENTS,
    MAX_BODY_BYTES,
    ConfigurationError,
    IntakeSettings,
)

log = logging.getLogger(__name__)

RETRY_AFTER_UNAVAILABLE = "5"  # seconds; a broker restart or leader election takes about that
RETRY_AFTER_OVERLOADED = "1"  # seconds; requests in progress finish in well under that
EVENTS_PATH = "/v1/events"
_INTERNAL_ERROR = orjson.dumps(
    {"error": "internal_error", "message": "the intake failed; nothing is confirmed", "errors": []}
)
OFFLOAD_BYTES = 64 * 1024  # bodies larger than this are validated off the event loop

# --- replies (documented in the OpenAPI) ---------------------------------------------------------


class EventResult(BaseModel):
    """The outcome for one event of an accepted request."""

    event_id: str
    status: Literal["accepted"]


class Accepted(BaseModel):
    """Every event of the request is acknowledged by Kafka (acks=all)."""

    accepted: int
    results: list[EventResult]


class ProblemReply(BaseModel):
    """One problem: the event's position in the request (null: the request itself), the field
    path inside the event (empty: the whole event), and what is wrong."""

    index: int | None
    field: str
    message: str


class ErrorReply(BaseModel):
    """Why a request was refused; nothing of it was accepted."""

    error: str = Field(description="a stable code, e.g. invalid_events or kafka_unavailable")
    message: str
    errors: list[ProblemReply] = Field(default_factory=list)


class Status(BaseModel):
    """Liveness or readiness."""

    status: str
    message: str | None = None


def _retry_after(description: str) -> dict[str, Any]:
    return {"Retry-After": {"description": description, "schema": {"type": "string"}}}


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorReply, "description": "Malformed JSON or a malformed header."},
    401: {
        "model": ErrorReply,
        "description": "Missing or unknown API key.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
}
_POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_ERROR_RESPONSES,
    202: {"model": Accepted, "description": "Every event is acknowledged by Kafka."},
    403: {"model": ErrorReply, "description": "An event names another agency than the key's."},
    408: {"model": ErrorReply, "description": "The body did not arrive in time."},
    413: {"model": ErrorReply, "description": f"The body is larger than {MAX_BODY_BYTES} bytes."},
    415: {"model": ErrorReply, "description": "The body is not application/json."},
    422: {
        "model": ErrorReply,
        "description": "Invalid events (per event: index, field path, message). Nothing was "
        "published.",
    },
    429: {
        "model": ErrorReply,
        "description": "Over the agency's rate limit. Nothing was published.",
        "headers": _retry_after("seconds until the events would be within the limit"),
    },
    503: {
        "model": ErrorReply,
        "description": "Kafka did not acknowledge in time, or the intake is handling as many "
        "requests as it takes at once. Nothing is confirmed: send the same events again "
        "(duplicates are recorded once, by event_id).",
        "headers": _retry_after("seconds to wait before sending again"),
    },
}


def _event_schemas() -> dict[str, Any]:
    """JSON Schemas of an event and a batch, as OpenAPI components."""
    schema = TypeAdapter(IncomingEvent).json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs", {})
    components["IncomingEvent"] = schema
    components["EventBatch"] = {
        "title": "EventBatch",
        "type": "object",
        "properties": {
            "events": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/IncomingEvent"},
                "minItems": 1,
                "maxItems": MAX_BATCH_EVENTS,
            }
        },
        "required": ["events"],
        "additionalProperties": False,
    }
    return components


_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "description": f'One event, or {{"events": [...]}} with 1-{MAX_BATCH_EVENTS} events; '
        f"at most {MAX_BODY_BYTES} bytes.",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/IncomingEvent"},
                        {"$ref": "#/components/schemas/EventBatch"},
                    ]
                }
            }
        },
    }
}

# --- wiring --------------------------------------------------------------------------------------


@dataclass
class IntakeMetrics:
    """The intake's Prometheus metrics, in a registry of its own (one per app instance)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    working_hours: AgencyWorkingHours | None = None

    def __post_init__(self) -> None:
        if self.working_hours is not None:
            self.registry.register(self.working_hours)
        self.requests = Counter(
            "pantau_intake_requests",
            "HTTP requests by endpoint, status and agency ('-' before authentication).",
            ["endpoint", "status", "agency"],
            registry=self.registry,
        )
        self.events_accepted = Counter(
            "pantau_intake_events_accepted",
            "Events acknowledged by Kafka and reported accepted.",
            ["agency"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "pantau_intake_in_flight",
            "POST /v1/events requests being handled; at PANTAU_INTAKE_MAX_IN_FLIGHT per worker "
            "the intake sheds with 503.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.publish_seconds = Histogram(
            "pantau_intake_publish_seconds",
            "Time from handing a request's events to Kafka until all are acknowledged (or not).",
            ["outcome"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        # Children looked up once: `labels()` on every request costs more than the update.
        self.published = self.publish_seconds.labels("acknowledged")
        self.unpublished = self.publish_seconds.labels("failed")
        self._accepted: dict[str, Any] = {}

    def accepted(self, agency: str, events: int) -> None:
        """Count an agency's events acknowledged by Kafka."""
        child = self._accepted.get(agency)
        if child is None:
            child = self._accepted[agency] = self.events_accepted.labels(agency)
        child.inc(events)

    def exposed(self) -> CollectorRegistry:
        """What `/metrics` shows: this process's metrics, or the sum over every worker process
        (`PANTAU_INTAKE_WORKERS` > 1), with the agencies' working hours."""
        registry = exposed_registry(self.registry)
        if registry is not self.registry and self.working_hours is not None:
            registry.register(self.working_hours)
        return registry


class AgencyWorkingHours(Collector):
    """`pantau_intake_agency_working_hours{agency}`: 1 while the agency's calendar is open now.

    Lets an alerting rule tell a silent agency during its working hours from a quiet night
    or holiday, by the catalog's own calendars rather than a guess in PromQL.
    """

    def __init__(self, catalog: Catalog, now: Callable[[], datetime]) -> None:
        self._calendars = {
            agency: WorkingCalendar(spec)
            for agency in catalog.agencies
            if (spec := catalog.calendar_of(agency)) is not None
        }
        self._now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "pantau_intake_agency_working_hours",
            "1 while the agency's working calendar is open, 0 outside its hours and on holidays.",
            labels=["agency"],
        )
        now = self._now()
        for agency, calendar in sorted(self._calendars.items()):
            family.add_metric([agency], 1.0 if calendar.is_working_time(now) else 0.0)
        yield family


@dataclass
class Intake:
    """What the routes need, built once by `create_app`."""

    settings: IntakeSettings
    catalog: Catalog
    keyring: AgencyKeyring
    pseudonym: PseudonymKey
    publisher: EventPublisher
    limiter: AgencyRateLimiter
    metrics: IntakeMetrics
    clock: Callable[[], float]
    # With PANTAU_MASTER_KEY: the applicants' data keys, and where they are stored before the
    # events they open (the key store topic).
    sealing: ApplicantKeys | None = None
    key_publisher: EventPublisher | None = None
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_flight: int = 0  # POST /v1/events requests being handled (one event loop: no lock)
    _fast: FastSubmission | None = field(default=None, init=False, repr=False)

    def fast(self) -> FastSubmission:
        """The fast path for the catalog events are checked against now."""
        fast = self._fast
        if fast is None or fast.catalog is not self.catalog:
            fast = self._fast = FastSubmission(self.catalog, self.pseudonym)
        return fast

    def use_standards(self, version: StandardVersion) -> None:
        """Check events against the catalog of a newly published version from now on."""
        unknown = sorted(self.keyring.agencies - set(version.catalog.agencies))
        if unknown:
            log.warning(
                "standards version %d has no agency %s: its events are refused from now on",
                version.number,
                ", ".join(unknown),
            )
        self.catalog = version.catalog
        self.summaries.clear()


# The dependencies are coroutines: FastAPI runs a plain `def` dependency on a thread pool, and two
# thread hops per request cost more than everything else the intake does for a single event.
async def _intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


_bearer = HTTPBearer(auto_error=False, description="The agency's API key.")


def _authenticated(intake: Intake, authorization: str | None) -> str:
    """The agency of a bearer key (as FastAPI's HTTPBearer reads the header), or a 401."""
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    if not (scheme and key) or scheme.lower() != "bearer":
        raise Rejection(
            401,
            "unauthenticated",
            "send the agency's API key as `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    agency = intake.keyring.agency_for(key)
    if agency is None:
        raise Rejection(
            401,
            "unauthenticated",
            "the API key is not known (revoked, mistyped, or for another installation)",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return agency


async def _agency(
    request: Request,
    intake: Annotated[Intake, Depends(_intake)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    agency = _authenticated(
        intake, None if credentials is None else f"Bearer {credentials.credentials}"
    )
    request.state.agency = agency
    return agency


IntakeDep = Annotated[Intake, Depends(_intake)]
AgencyDep = Annotated[str, Depends(_agency)]

router = APIRouter()
# The OpenAPI description of POST /v1/events: declared here, served by `EventsEndpoint`.
described = APIRouter()


@described.post(
    "/v1/events",
    status_code=202,
    response_model=Accepted,
    responses=_POST_RESPONSES,
    openapi_extra=_EVENTS_BODY,
    summary="Send one event or a batch of up to 1000",
)
async def post_events(agency: AgencyDep) -> Accepted:
    """Accept events of the caller's agency: 202 only once Kafka acknowledged every one.

    Beyond `PANTAU_INTAKE_MAX_IN_FLIGHT` requests at once the intake sheds load: 503 with
    Retry-After at once, rather than queueing requests until their senders time out and send
    them again.
    """
    raise NotImplementedError("served by EventsEndpoint")  # pragma: no cover


class EventsFront:
    """POST /v1/events ahead of the app's middleware and router; every other request goes to
    the app as usual.

    FastAPI's request handling (middleware layers, routing, dependency resolution, a Request
    object, the exception handlers' detour) cost as much as the intake's own work for a single
    event, and a flood must be shed at the least cost per request.
    """

    def __init__(self, app: ASGIApp, endpoint: EventsEndpoint) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == EVENTS_PATH and scope["method"] == "POST":
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class EventsEndpoint:
    """POST /v1/events as a bare ASGI endpoint: the intake's hot path.

    It reads the headers and the body itself and sends its answer as two ASGI messages, and
    counts its own requests. The checks, their order and the replies are those the OpenAPI
    declares for the route (`post_events`). The in-flight limit is the first check after the
    key, before the body is read: a flood is shed with 503 at the cost of parsing its headers.
    """

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self._counted: dict[tuple[int, str], Any] = {}  # Prometheus children by status, agency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        intake = self.intake
        agency = "-"
        status = 500
        try:
            headers: dict[bytes, bytes] = {}
            for name, value in scope["headers"]:
                headers.setdefault(name, value)  # the first of a repeated header, as Starlette
            authorization = headers.get(b"authorization")
            agency = _authenticated(
                intake, None if authorization is None else authorization.decode("latin-1")
            )
            if intake.in_flight >= intake.settings.intake_max_in_flight:
                raise Rejection(
                    503,
                    "overloaded",
                    f"{intake.in_flight} requests are in progress; nothing is confirmed, "
                    "send the same events again",
                    headers={"Retry-After": RETRY_AFTER_OVERLOADED},
                )
            intake.in_flight += 1
            intake.metrics.in_flight.inc()
            try:
                status, body, extra = await _accept(intake, agency, headers, receive)
            finally:
                intake.in_flight -= 1
                intake.metrics.in_flight.dec()
        except Rejection as error:
            status, body, extra = error.status, _error_body(error), error.headers
        except _Disconnected:
            return
        except Exception:
            log.exception("POST /v1/events failed")
            status, body, extra = 500, _INTERNAL_ERROR, {}
        finally:
            self._count(status, agency)
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("latin-1")),
        ]
        response_headers.extend((k.lower().encode("latin-1"), v.encode()) for k, v in extra.items())
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    def _count(self, status: int, agency: str) -> None:
        child = self._counted.get((status, agency))
        if child is None:
            child = self.intake.metrics.requests.labels(EVENTS_PATH, str(status), agency)
            self._counted[(status, agency)] = child
        child.inc()


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


async def _accept(
    intake: Intake, agency: str, headers: Mapping[bytes, bytes], receive: Receive
) -> tuple[int, bytes, Mapping[str, str]]:
    _check_content_type(headers.get(b"content-type", b"").decode("latin-1"))
    body = await _read_body(
        headers.get(b"content-length"), receive, intake.settings.intake_request_timeout
    )
    if len(body) > OFFLOAD_BYTES:
        records, keys = await run_in_threadpool(_prepare, intake, agency, body)
    else:
        records, keys = _prepare(intake, agency, body)
    started = time.perf_counter()
    try:
        if keys and intake.key_publisher is not None:
            # A key is stored before any event it opens, so no reader meets an envelope
            # without its key.
            await intake.key_publisher.publish(keys)
        await intake.publisher.publish(records)
    except PublishUnavailable as error:
        intake.metrics.unpublished.observe(time.perf_counter() - started)
        raise Rejection(
            503,
            "kafka_unavailable",
            f"{error}; nothing is confirmed, send the same events again",
            headers={"Retry-After": RETRY_AFTER_UNAVAILABLE},
        ) from None
    intake.metrics.published.observe(time.perf_counter() - started)
    intake.metrics.accepted(agency, len(records))
    return 202, _accepted_body(records), {}


def _accepted_body(records: list[OutgoingRecord]) -> bytes:
    """The 202 body, encoded by orjson (event ids are plain ASCII: nothing to escape)."""
    return orjson.dumps(
        {
            "accepted": len(records),
            "results": [{"event_id": r.event_id, "status": "accepted"} for r in records],
        }
    )


def _prepare(
    intake: Intake, agency: str, body: bytes
) -> tuple[list[OutgoingRecord], list[OutgoingRecord]]:
    """The event records of a request and the new data keys they need stored first.

    A body the fast path vouches for becomes records in one compiled pass; any other goes
    through the models, which then decide, with their status and messages. Either way the rate
    limit is taken after the agency check and before validation."""
    records = intake.fast().records(body, agency)
    if records is None:
        return _prepare_checked(intake, agency, body)
    _take_rate(intake, agency, len(records))
    return _sealed(intake, records)


def _prepare_checked(
    intake: Intake, agency: str, body: bytes
) -> tuple[list[OutgoingRecord], list[OutgoingRecord]]:
    items = decode_body(body)
    check_agency(items, agency)
    _take_rate(intake, agency, len(items))
    events = validate_events(items, intake.catalog)
    return _sealed(intake, to_records(events, intake.pseudonym))


def _take_rate(intake: Intake, agency: str, events: int) -> None:
    decision = intake.limiter.take(agency, events, intake.clock())
    if not decision.allowed:
        message = (
            f"{events} events exceed the burst of {intake.limiter.burst}; send smaller batches"
            if decision.never
            else f"over the rate limit of {intake.limiter.rate:g} events/s for {agency}"
        )
        raise Rejection(
            429, "rate_limited", message, headers={"Retry-After": decision.retry_after_header}
        )


def _sealed(
    intake: Intake, records: list[OutgoingRecord]
) -> tuple[list[OutgoingRecord], list[OutgoingRecord]]:
    if intake.sealing is None:
        return records, []
    sealed = seal_records(records, intake.sealing, datetime.now(UTC))
    return sealed.events, sealed.keys


def _check_content_type(content_type: str) -> None:
    media_type, _, parameters = content_type.partition(";")
    charset = ""
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "charset":
            charset = value.strip().strip('"').lower()
    if media_type.strip().lower() != "application/json" or charset not in ("", "utf-8", "utf8"):
        raise Rejection(
            415, "unsupported_media_type", "send the events as Content-Type: application/json"
        )


async def _read_body(declared: bytes | None, receive: Receive, seconds: float) -> bytes:
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise Rejection(400, "bad_request", "Content-Length is not a number")
        if int(declared) > MAX_BODY_BYTES:
            raise Rejection(413, "too_large", f"the body may be at most {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY_BYTES:  # a chunked body has no Content-Length to check first
                    raise Rejection(
                        413, "too_large", f"the body may be at most {MAX_BODY_BYTES} bytes"
                    )
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise Rejection(
            408, "request_timeout", f"the body did not arrive within {seconds:g} s"
        ) from None
    return b"".join(chunks)


@router.get(
    "/v1/catalog",
    responses={**_ERROR_RESPONSES, 200: {"description": "The agency, its services and steps."}},
    summary="The caller's agency, its services and their steps",
)
async def get_catalog(intake: IntakeDep, agency: AgencyDep) -> dict[str, Any]:
    """What events of this agency may say: services, steps, roles, required reasons."""
    summary = intake.summaries.get(agency)
    if summary is None:
        summary = intake.summaries[agency] = catalog_summary(intake.catalog, agency)
    return summary


@router.get(
    "/healthz",
    response_model=Status,
    response_model_exclude_none=True,
    summary="The process is alive",
)
async def healthz() -> Status:
    """Always 200 while the process serves requests."""
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    responses={
        503: {
            "model": Status,
            "description": "Kafka is not reachable (or the events topic is missing).",
            "headers": _retry_after("seconds before asking again"),
        }
    },
    summary="Kafka is reachable and the events topic exists",
)
async def readyz(intake: IntakeDep) -> JSONResponse:
    """200 when events could be published now, 503 otherwise."""
    if await intake.publisher.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        status_code=503,
        content={"status": "unavailable", "message": "Kafka is not reachable"},
        headers={"Retry-After": RETRY_AFTER_UNAVAILABLE},
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
async def metrics(intake: IntakeDep) -> PlainTextResponse:
    """The intake's metrics in the Prometheus text format (of every worker process)."""
    return PlainTextResponse(
        generate_latest(intake.metrics.exposed()), media_type=CONTENT_TYPE_LATEST
    )


# --- errors and metrics around every request ------------------------------------------------------


def _error_response(
    status: int,
    code: str,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps({"error": code, "message": message, "errors": errors or []}),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _error_body(error: Rejection) -> bytes:
    problems = [problem.as_json() for problem in error.problems]
    return orjson.dumps({"error": error.code, "message": error.message, "errors": problems})


def _rejection_response(error: Rejection) -> Response:
    return Response(_error_body(error), error.status, error.headers, media_type="application/json")


async def _on_rejection(request: Request, error: Exception) -> Response:
    assert isinstance(error, Rejection)
    return _rejection_response(error)


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return _error_response(error.status_code, code, str(error.detail), headers=error.headers)


async def _on_request_validation(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"index": None, "field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in error.errors()
    ]
    return _error_response(422, "invalid_request", "the request is not valid", problems)


class RequestMetrics:
    """Counts every response by endpoint, status and the authenticated agency."""

    def __init__(self, app: ASGIApp, metrics: IntakeMetrics, endpoints: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in self.endpoints else "other"
            agency = str(state.get("agency", "-"))
            self.metrics.requests.labels(endpoint, str(status), agency).inc()


def create_app(
    settings: IntakeSettings,
    *,
    publisher: EventPublisher,
    key_publisher: EventPublisher | None = None,
    catalog: Catalog | None = None,
    keyring: AgencyKeyring | None = None,
    clock: Callable[[], float] = time.monotonic,
    follow_standards: bool = False,
    follow_erasures: bool = False,
) -> FastAPI:
    """The intake app. Raises ConfigurationError (or CatalogError) for a configuration it cannot
    run with: no or short pseudonym key, no key file, keys of agencies not in the catalog.

    With `follow_standards`, the app follows the standards topic from the beginning and checks
    events against the newest published version as soon as it has read it (until then, and
    while none is published, against the catalog). With `follow_erasures` and a master key, it
    follows the erasures topic and drops an erased applicant's data key at once, so the events
    it seals next get a new key. It starts without waiting for Kafka."""
    pseudonym = settings.pseudonym()
    master = settings.sealing()
    if master is not None and key_publisher is None:
        raise ConfigurationError(
            "PANTAU_MASTER_KEY is set, so personal data is sealed: the intake needs the key "
            "store to publish the data keys to"
        )
    if catalog is None:
        catalog = load_catalog(settings.catalog)
    if keyring is None:
        keyring = AgencyKeyring.load(settings.api_keys_file())
    keyring.check_agencies(catalog.agencies)
    metrics = IntakeMetrics(working_hours=AgencyWorkingHours(catalog, lambda: datetime.now(UTC)))
    intake = Intake(
        settings=settings,
        catalog=catalog,
        keyring=keyring,
        pseudonym=pseudonym,
        publisher=publisher,
        # Each worker holds an even share of the agency's budget: the kernel spreads connections
        # over the workers, so together they admit about the configured rate.
        limiter=AgencyRateLimiter(
            settings.intake_rate / settings.intake_workers,
            max(1, settings.intake_burst // settings.intake_workers),
        ),
        metrics=metrics,
        clock=clock,
        sealing=None if master is None else ApplicantKeys(master),
        key_publisher=key_publisher if master is not None else None,
    )

    follower = None
    if follow_standards:
        newest = NewestStandards(intake.use_standards, log)
        follower = StandardsFollower(
            settings.kafka_servers,
            settings.topics.standards,
            newest.take,
            client_id=f"{settings.topic_prefix}intake-standards",
        )

    erasures = None
    if follow_erasures and intake.sealing is not None:
        erasures = ErasureFollower(
            settings.kafka_servers,
            settings.topics.erasures,
            intake.sealing.forget,
            client_id=f"{settings.topic_prefix}intake-erasures",
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        probe = asyncio.create_task(_report_readiness(publisher))
        following = [asyncio.create_task(reader.run()) for reader in (follower, erasures) if reader]
        try:
            yield
        finally:
            probe.cancel()
            for task in following:
                task.cancel()
            await publisher.close()
            if key_publisher is not None:
                await key_publisher.close()

    app = FastAPI(
        title="Pantau intake",
        version="1",
        description="The HTTP front door for agency systems: case steps in, Kafka-acknowledged.",
        lifespan=lifespan,
        # The intake reports through Prometheus; FastAPI's OpenTelemetry hooks would look up the
        # global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.intake = intake
    endpoint = EventsEndpoint(intake)
    # Listed with the app's routes (other methods get 405); POST is answered by EventsFront.
    app.router.routes.append(Route(EVENTS_PATH, endpoint, methods=["POST"]))
    app.include_router(router)
    app.add_exception_handler(Rejection, _on_rejection)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    endpoints = frozenset(getattr(route, "path", "") for route in [*app.routes, *router.routes])
    app.add_middleware(RequestMetrics, metrics=metrics, endpoints=endpoints)
    # POST /v1/events is answered in front of every middleware (it counts itself); the route
    # declared on `described` documents it. The stack is built here, once, to put it there.
    app.middleware_stack = EventsFront(app.build_middleware_stack(), endpoint)
    components = _event_schemas()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=[*described.routes, *app.routes],
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _report_readiness(publisher: EventPublisher) -> None:
    if not await publisher.ready():
        log.warning("Kafka is not reachable yet: requests get 503 until it is")
