"""The status page and its JSON API (FastAPI, a thin adapter over the read model and the core).

No operator token: anyone with a receipt number and its check code sees that case. Every lookup
and report counts against the client address's budget; a wrong code and an unknown receipt get
the same answer. The check-code route is for agency systems and takes their intake API key.
"""

# No `from __future__ import annotations`: FastAPI resolves the route signatures.
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pantau.core.catalog import Catalog
from pantau.core.standards import StandardsBook, StandardVersion
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


class ShownStandards:
    """What the status page shows cases against: every published version of the standards read
    so far (a `StandardsBook`), and the catalog of `PANTAU_CATALOG` for when none is read.

    A case is shown against the version it follows for its whole life: the version the tracker
    recorded on its state, else the one in force when it opened (`StandardsBook.followed`), so
    a standard changed while a case is open changes neither its page nor its deadlines."""

    def __init__(self, catalog: Catalog, book: StandardsBook | None = None) -> None:
        self.unpublished = catalog
        self.book = book or StandardsBook()

    def learn(self, version: StandardVersion) -> bool:
        """Keep a version read from the standards topic; False when it was known already."""
        learned = self.book.learned(version)
        if learned is not None:
            self.book = learned
        return learned is not None

    def catalog_of(self, record: CaseRecord) -> Catalog:
        """The catalog of the version `record` follows (`PANTAU_CATALOG` before any is read)."""
        found = self.book.followed(
            record.agency, record.service, record.standard_version, record.opened_at
        )
        return self.unpublished if found is None else found.catalog


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
    counts = {"lookups": 0, "not_found": 0, "reports": 0, "duplicate_reports": 0}

    async def body_of(request: Request) -> bytes:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > BODY_MAX_BYTES:
                raise _Refusal(413, "body too large")
        return body

    async def form_of(request: Request) -> dict[str, str]:
        fields = parse_qs((await body_of(request)).decode("utf-8", "replace"))
        return {name: values[0] for name, values in fields.items() if values}

    async def json_of(request: Request) -> dict[str, Any]:
        try:
            document = json.loads(await body_of(request))
        except (ValueError, UnicodeDecodeError):
            document = None
        if not isinstance(document, dict):
            raise _Refusal(422, "the body must be a JSON object")
        return document

    def admit(request: Request, lang: str = "id") -> None:
        """The address's budget, then readiness; raises _Refusal."""
        address = request.client.host if request.client else "unknown"
        wait = limiter.take(address, monotonic())
        if wait is not None:
            raise _Refusal(429, "too many tries from this address", wait, lang)
        if not book.ready:
            raise _Refusal(503, "catching up with the case log", 2, lang)

    def lookup(receipt: object, code: object) -> CaseRecord | None:
        counts["lookups"] += 1
        record = None
        if isinstance(receipt, str) and isinstance(code, str) and 0 < len(receipt) <= 128:
            record = book.find(key, receipt.strip(), code)
        if record is not None and (
            standards.catalog_of(record).service(record.agency, record.service) is None
        ):
            record = None  # a case of a service its catalog does not have: nothing to show
        if record is None:
            counts["not_found"] += 1
        return record

    def view_of(record: CaseRecord, lang: str) -> dict[str, Any]:
        catalog = standards.catalog_of(record)
        service = catalog.service(record.agency, record.service)
        assert service is not None
        return public_view(record, catalog, service, clock(), lang)

    async def report(record: CaseRecord, kind_text: object, text: object) -> tuple[int, str]:
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
        catalog = standards.catalog_of(record)
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
            now=clock(),
            timezone="UTC" if calendar is None else calendar.timezone,
        )
        if alert.alert_id in book.reported:
            counts["duplicate_reports"] += 1
            return 409, alert.alert_id
        try:
            await publish(f"{record.agency}|{record.case_id}", alert.to_json_bytes())
        except Exception:
            return 503, "the report could not be stored; try again"
        book.reported.add(alert.alert_id)
        counts["reports"] += 1
        return 202, alert.alert_id

    @app.exception_handler(_Refusal)
    async def _refused(request: Request, exc: _Refusal) -> Response:
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

    # --- health ------------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        if book.ready:
            return JSONResponse({"status": "ready", "cases": len(book)})
        return JSONResponse({"status": "catching up with the case log"}, status_code=503)

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        registry = CollectorRegistry()
        Gauge("pantau_status_cases", "cases in the read model", registry=registry).set(len(book))
        Gauge("pantau_status_ready", "1 once caught up", registry=registry).set(int(book.ready))
        Gauge("pantau_status_refused", "tries refused by the limit", registry=registry).set(
            limiter.refused
        )
        for name, value in counts.items():
            Gauge(f"pantau_status_{name}", f"{name} since start", registry=registry).set(value)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # --- the page ----------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        lang = pick_lang(request.query_params.get("lang"))
        return HTMLResponse(lookup_page(lang), headers=_NO_STORE)

    async def form_lookup(
        request: Request,
    ) -> tuple[dict[str, str], str, str, str, CaseRecord | None]:
        """The posted form, its language, receipt and code, and the case they open (None:
        wrong code or unknown case, which answer alike); one try of the address's budget."""
        form = await form_of(request)
        lang = pick_lang(form.get("lang"))
        admit(request, lang)
        receipt, code = form.get("receipt", ""), form.get("code", "")
        return form, lang, receipt, code, lookup(receipt, code)

    def not_found_page(lang: str, receipt: str) -> HTMLResponse:
        page = lookup_page(lang, t(lang, "not_found"), receipt)
        return HTMLResponse(page, status_code=404, headers=_NO_STORE)

    @app.post("/status", include_in_schema=False)
    async def status_page(request: Request) -> HTMLResponse:
        _, lang, receipt, code, record = await form_lookup(request)
        if record is None:
            return not_found_page(lang, receipt)
        page = case_page(view_of(record, lang), standards.catalog_of(record), receipt, code, lang)
        return HTMLResponse(page, headers=_NO_STORE)

    @app.post("/report", include_in_schema=False)
    async def report_page(request: Request) -> HTMLResponse:
        form, lang, receipt, code, record = await form_lookup(request)
        if record is None:
            return not_found_page(lang, receipt)
        status, outcome = await report(record, form.get("kind"), form.get("text"))
        text, css = {
            202: (t(lang, "report_received"), "done"),
            409: (t(lang, "report_duplicate"), "note"),
            503: (t(lang, "report_failed"), "error"),
        }.get(status, (t(lang, "report_invalid", problem=outcome), "error"))
        page = message_page(lang, text, css, receipt, code)
        return HTMLResponse(page, status_code=status, headers=_NO_STORE)

    # --- JSON --------------------------------------------------------------------------------

    @app.post("/v1/status", tags=["status"])
    async def status_json(request: Request) -> JSONResponse:
        """Body `{"case_id", "code", "lang"?}`: the case against its standard, or 404."""
        body = await json_of(request)
        admit(request)
        record = lookup(body.get("case_id"), body.get("code"))
        if record is None:
            return JSONResponse({"detail": NOT_FOUND}, status_code=404, headers=_NO_STORE)
        lang = pick_lang(body.get("lang") if isinstance(body.get("lang"), str) else None)
        return JSONResponse(view_of(record, lang), headers=_NO_STORE)

    @app.post("/v1/reports", tags=["status"])
    async def report_json(request: Request) -> JSONResponse:
        """Body `{"case_id", "code", "kind", "text"?}`: 202 with the alert id, 409 when this
        kind was already reported on the case today."""
        body = await json_of(request)
        admit(request)
        record = lookup(body.get("case_id"), body.get("code"))
        if record is None:
            return JSONResponse({"detail": NOT_FOUND}, status_code=404, headers=_NO_STORE)
        status, outcome = await report(record, body.get("kind"), body.get("text"))
        if status in (202, 409):
            answer = {
                "alert_id": outcome,
                "status": "received" if status == 202 else "already reported today",
            }
            return JSONResponse(answer, status_code=status, headers=_NO_STORE)
        return JSONResponse({"detail": outcome}, status_code=status, headers=_NO_STORE)

    @app.get("/v1/check-codes/{case_id}", tags=["agencies"])
    async def check_code_of(case_id: str, request: Request) -> JSONResponse:
        """The check code to print on the receipt of `case_id`, for the agency of the API key
        (`Authorization: Bearer <key>`, the intake's keys). Needs no case on record yet."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        agency = None
        if keyring is not None and scheme.lower() == "bearer":
            agency = keyring.agency_for(token.strip())
        if agency is None:
            return JSONResponse(
                {"detail": "missing or unknown API key"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer", **_NO_STORE},
            )
        if not 0 < len(case_id) <= 128 or not case_id.isprintable():
            return JSONResponse({"detail": "case_id: 1-128 printable characters"}, status_code=422)
        body = {"agency": agency, "case_id": case_id, "code": check_code(key, agency, case_id)}
        return JSONResponse(body, headers=_NO_STORE)

    return app
