"""The status page and its JSON API (FastAPI, a thin adapter over the read model and the core).

No operator token: anyone with a receipt number and its check code sees that case. Every lookup
and report counts against the client address's budget; a wrong code and an unknown receipt get
the same answer. The check-code route is for agency systems and takes their intake API key.

The routes are module-level routers that reach the read model through dependencies;
`create_app` is the composition root that builds them into one app.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pantau import health
from pantau.core.catalog import Catalog
from pantau.core.standards import StandardsSoFar
from pantau_intake.api_keys import AgencyKeyring
from pantau_status.book import CaseBook
from pantau_status.domain.codes import check_code
from pantau_status.domain.limits import AddressLimiter
from pantau_status.domain.reports import ReportKind, clean_text, report_alert
from pantau_status.domain.texts import pick_lang, t
from pantau_status.domain.view import CaseRecord, public_view
from pantau_status.pages import case_page, lookup_page, message_page

__all__ = ["create_app"]

BODY_MAX_BYTES = 8 * 1024
NOT_FOUND = "no case with this receipt number and check code"
Publish = Callable[[str, bytes], Awaitable[None]]
_NO_STORE = {"Cache-Control": "no-store"}


class _Refusal(Exception):
    """An answer before the case is looked at: 413, 429 or 503."""

    def __init__(
        self, status: int, detail: str, retry_after: int | None = None, lang: str = "id"
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after
        self.lang = lang


class ShownStandards(StandardsSoFar[Catalog]):
    """What the status page shows cases against: every published version of the standards read
    so far (a `StandardsBook`), and the catalog of `PANTAU_CATALOG` for when none is read.

    A case is shown against the version it follows for its whole life: the version the tracker
    recorded on its state, else the one in force when it opened (`StandardsBook.followed`), so
    a standard changed while a case is open changes neither its page nor its deadlines."""

    def catalog_of(self, record: CaseRecord) -> Catalog:
        """The catalog of the version `record` follows (`PANTAU_CATALOG` before any is read)."""
        found = self.book.followed(
            record.agency, record.service, record.standard_version, record.opened_at
        )
        return self.unpublished if found is None else found.catalog


@dataclass
class StatusApi:
    """What the routes need, built once by `create_app`: the read model, the standards cases are
    shown against, the check codes' key, the report publisher, the clocks, the addresses'
    budget, the agencies' keys, and what `/metrics` counts."""

    book: CaseBook
    standards: ShownStandards
    key: bytes
    publish: Publish
    clock: Callable[[], datetime]
    limiter: AddressLimiter
    keyring: AgencyKeyring | None
    monotonic: Callable[[], float]
    counts: dict[str, int] = field(
        default_factory=lambda: {"lookups": 0, "not_found": 0, "reports": 0, "duplicate_reports": 0}
    )

    def admit(self, request: Request, lang: str = "id") -> None:
        """The address's budget, then readiness; raises _Refusal."""
        address = request.client.host if request.client else "unknown"
        wait = self.limiter.take(address, self.monotonic())
        if wait is not None:
            raise _Refusal(429, "too many tries from this address", wait, lang)
        if not self.book.ready:
            raise _Refusal(503, "catching up with the case log", 2, lang)

    def lookup(self, receipt: object, code: object) -> CaseRecord | None:
        self.counts["lookups"] += 1
        record = None
        if isinstance(receipt, str) and isinstance(code, str) and 0 < len(receipt) <= 128:
            record = self.book.find(self.key, receipt.strip(), code)
        if record is not None and (
            self.standards.catalog_of(record).service(record.agency, record.service) is None
        ):
            record = None  # a case of a service its catalog does not have: nothing to show
        if record is None:
            self.counts["not_found"] += 1
        return record

    def view_of(self, record: CaseRecord, lang: str) -> dict[str, Any]:
        catalog = self.standards.catalog_of(record)
        service = catalog.service(record.agency, record.service)
        assert service is not None
        return public_view(record, catalog, service, self.clock(), lang)

    async def report(self, record: CaseRecord, kind_text: object, text: object) -> tuple[int, str]:
        """(HTTP status, outcome) of one report; outcome is an alert id or a problem."""
        try:
            kind = ReportKind(str(kind_text))
        except ValueError:
            return 422, "unknown kind; one of " + ", ".join(k.value for k in ReportKind)
        if text is not None and not isinstance(text, str):
            return 422, "text must be a string"
        try:
            cleaned, _ = clean_text(text or "")
        except ValueError as error:
            return 422, f"text: {error}"
        catalog = self.standards.catalog_of(record)
        calendar = catalog.calendar_of(record.agency)
        service = catalog.service(record.agency, record.service)
        step = record.current_step
        if service is None or step is None or service.step(step) is None:
            step = None
        alert = report_alert(
            agency=record.agency,
            service=record.service,
            case_id=record.case_id,
            step=step,
            kind=kind,
            text=cleaned,
            now=self.clock(),
            timezone="UTC" if calendar is None else calendar.timezone,
        )
        if alert.alert_id in self.book.reported:
            self.counts["duplicate_reports"] += 1
            return 409, alert.alert_id
        try:
            await self.publish(f"{record.agency}|{record.case_id}", alert.to_json_bytes())
        except Exception:
            return 503, "the report could not be stored; try again"
        self.book.reported.add(alert.alert_id)
        self.counts["reports"] += 1
        return 202, alert.alert_id


