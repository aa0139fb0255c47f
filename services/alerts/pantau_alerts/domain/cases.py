"""Case states from `pantau.cases`, read defensively, and what operators see of them.

The tracker publishes the latest state of each case (compacted, keyed `<agency>|<case_id>`). Its
exact shape is the tracker's business, so this module takes what it recognises — the `v_cases`
columns (status, current_step, opened_at, closed_at, due_at, breached, standard_version) and a
list of applied steps under `steps`, `history`, `timeline` or `events` — and fills what is
missing from the catalog it is given (that of the version of the standards the case follows):
each step's deadline is its `sla` counted in the agency's working time from the step before it.
A state it cannot read at all is skipped, never fatal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pantau.core.catalog import Catalog, Service
from pantau.core.events import case_of_key, format_rfc3339, parse_rfc3339
from pantau.core.json_objects import json_object
from pantau.core.standards import recorded_version
from pantau.core.working_time import ClockStop, WorkingCalendar

__all__ = [
    "CaseSnapshot",
    "StepMark",
    "case_timeline",
    "parse_case_state",
    "service_health",
]

_STEP_LISTS = ("steps", "history", "timeline", "events", "applied")
_TIME_KEYS = ("occurred_at", "at", "time", "timestamp")
_DUE_KEYS = ("due_at", "deadline", "due")


@dataclass(frozen=True)
class StepMark:
    """One applied step of a case and, when known, the deadline it was due by."""

    step: str
    at: datetime
    due_at: datetime | None = None
    officer_id: str | None = None


@dataclass(frozen=True)
class CaseSnapshot:
    """The latest known state of one case."""

    agency: str
    service: str
    case_id: str
    status: str | None
    current_step: str | None
    opened_at: datetime | None
    closed_at: datetime | None
    due_at: datetime | None
    breached: bool | None
    steps: tuple[StepMark, ...]
    raw: Mapping[str, Any]
    standard_version: int | None = None  # the version of the standards the case follows

    @property
    def closed(self) -> bool:
        """True once the case reached a terminal step."""
        if self.closed_at is not None:
            return True
        return (self.status or "").lower() in {"closed", "done", "issued", "rejected", "terminal"}


def _time(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return parse_rfc3339(value)
        except ValueError:
            return None
    return None


def _first(raw: Mapping[str, Any], keys: tuple[str, ...]) -> object:
    for key in keys:
        if raw.get(key) is not None:
            return raw[key]
    return None


def _marks(raw: Mapping[str, Any]) -> tuple[StepMark, ...]:
    listing = _first(raw, _STEP_LISTS)
    if isinstance(listing, Mapping):  # {step: time} or {step: {...}}
        listing = [
            {"step": k, **v} if isinstance(v, Mapping) else {"step": k, "at": v}
            for k, v in listing.items()
        ]
    if not isinstance(listing, list):
        return ()
    marks: list[StepMark] = []
    for item in listing:
        if not isinstance(item, Mapping):
            continue
        step = item.get("step") or item.get("code")
        at = _time(_first(item, _TIME_KEYS))
        if not isinstance(step, str) or at is None:
            continue
        officer = item.get("officer_id")
        if officer is None and isinstance(item.get("officer"), Mapping):
            officer = item["officer"].get("id")
        officers = item.get("officers")
        if officer is None and isinstance(officers, list) and officers:
            officer = officers[-1]
        marks.append(
            StepMark(
                step=step,
                at=at,
                due_at=_time(_first(item, _DUE_KEYS)),
                officer_id=officer if isinstance(officer, str) else None,
            )
        )
    marks.sort(key=lambda m: m.at)
    return tuple(marks)


def parse_case_state(key: str | None, data: bytes | str | Mapping[str, Any]) -> CaseSnapshot | None:
    """A snapshot from one record of the cases topic, or None when it is unusable."""
    raw = json_object(data) if isinstance(data, bytes | str) else data
    if not isinstance(raw, Mapping):
        return None
    if isinstance(raw.get("case"), Mapping):  # a wrapper {"case": {...}, ...}
        raw = {**raw["case"], **{k: v for k, v in raw.items() if k != "case"}}
    assert isinstance(raw, Mapping)
    agency, case_id = raw.get("agency"), raw.get("case_id")
    if (not isinstance(agency, str) or not isinstance(case_id, str)) and key and "|" in key:
        agency, case_id = case_of_key(key)
    service = raw.get("service")
    if not isinstance(agency, str) or not isinstance(case_id, str) or not isinstance(service, str):
        return None
    steps = _marks(raw)
    current = raw.get("current_step")
    breached = raw.get("breached")
    status = raw.get("status")
    return CaseSnapshot(
        agency=agency,
        service=service,
        case_id=case_id,
        status=status if isinstance(status, str) else None,
        current_step=current if isinstance(current, str) else (steps[-1].step if steps else None),
        opened_at=_time(raw.get("opened_at")) or (steps[0].at if steps else None),
        closed_at=_time(raw.get("closed_at")),
        due_at=_time(_first(raw, _DUE_KEYS)),
        breached=bool(breached) if isinstance(breached, bool | int) else None,
        steps=steps,
        raw=raw,
        standard_version=recorded_version(raw.get("standard_version")),
    )


def _calendar(catalog: Catalog | None, agency: str) -> WorkingCalendar | None:
    spec = None if catalog is None else catalog.calendar_of(agency)
    if spec is None:
        return None
    try:
        return WorkingCalendar(spec)
    except ValueError:
        return None


def _clock_stops(service: Service | None, marks: tuple[StepMark, ...]) -> list[ClockStop]:
    if service is None:
        return []
    stops: list[ClockStop] = []
    stopped: datetime | None = None
    for mark in marks:
        step = service.step(mark.step)
        if step is None or step.clock is None:
            continue
        if str(step.clock) == "stop" and stopped is None:
            stopped = mark.at
        elif str(step.clock) == "resume" and stopped is not None:
            stops.append(ClockStop(stopped, mark.at))
            stopped = None
    if stopped is not None:
        stops.append(ClockStop(stopped))
    return stops


def case_timeline(case: CaseSnapshot, catalog: Catalog | None, now: datetime) -> dict[str, Any]:
    """The case's steps against their deadlines, the case deadline and what is due next.

    Deadlines the tracker gave are kept; missing ones are computed from the catalog.
    """
    service = None if catalog is None else catalog.service(case.agency, case.service)
    calendar = _calendar(catalog, case.agency)
    stops = _clock_stops(service, case.steps)
    entries: list[dict[str, Any]] = []
    previous: StepMark | None = None
    first: dict[str, datetime] = {}  # when each step first happened: named limits count from it
    for mark in case.steps:
        due = mark.due_at
        step = None if service is None else service.step(mark.step)
        since = None if previous is None else previous.at
        if step is not None and step.sla_from is not None:
            since = first.get(step.sla_from)
        if due is None and step is not None and step.sla is not None and since is not None:
            due = calendar.deadline(since, step.sla, stops) if calendar else None
        first.setdefault(mark.step, mark.at)
        entries.append(
            {
                "step": mark.step,
                "at": format_rfc3339(mark.at),
                "due_at": None if due is None else format_rfc3339(due),
                "late": due is not None and mark.at > due,
                "officer_id": mark.officer_id,
            }
        )
        previous = mark
    case_due = case.due_at
    if case_due is None and service is not None and service.sla and case.opened_at and calendar:
        case_due = calendar.deadline(case.opened_at, service.sla, stops)
    pending: list[dict[str, Any]] = []
    announced = case.raw.get("deadlines")
    if not case.closed and isinstance(announced, list):
        # The tracker's own view of what the case waits for wins over our recomputation.
        for item in announced:
            if isinstance(item, Mapping) and isinstance(item.get("step"), str):
                due = _time(item.get("due_at"))
                pending.append(
                    {
                        "step": item["step"],
                        "due_at": None if due is None else format_rfc3339(due),
                        "overdue": bool(item.get("overdue")) or (due is not None and now > due),
                    }
                )
    elif not case.closed and service is not None and previous is not None:
        for code in sorted(service.allowed_after(previous.step)):
            step = service.step(code)
            if step is None or step.sla is None or calendar is None:
                continue
            due = calendar.deadline(previous.at, step.sla, stops)
            pending.append(
                {
                    "step": code,
                    "due_at": None if due is None else format_rfc3339(due),
                    "overdue": due is not None and now > due,
                }
            )
    breached = case.breached
    if breached is None and case_due is not None:
        end = case.closed_at or (None if case.closed else now)
        breached = end is not None and end > case_due
    return {
        "agency": case.agency,
        "service": case.service,
        "service_name": None if service is None else service.name,
        "case_id": case.case_id,
        "status": case.status or ("closed" if case.closed else "open"),
        "current_step": case.current_step,
        "opened_at": None if case.opened_at is None else format_rfc3339(case.opened_at),
        "closed_at": None if case.closed_at is None else format_rfc3339(case.closed_at),
        "due_at": None if case_due is None else format_rfc3339(case_due),
        "breached": bool(breached),
        "steps": entries,
        "pending": pending,
    }


def _is_breached(case: CaseSnapshot, now: datetime) -> bool:
    if case.breached is not None:
        return case.breached
    if case.due_at is None:
        return False
    end = case.closed_at or (None if case.closed else now)
    return end is not None and end > case.due_at


def service_health(
    cases: list[CaseSnapshot], catalog: Catalog | None, now: datetime
) -> list[dict[str, Any]]:
    """Per service: cases active today and this month (agency's local time), and how many breached.

    A case is active in a period when it was open at some moment of it: opened before the
    period ended and not closed before it began. Compliance is the share not breached.
    """
    groups: dict[tuple[str, str], list[CaseSnapshot]] = {}
    for case in cases:
        groups.setdefault((case.agency, case.service), []).append(case)
    if catalog is not None:
        for agency, code in catalog.services:
            groups.setdefault((agency, code), [])
    rows: list[dict[str, Any]] = []
    for (agency, code), members in sorted(groups.items()):
        spec = None if catalog is None else catalog.calendar_of(agency)
        tz = ZoneInfo(spec.timezone) if spec is not None else UTC
        local = now.astimezone(tz)
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        month_start = day_start.replace(day=1)
        periods = {
            "today": (day_start, day_start + timedelta(days=1)),
            "month": (month_start, (month_start + timedelta(days=32)).replace(day=1)),
        }
        service = None if catalog is None else catalog.service(agency, code)
        row: dict[str, Any] = {
            "agency": agency,
            "service": code,
            "service_name": None if service is None else service.name,
        }
        for name, (begin, end) in periods.items():
            active = [
                c
                for c in members
                if (c.opened_at is None or c.opened_at < end)
                and (c.closed_at is None or c.closed_at >= begin)
            ]
            breached = sum(1 for c in active if _is_breached(c, min(now, end)))
            row[name] = {
                "cases": len(active),
                "open": sum(1 for c in active if not c.closed),
                "breached": breached,
                "compliance_pct": None
                if not active
                else round(100.0 * (len(active) - breached) / len(active), 1),
            }
        rows.append(row)
    return rows
