"""Sample documents the unit tests share: the contract's example event and alert, the pieces of
the Kota Malang DPMPTSP catalog (its working calendar, the agency, the full PBG service), and
one case's events folded by the tracker, and the sample catalog as two versions of the standards;
and `SentRecords`, which stands in for a Kafka producer.

Every function returns a fresh copy, so a test may break its sample one way without touching
another test's."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pantau.core.alerts import Alert, make_alert
from pantau.core.catalog import load_catalog_documents
from pantau.core.events import Event, format_rfc3339
from pantau.core.standards import StandardVersion, canonical_document, new_version
from pantau.settings import REPO_DIR, SAMPLE_CATALOG
from pantau_intake.settings import IntakeSettings
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.standards import CaseStandard
from pantau_tracker.domain.tracking import handle_event

AGENCY = "kota-malang.dpmptsp"
WIB = timezone(timedelta(hours=7))

# The fields every event carries (contract section 2).
REQUIRED_EVENT_FIELDS = ("event_id", "agency", "service", "case_id", "step", "occurred_at")

# Copied verbatim from docs/contract.md section 2.
CONTRACT_EVENT = """
{
  "event_id": "kota-malang.dpmptsp:PBG-2026-000123:3",
  "agency": "kota-malang.dpmptsp",
  "service": "pbg",
  "case_id": "PBG-2026-000123",
  "step": "verified",
  "occurred_at": "2026-11-27T09:15:00+07:00",
  "seq": 3,
  "officer": {"id": "198702142010011003", "role": "verifier"},
  "applicant": {"ref": "k1:3f9a..."},
  "payment": {"amount": "150000.00", "currency": "IDR", "receipt": "KW-88121"},
  "reason": "berkas lengkap",
  "channel": "counter",
  "mode": "live",
  "attributes": {}
}
"""

# Copied verbatim from docs/contract.md section 5.
CONTRACT_ALERT = """
{
  "alert_id": "9c1e...",
  "rule": "duty.same_officer",
  "category": "abuse_of_authority",
  "severity": "high",
  "agency": "kota-malang.dpmptsp", "service": "pbg", "case_id": "PBG-2026-000123",
  "step": "approved", "officer_id": "198702142010011003",
  "occurred_at": "2026-11-27T10:02:00+07:00",
  "detected_at": "2026-11-27T03:02:01.120Z",
  "message": "Step approved done by the officer who did verified",
  "evidence": {"verified_by": "198702142010011003"},
  "event_ids": ["...", "..."]
}
"""


def changed(data: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with `changes` applied: a value replaces a top-level field, None deletes it."""
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def contract_event(**changes: Any) -> dict[str, Any]:
    """The contract's example event as a dict, with `changes` applied (None deletes a field)."""
    return changed(json.loads(CONTRACT_EVENT), changes)


def contract_alert(**changes: Any) -> dict[str, Any]:
    """The contract's example alert as a dict, with `changes` applied (None deletes a field)."""
    return changed(json.loads(CONTRACT_ALERT), changes)


def minimal_event(case_id: str, step: str = "submitted", number: int = 1) -> dict[str, Any]:
    """The required fields of a valid event: number `number` of PBG case `case_id` at the
    DPMPTSP, at `step`, on 2026-11-27 at 09:15 WIB."""
    return {
        "event_id": f"{AGENCY}:{case_id}:{number}",
        "agency": AGENCY,
        "service": "pbg",
        "case_id": case_id,
        "step": step,
        "occurred_at": "2026-11-27T09:15:00+07:00",
    }


ALERT_DETECTED_AT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def sample_alert(rule: str = "duty.same_officer", **fields: Any) -> Alert:
    """An alert of `rule` on PBG case PBG-1 at the DPMPTSP, triggered by event e1 and detected
    at `ALERT_DETECTED_AT`, message "m"; `fields` replace those or add others (`make_alert`)."""
    return make_alert(
        rule,
        **{
            "agency": AGENCY,
            "service": "pbg",
            "case_id": "PBG-1",
            "trigger": "e1",
            "detected_at": ALERT_DETECTED_AT,
            "message": "m",
            **fields,
        },
    )