# --- dependencies --------------------------------------------------------------------------------
# Coroutines, so they run on the event loop beside the read model rather than on a thread pool.


async def _api(request: Request) -> StatusApi:
    api: StatusApi = request.app.state.status_api
    return api


ApiDep = Annotated[StatusApi, Depends(_api)]


async def _body_of(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_MAX_BYTES:
            raise _Refusal(413, "body too large")
    return body


@dataclass(frozen=True)
class FormLookup:
    """A posted form, its language, receipt and code, and the case they open (None: wrong code
    or unknown case, which answer alike)."""

    form: dict[str, str]
    lang: str
    receipt: str
    code: str
    record: CaseRecord | None


async def _form_lookup(request: Request, api: ApiDep) -> FormLookup:
    """The posted form and the case it opens; one try of the address's budget."""
    fields = parse_qs((await _body_of(request)).decode("utf-8", "replace"))
    form = {name: values[0] for name, values in fields.items() if values}
    lang = pick_lang(form.get("lang"))
    api.admit(request, lang)
    receipt, code = form.get("receipt", ""), form.get("code", "")
    return FormLookup(form, lang, receipt, code, api.lookup(receipt, code))


FormLookupDep = Annotated[FormLookup, Depends(_form_lookup)]


@dataclass(frozen=True)
class JsonLookup:
    """A posted JSON object and the case its `case_id` and `code` open (None: wrong code or
    unknown case, which answer alike)."""

    body: dict[str, Any]
    record: CaseRecord | None


async def _json_lookup(request: Request, api: ApiDep) -> JsonLookup:
    """The posted JSON object and the case it opens; one try of the address's budget."""
    try:
        document = json.loads(await _body_of(request))
    except (ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict):
        raise _Refusal(422, "the body must be a JSON object")
    api.admit(request)
    return JsonLookup(document, api.lookup(document.get("case_id"), document.get("code")))


JsonLookupDep = Annotated[JsonLookup, Depends(_json_lookup)]


async def _agency(request: Request, api: ApiDep) -> str:
    """The agency whose intake API key the request carries (`Authorization: Bearer <key>`), or
    a 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    agency = None
    if api.keyring is not None and scheme.lower() == "bearer":
        agency = api.keyring.agency_for(token.strip())
    if agency is None:
        raise HTTPException(
            401,
            detail="missing or unknown API key",
            headers={"WWW-Authenticate": "Bearer", **_NO_STORE},
        )
    return agency


AgencyDep = Annotated[str, Depends(_agency)]


# --- refusals as answers -------------------------------------------------------------------------


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Refusal)
    headers = dict(_NO_STORE)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if request.url.path.startswith("/v1/"):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)
    lang = exc.lang
    text = {
        429: t(lang, "too_many", seconds=exc.retry_after),
        503: t(lang, "not_ready"),
    }.get(exc.status, str(exc))
    return HTMLResponse(lookup_page(lang, text), status_code=exc.status, headers=headers)


# --- health --------------------------------------------------------------------------------------

health_router = health.health_router()


@health_router.get("/readyz")
async def readyz(api: ApiDep) -> JSONResponse:
    return health.readiness(api.book.ready, "catching up with the case log", cases=len(api.book))


@health_router.get("/metrics")
async def metrics(api: ApiDep) -> Response:
    registry = CollectorRegistry()
    Gauge("pantau_status_cases", "cases in the read model", registry=registry).set(len(api.book))
    Gauge("pantau_status_ready", "1 once caught up", registry=registry).set(int(api.book.ready))
    Gauge("pantau_status_refused", "tries refused by the limit", registry=registry).set(
        api.limiter.refused
    )
    for name, value in api.counts.items():
        Gauge(f"pantau_status_{name}", f"{name} since start", registry=registry).set(value)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# --- the page ------------------------------------------------------------------------------------

page_router = APIRouter(include_in_schema=False)


@page_router.get("/")
async def index(request: Request) -> HTMLResponse:
    lang = pick_lang(request.query_params.get("lang"))
    return HTMLResponse(lookup_page(lang), headers=_NO_STORE)


def _not_found_page(lang: str, receipt: str) -> HTMLResponse:
    page = lookup_page(lang, t(lang, "not_found"), receipt)
    return HTMLResponse(page, status_code=404, headers=_NO_STORE)


@page_router.post("/status")
async def status_page(api: ApiDep, posted: FormLookupDep) -> HTMLResponse:
    lang, receipt, code, record = posted.lang, posted.receipt, posted.code, posted.record
    if record is None:
        return _not_found_page(lang, receipt)
    page = case_page(
        api.view_of(record, lang), api.standards.catalog_of(record), receipt, code, lang
    )
    return HTMLResponse(page, headers=_NO_STORE)


@page_router.post("/report")
async def report_page(api: ApiDep, posted: FormLookupDep) -> HTMLResponse:
    lang, receipt, code, record = posted.lang, posted.receipt, posted.code, posted.record
    if record is None:
        return _not_found_page(lang, receipt)
    status, outcome = await api.report(record, posted.form.get("kind"), posted.form.get("text"))
    text, css = {
        202: (t(lang, "report_received"), "done"),
        409: (t(lang, "report_duplicate"), "note"),
        503: (t(lang, "report_failed"), "error"),
    }.get(status, (t(lang, "report_invalid", problem=outcome), "error"))
    page = message_page(lang, text, css, receipt, code)
    return HTMLResponse(page, status_code=status, headers=_NO_STORE)


# --- JSON ----------------------------------------------------------------------------------------

status_router = APIRouter(tags=["status"])


@status_router.post("/v1/status")
async def status_json(api: ApiDep, posted: JsonLookupDep) -> JSONResponse:
    """Body `{"case_id", "code", "lang"?}`: the case against its standard, or 404."""
    body, record = posted.body, posted.record
    if record is None:
        return JSONResponse({"detail": NOT_FOUND}, status_code=404, headers=_NO_STORE)
    lang = pick_lang(body.get("lang") if isinstance(body.get("lang"), str) else None)
    return JSONResponse(api.view_of(record, lang), headers=_NO_STORE)


@status_router.post("/v1/reports")
async def report_json(api: ApiDep, posted: JsonLookupDep) -> JSONResponse:
    """Body `{"case_id", "code", "kind", "text"?}`: 202 with the alert id, 409 when this
    kind was already reported on the case today."""
    body, record = posted.body, posted.record
    if record is None:
        return JSONResponse({"detail": NOT_FOUND}, status_code=404, headers=_NO_STORE)
    status, outcome = await api.report(record, body.get("kind"), body.get("text"))
    if status in (202, 409):
        answer = {
            "alert_id": outcome,
            "status": "received" if status == 202 else "already reported today",
        }
        return JSONResponse(answer, status_code=status, headers=_NO_STORE)
    return JSONResponse({"detail": outcome}, status_code=status, headers=_NO_STORE)


# --- agencies ------------------------------------------------------------------------------------

agencies_router = APIRouter(tags=["agencies"])


@agencies_router.get("/v1/check-codes/{case_id}")
async def check_code_of(case_id: str, api: ApiDep, agency: AgencyDep) -> JSONResponse:
    """The check code to print on the receipt of `case_id`, for the agency of the API key
    (`Authorization: Bearer <key>`, the intake's keys). Needs no case on record yet."""
    if not 0 < len(case_id) <= 128 or not case_id.isprintable():
        return JSONResponse({"detail": "case_id: 1-128 printable characters"}, status_code=422)
    body = {"agency": agency, "case_id": case_id, "code": check_code(api.key, agency, case_id)}
    return JSONResponse(body, headers=_NO_STORE)


# --- composition ---------------------------------------------------------------------------------


def create_app(
    book: CaseBook,
    catalog: Catalog,
    key: bytes,
    publish: Publish,
    clock: Callable[[], datetime],
    limiter: AddressLimiter,
    keyring: AgencyKeyring | None = None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The app over one read model; `publish` sends an alert and returns after acks=all.

    `app.state.standards` (a `ShownStandards`) holds the versions of the standards cases are
    shown against; a version it learns takes effect from the next request."""
    standards = ShownStandards(catalog)
    app = FastAPI(
        title="Pantau status",
        version="1",
        lifespan=lifespan,
        description="An applicant's own case against the service standard, and reports.",
    )
    app.state.standards = standards
    app.state.status_api = StatusApi(
        book, standards, key, publish, clock, limiter, keyring, monotonic
    )
    app.add_exception_handler(_Refusal, _refused)
    for router in (health_router, page_router, status_router, agencies_router):
        app.include_router(router)
    return app
