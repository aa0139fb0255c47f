"""What an applicant may see of a case: a whitelist over the tracker's state, and the standard.

`project` keeps, from one `pantau.cases` record, only what the public view needs: the service,
status, times, the steps done (code and time), the deadlines and the version of the service
standards the case follows. Officers, the applicant, event
ids, reasons and anything else the tracker adds never enter the read model, so no later change to
the tracker's state can make them reach an applicant. `public_view` joins that with the service
standard from the catalog; it shows only step codes the standard names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pantau.core.catalog import PAYMENT_CHANNELS, Catalog, Service
from pantau.core.events import case_of_key, format_rfc3339, parse_rfc3339
from pantau.core.json_objects import json_object
from pantau.core.standards import recorded_version
from pantau_status.domain.texts import step_label

__all__ = ["CaseRecord", "project", "public_view", "service_standard"]


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """The public part of one case's latest state."""

    agency: str
    service: str
    case_id: str
    status: str
    current_step: str | None
    terminal_step: str | None
    opened_at: datetime | None
    closed_at: datetime | None
    due_at: datetime | None
    breached: bool
    clock_stopped: bool
    steps: tuple[tuple[str, datetime], ...]
    awaiting: tuple[tuple[str, datetime | None, bool], ...]
    deemed_approved: bool = False  # the limit passed undecided: approved by law, still open
    standard_version: int | None = None  # the version of the standards the case follows


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 128 else None


def project(key: bytes | None, value: bytes | None) -> CaseRecord | None:
    """The public record of one `pantau.cases` record, or None when it is unusable."""
    if value is None:
        return None
    raw = json_object(value)
    if raw is None:
        return None
    agency, service = _text(raw.get("agency")), _text(raw.get("service"))
    case_id = _text(raw.get("case_id"))
    if (agency is None or case_id is None) and key:
        agency, case_id = case_of_key(key)
    if not agency or not case_id or service is None:
        return None
    steps: list[tuple[str, datetime]] = []
    listing = raw.get("steps")
    for item in listing if isinstance(listing, list) else ():
        if isinstance(item, Mapping):
            code, at = _text(item.get("step")), _time(item.get("occurred_at"))
            if code is not None and at is not None:
                steps.append((code, at))
    steps.sort(key=lambda pair: pair[1])
    awaiting: list[tuple[str, datetime | None, bool]] = []
    deadlines = raw.get("deadlines")
    for item in deadlines if isinstance(deadlines, list) else ():
        if isinstance(item, Mapping) and (code := _text(item.get("step"))) is not None:
            awaiting.append((code, _time(item.get("due_at")), item.get("overdue") is True))
    status = raw.get("status")
    return CaseRecord(
        agency=agency,
        service=service,
        case_id=case_id,
        status="closed" if status == "closed" or raw.get("closed_at") else "open",
        current_step=_text(raw.get("current_step")),
        terminal_step=_text(raw.get("terminal_step")),
        opened_at=_time(raw.get("opened_at")),
        closed_at=_time(raw.get("closed_at")),
        due_at=_time(raw.get("due_at")),
        breached=raw.get("breached") is True,
        clock_stopped=raw.get("clock_stopped") is True,
        deemed_approved=status == "deemed_approved" and not raw.get("closed_at"),
        steps=tuple(steps),
        awaiting=tuple(awaiting),
        standard_version=recorded_version(raw.get("standard_version")),
    )


def _fee(service: Service) -> dict[str, Any]:
    fee = service.fee
    channels = service.payment_channels
    return {
        "free": fee.is_free,
        "min": int(fee.min),
        "max": int(fee.max),
        "currency": "IDR",
        # The only channels the fee may be paid through (null: the catalog names none).
        "channels": None if channels is None else [c for c in PAYMENT_CHANNELS if c in channels],
    }


def _limit(duration: object) -> dict[str, Any] | None:
    if duration is None:
        return None
    amount, unit = str(duration).split(" ", 1)
    return {"amount": int(amount), "unit": unit}


def service_standard(catalog: Catalog, service: Service, lang: str) -> dict[str, Any]:
    """The published standard of a service: its steps, time limits and official fee."""
    agency = catalog.agency(service.agency)
    return {
        "agency": {"code": service.agency, "name": None if agency is None else agency.name},
        "code": service.code,
        "name": service.name,
        "time_limit": _limit(service.sla),
        "fee": _fee(service),
        "steps": [
            {
                "code": step.code,
                "label": step_label(step.code, lang),
                "time_limit": _limit(step.sla),
                "payment": step.payment,
                "terminal": step.terminal,
            }
            for step in service.steps
        ],
    }


def _at(moment: datetime | None) -> str | None:
    return None if moment is None else format_rfc3339(moment)


def public_view(
    record: CaseRecord, catalog: Catalog, service: Service, now: datetime, lang: str
) -> dict[str, Any]:
    """The case as its applicant sees it (the body of `POST /v1/status`)."""
    known = {step.code for step in service.steps}
    is_open = record.status == "open"
    late = record.breached or (
        is_open and record.due_at is not None and now > record.due_at and not record.clock_stopped
    )
    terminal = service.step(record.terminal_step) if record.terminal_step else None
    outcome = None
    if not is_open and terminal is not None:
        outcome = "rejected" if terminal.is_rejection else "completed"
    return {
        "case_id": record.case_id,
        "service": service_standard(catalog, service, lang),
        "status": record.status,
        "outcome": outcome,
        "current_step": record.current_step if record.current_step in known else None,
        "opened_at": _at(record.opened_at),
        "closed_at": _at(record.closed_at),
        "steps_done": [
            {"step": code, "label": step_label(code, lang), "at": format_rfc3339(at)}
            for code, at in record.steps
            if code in known
        ],
        "awaiting": [
            {
                "step": code,
                "label": step_label(code, lang),
                "due_at": _at(due),
                "late": overdue or (due is not None and now > due and not record.clock_stopped),
            }
            for code, due, overdue in (record.awaiting if is_open else ())
            if code in known
        ],
        "due_at": _at(record.due_at),
        "late": late,
        "clock_stopped": is_open and record.clock_stopped,
        "deemed_approved": is_open and record.deemed_approved,
        "as_of": format_rfc3339(now),
    }