def intake_settings(**overrides: Any) -> IntakeSettings:
    """The intake's settings in the unit tests: the development API keys and a fixed pseudonym
    key, with `overrides`."""
    values: dict[str, Any] = {
        "api_keys": REPO_DIR / "deploy" / "dev-api-keys.yaml",
        "pseudonym_key": "unit-test-pseudonym-key-0123456789",
        **overrides,
    }
    return IntakeSettings(**values)


def numbered_event(
    case_id: str, service: str, step: str, at: datetime, n: int, **extra: Any
) -> Event:
    """Event number `n` (its `seq`, and the tail of its id) of `case_id` at the DPMPTSP."""
    return Event.model_validate(
        {
            "event_id": f"{case_id}:{n}",
            "agency": AGENCY,
            "service": service,
            "case_id": case_id,
            "step": step,
            "occurred_at": at.isoformat(),
            "seq": n,
            **extra,
        }
    )


def tracked_case(
    case_id: str, opened: datetime, current_step: str, steps: list[dict[str, Any]], **more: Any
) -> dict[str, Any]:
    """A PBG case of the DPMPTSP as the tracker publishes it on `pantau.cases`: open since
    `opened`, at `current_step` after `steps`, due 40 days after it opened and not late, with
    no step limit running; `more` adds or replaces fields."""
    return {
        "agency": AGENCY,
        "service": "pbg",
        "case_id": case_id,
        "status": "open",
        "current_step": current_step,
        "opened_at": format_rfc3339(opened),
        "closed_at": None,
        "steps": steps,
        "due_at": format_rfc3339(opened + timedelta(days=40)),
        "breached": False,
        "deadlines": [],
        **more,
    }


def fold_case(
    events: Iterable[Event],
    standard: CaseStandard,
    state: CaseState | None = None,
    *,
    received: timedelta = timedelta(seconds=2),
) -> tuple[CaseState, list[Alert]]:
    """The case after `events` (each handled `received` after it occurred), and every alert."""
    alerts: list[Alert] = []
    for item in events:
        outcome = handle_event(state, item, item.occurred_at + received, standard)
        assert outcome.state is not None
        state = outcome.state
        alerts.extend(outcome.alerts)
    assert state is not None
    return state, alerts


# --- the catalog ---------------------------------------------------------------------------------


def id_gov_calendar(*, days_off: bool = True) -> dict[str, Any]:
    """Indonesian office hours with the national holidays (and Christmas Eve 2026 off)."""
    calendar: dict[str, Any] = {
        "timezone": "Asia/Jakarta",
        "weekdays": ["mon", "tue", "wed", "thu", "fri"],
        "hours": {"mon-thu": "07:30-16:00", "fri": "07:30-16:30"},
        "holidays": "ID",
    }
    if days_off:
        calendar["days_off"] = ["2026-12-24"]
    return calendar


def always_calendar() -> dict[str, Any]:
    """A calendar without closing time: every hour of every day counts."""
    return {"timezone": "UTC", "weekdays": "all", "hours": "00:00-24:00"}


def dpmptsp(name: str = "DPMPTSP Kota Malang") -> dict[str, Any]:
    """The catalog entry of the agency, on the `id-gov` calendar."""
    return {"code": AGENCY, "name": name, "calendar": "id-gov"}


