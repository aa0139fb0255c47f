"""Scenario builders for the cross-case rules: a small catalog and a stand-in for the tracker."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from pantau.core.alerts import Alert
from pantau.core.catalog import Catalog, Service, parse_catalog
from pantau.core.events import Event
from pantau.core.working_time import ClockStop, WorkingCalendar
from pantau_tracker.domain.rulebook.case_step import CaseStep, RunningLimit
from samples import catalog_data, pbg_service

AGENCY = "kota-malang.dpmptsp"
WIB = timezone(timedelta(hours=7))
NOW = datetime(2026, 12, 31, 0, 0, tzinfo=WIB)


def wib(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    """A moment of 2026 in Jakarta time (23 November 2026 is a Monday)."""
    return datetime(2026, month, day, hour, minute, tzinfo=WIB)


# The PBG without its fee assessment (paid straight after verification), a clarification without
# a reason, and neither mandatory steps nor separated duties.
CATALOG: dict[str, Any] = catalog_data(
    pbg_service(
        steps=[
            {"code": "submitted", "start": True},
            {"code": "verified", "roles": ["verifier"], "sla": "3 working_days"},
            {"code": "paid", "payment": True},
            {"code": "approved", "roles": ["head"], "sla": "5 working_days"},
            {"code": "issued", "terminal": True},
            {"code": "rejected", "terminal": True, "reason_required": True},
            {"code": "clarification_requested", "clock": "stop"},
            {"code": "clarification_received", "clock": "resume"},
        ],
        next={
            "submitted": ["verified", "rejected", "clarification_requested"],
            "verified": ["paid", "rejected", "clarification_requested"],
            "clarification_requested": ["clarification_received"],
            "clarification_received": ["verified"],
            "paid": ["approved"],
            "approved": ["issued"],
        },
        mandatory=None,
        separate=None,
    ),
    {
        # A free counter service whose standard is minutes: fast is its promise.
        "code": "legalisir",
        "agency": AGENCY,
        "name": "Legalisir dokumen",
        "sla": "30 minutes",
        "fee": 0,
        "steps": [
            {"code": "submitted", "start": True},
            {"code": "stamped", "roles": ["clerk"]},
            {"code": "issued", "terminal": True},
        ],
    },
)


StateT = TypeVar("StateT")
Observe = Callable[[StateT, CaseStep, datetime], tuple[StateT, list[Alert]]]


def observe_all(
    observe: Observe[StateT], state: StateT, steps: list[CaseStep]
) -> tuple[StateT, list[Alert]]:
    """Feed the steps in order to one state, as the tracker would, collecting every alert."""
    alerts: list[Alert] = []
    for step in steps:
        state, raised = observe(state, step, NOW)
        alerts.extend(raised)
    return state, alerts


def observe_keyed(
    observe: Observe[StateT],
    key_of: Callable[[Event], str | None],
    fresh: Callable[[], StateT],
    steps: list[CaseStep],
    states: dict[str, StateT] | None = None,
) -> tuple[dict[str, StateT], list[Alert]]:
    """Feed the steps in order to the state of their key (`fresh` for a key not seen, none for
    a step without a key), as the tracker would, collecting every alert."""
    states = dict(states or {})
    alerts: list[Alert] = []
    for step in steps:
        key = key_of(step.event)
        if key is None:
            continue
        states[key], raised = observe(states.get(key, fresh()), step, NOW)
        alerts.extend(raised)
    return states, alerts


def catalog(oversight: dict[str, Any] | None = None, service: str = "pbg") -> Catalog:
    """The scenario catalog, with `oversight` set on `service` when given."""
    data = copy.deepcopy(CATALOG)
    if oversight is not None:
        for entry in data["services"]:
            if entry["code"] == service:
                entry["oversight"] = oversight
    return parse_catalog(data, "scenario.yaml")


@dataclass
class _Case:
    step: str
    at: datetime
    opened_at: datetime
    seq: int
    stops: list[ClockStop] = field(default_factory=list)
    stop_count: int = 0


class Cases:
    """A hand-written stand-in for the tracker: it keeps each case's current step, times and
    clock stops, and builds the `CaseStep` of every new event of the scenario."""

    def __init__(self, oversight: dict[str, Any] | None = None, service: str = "pbg") -> None:
        found = catalog(oversight, service)
        self.service: Service = found.services[(AGENCY, service)]
        spec = found.calendar_of(AGENCY)
        assert spec is not None
        self.calendar = WorkingCalendar(spec)
        self.cases: dict[str, _Case] = {}

    def step(
        self,
        case_id: str,
        step: str,
        at: datetime,
        *,
        officer: str | None = None,
        reason: str | None = None,
        applicant: str | None = None,
        attributes: dict[str, Any] | None = None,
        awaiting: tuple[RunningLimit, ...] = (),
    ) -> CaseStep:
        """The next event of `case_id` (its step at `at`), as the tracker would present it."""
        case = self.cases.get(case_id)
        seq = 1 if case is None else case.seq + 1
        document: dict[str, Any] = {
            "event_id": f"{AGENCY}:{case_id}:{seq}",
            "agency": AGENCY,
            "service": self.service.code,
            "case_id": case_id,
            "step": step,
            "occurred_at": at.isoformat(),
            "seq": seq,
        }
        definition = self.service.step(step)
        if officer is not None:
            role = sorted(definition.roles)[0] if definition and definition.roles else "staff"
            document["officer"] = {"id": officer, "role": role}
        if reason is not None:
            document["reason"] = reason
        if applicant is not None:
            document["applicant"] = {"ref": applicant}
        if attributes is not None:
            document["attributes"] = attributes
        event = Event.from_json_bytes(json.dumps(document))
        built = CaseStep(
            event=event,
            service=self.service,
            calendar=self.calendar,
            previous_step=None if case is None else case.step,
            previous_at=None if case is None else case.at,
            opened_at=at if case is None else case.opened_at,
            stops=() if case is None else tuple(case.stops),
            stop_count=0 if case is None else case.stop_count,
            awaiting=awaiting,
        )
        if case is None:
            case = self.cases[case_id] = _Case(step, at, at, seq)
        case.step, case.at, case.seq = step, at, seq
        if definition is not None and definition.clock == "stop":
            case.stops.append(ClockStop(at))
            case.stop_count += 1
        elif definition is not None and definition.clock == "resume" and case.stops:
            case.stops[-1] = ClockStop(case.stops[-1].stopped_at, at)
        return built