def pbg_service(**changes: Any) -> dict[str, Any]:
    """The contract's example PBG service (building approval), with `changes` applied (None
    deletes a field)."""
    service: dict[str, Any] = {
        "code": "pbg",
        "agency": AGENCY,
        "name": "Persetujuan Bangunan Gedung",
        "sla": "28 working_days",
        "fee": {"min": 100000, "max": 50000000},
        "steps": [
            {"code": "submitted", "start": True},
            {"code": "verified", "roles": ["verifier"], "sla": "3 working_days"},
            {"code": "fee_assessed", "roles": ["assessor"]},
            {"code": "paid", "payment": True},
            {"code": "approved", "roles": ["head"], "sla": "5 working_days"},
            {"code": "issued", "terminal": True},
            {"code": "rejected", "terminal": True, "reason_required": True},
            {"code": "clarification_requested", "clock": "stop", "reason_required": True},
            {"code": "clarification_received", "clock": "resume"},
        ],
        "next": {
            "submitted": ["verified", "rejected", "clarification_requested"],
            "verified": ["fee_assessed", "rejected", "clarification_requested"],
            "clarification_requested": ["clarification_received"],
            "clarification_received": ["verified"],
            "fee_assessed": ["paid"],
            "paid": ["approved", "rejected"],
            "approved": ["issued"],
        },
        "mandatory": ["verified", "paid", "approved"],
        "separate": [["verified", "approved"], ["fee_assessed", "paid"]],
    }
    return changed(service, changes)


def catalog_data(
    *services: dict[str, Any],
    calendars: dict[str, Any] | None = None,
    agencies: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A catalog of `services`, by default of the DPMPTSP alone on the `id-gov` calendar."""
    return {
        "calendars": {"id-gov": id_gov_calendar()} if calendars is None else calendars,
        "agencies": [dpmptsp()] if agencies is None else agencies,
        "services": list(services),
    }


def queue_jump_evidence() -> dict[str, Any]:
    """The evidence of a `queue.jump` at `verified`: three earlier cases overtaken at
    `submitted`, waiting since 2026-11-20T01:00:00Z, under the default thresholds."""
    return {
        "waited_at": "submitted",
        "waiting_since": "2026-11-20T01:00:00Z",
        "overtaken": 3,
        "overtaken_cases": [],
        "min_positions": 3,
        "min_wait": "2 working_days",
    }


# --- the sample catalog as two versions of the standards -------------------------------------

FIRST_PUBLISHED = datetime(2026, 1, 1, tzinfo=UTC)


def sample_versions(
    change: datetime,
    revise: Callable[[dict[str, Any]], None],
    *,
    second_published_at: datetime = FIRST_PUBLISHED,
) -> tuple[StandardVersion, StandardVersion]:
    """The sample catalog as version 1, published and valid from `FIRST_PUBLISHED`, and as
    version 2, valid from `change`, with `revise` applied to Kota Malang's PBG service."""
    _, documents = load_catalog_documents(SAMPLE_CATALOG)
    first = canonical_document(documents)
    second = copy.deepcopy(first)
    revise(next(s for s in second["services"] if s["code"] == "pbg" and s["agency"] == AGENCY))
    return (
        new_version(
            1, first, valid_from=FIRST_PUBLISHED, published_by="t", published_at=FIRST_PUBLISHED
        ),
        new_version(
            2, second, valid_from=change, published_by="t", published_at=second_published_at
        ),
    )


def shorter_pbg(pbg: dict[str, Any]) -> None:
    """PBG renamed, its limit shortened from 28 to 20 working days and the verification's from
    3 working days to 1 (a `revise` of `sample_versions`)."""
    pbg["sla"] = "20 working_days"
    pbg["name"] = "PBG (standar 2)"
    next(s for s in pbg["steps"] if s["code"] == "verified")["sla"] = "1 working_days"


class SentRecords:
    """Stands in for a Kafka producer: keeps every (key, value) sent, in order; while `down`,
    sending raises `failure` (an exception type) with `message`, as an unreachable broker does."""

    def __init__(self, failure: type[Exception], message: str) -> None:
        self.records: list[tuple[str, bytes]] = []
        self.down = False
        self._failure = failure
        self._message = message

    async def __call__(self, key: str, value: bytes) -> None:
        if self.down:
            raise self._failure(self._message)
        self.records.append((key, value))
