"""A small, known history of seven cases in three agencies, built with the sink's own row code.

Written so that each auditor question has one clear answer: a clean case, a separation-of-duty
breach, an under-tariff and an on-free-service payment, a skipped mandatory step, late steps, a
breached case, a backdated record, a rejection in October, and duplicate rows (a retried insert,
an alert published twice, older case-state versions) that the views must show once. Two versions
of the service standards are published (version 1 delivered twice); PBG-1 is judged by version 2,
the other cases by no published version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pantau.core.alerts import make_alert
from pantau.core.catalog import load_catalog, load_catalog_documents
from pantau.core.events import Event, canonical_bytes, event_key
from pantau.core.standards import canonical_document, new_version
from pantau.history.chain import ChainHead
from pantau.history.records import (
    ALERT_ACTION_COLUMNS,
    ALERT_COLUMNS,
    CASE_STATE_COLUMNS,
    ERASURE_COLUMNS,
    EVENT_COLUMNS,
    SERVICE_STANDARD_COLUMNS,
    SERVICE_STEP_COLUMNS,
    STANDARD_VERSION_COLUMNS,
    AcceptedEvent,
    TakenVersion,
    alert_action_row,
    alert_row,
    case_state_row,
    event_row,
    receipt_bytes,
    seconds,
    standard_rows,
    taken_version,
)
from pantau.settings import SAMPLE_CATALOG

KM, DK, SL = "kota-malang.dpmptsp", "kota-malang.disdukcapil", "kab-sleman.dpmptsp"
PAY_KW1 = {"payment": {"amount": "150000.00", "receipt": "KW-1"}}
PAY_KW2 = {"payment": {"amount": "60000.00", "receipt": "KW-2"}}
STORED_AT = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)

# (agency, service, case_id, channel, [(step, local time, officer, role, extra)])
CASES: list[tuple[str, str, str, str, list[tuple[str, str, str, str, dict[str, Any]]]]] = [
    (KM, "pbg", "PBG-1", "counter", [
        ("submitted", "2026-11-02T09:00", "", "", {}),
        ("verified", "2026-11-03T10:00", "V1", "verifier", {}),
        ("fee_assessed", "2026-11-04T10:00", "A1", "assessor", {}),
        ("paid", "2026-11-04T14:00", "", "", PAY_KW1),
        ("approved", "2026-11-06T11:00", "H1", "head", {}),
        ("issued", "2026-11-09T09:00", "", "", {}),
    ]),
    (KM, "pbg", "PBG-2", "online", [
        ("submitted", "2026-11-03T08:00", "", "", {}),
        ("verified", "2026-11-04T09:00", "O7", "verifier", {}),
        ("fee_assessed", "2026-11-05T09:00", "A1", "assessor", {}),
        ("paid", "2026-11-05T13:00", "", "", PAY_KW2),
        ("approved", "2026-11-20T10:00", "O7", "head", {}),
        ("issued", "2026-11-25T10:00", "", "", {}),
    ]),
    (KM, "pbg", "PBG-3", "online", [
        ("submitted", "2026-11-20T09:00", "", "", {}),
        ("verified", "2026-11-27T09:00", "V1", "verifier", {}),
    ]),
    (KM, "slf", "SLF-1", "counter", [
        ("submitted", "2026-11-04T09:00", "", "", {}),
        ("verified", "2026-11-05T09:00", "V1", "verifier", {}),
        ("approved", "2026-11-06T09:00", "H1", "head", {}),
        ("issued", "2026-11-06T15:00", "", "", {}),
    ]),
    (DK, "ktp-el", "KTP-1", "counter", [
        ("submitted", "2026-11-02T08:00", "", "", {}),
        ("verified", "2026-11-02T09:00", "OP1", "operator", {"payment": {"amount": "50000"}}),
        ("biometrics_recorded", "2026-11-02T09:30", "OP1", "operator", {}),
        ("printed", "2026-11-03T10:00", "PR1", "printing_officer", {}),
        ("handed_over", "2026-11-03T14:00", "FO1", "front_office", {}),
    ]),
    (DK, "ktp-el", "KTP-2", "online", [
        ("submitted", "2026-10-28T08:00", "", "", {}),
        ("rejected", "2026-10-29T09:00", "OP1", "operator", {"reason": "dokumen tidak lengkap"}),
    ]),
    (SL, "reklame-insidentil", "R-1", "counter", [
        ("submitted", "2026-11-02T09:00", "", "", {}),
        ("verified", "2026-11-02T13:00", "S9", "verifier", {}),
        ("site_surveyed", "2026-11-03T10:00", "F1", "field_team", {}),
        ("billed", "2026-11-03T11:00", "C1", "cashier", {}),
        ("paid", "2026-11-04T09:00", "", "", {"payment": {"amount": "150000", "receipt": "SK-1"}}),
        ("approved", "2026-11-12T10:00", "S9", "head", {}),
        ("issued", "2026-11-12T11:00", "", "", {}),
    ]),
]  # fmt: skip

# Records received three days after they happened (live mode): evidence of backdating.
LATE = {("R-1", "approved"): timedelta(days=3)}

# (case_id, closed local time or None, breached, due_at UTC)
STATES = {
    "PBG-1": ("2026-11-09T09:00", False, "2026-12-11T09:00:00Z"),
    "PBG-2": ("2026-11-25T10:00", False, "2026-12-12T08:00:00Z"),
    "PBG-3": (None, False, "2026-11-26T09:00:00Z"),
    "SLF-1": ("2026-11-06T15:00", False, "2026-11-18T09:00:00Z"),
    "KTP-1": ("2026-11-03T14:00", False, "2026-11-05T08:00:00Z"),
    "KTP-2": ("2026-10-29T09:00", False, "2026-10-31T08:00:00Z"),
    "R-1": ("2026-11-12T11:00", True, "2026-11-05T09:00:00Z"),
}

# (rule, case_id, step, officer, detected UTC, trigger)
ALERTS = [
    ("duty.same_officer", "PBG-2", "approved", "O7", "2026-11-20T03:01:00Z"),
    ("fee.mismatch", "PBG-2", "paid", "", "2026-11-05T06:01:00Z"),
    ("sla.step_overdue", "PBG-2", "approved", "", "2026-11-12T09:00:00Z"),
    ("sla.step_overdue", "PBG-3", "verified", "", "2026-11-25T09:00:00Z"),
    ("process.skipped_step", "SLF-1", "issued", "", "2026-11-06T08:01:00Z"),
    ("fee.mismatch", "KTP-1", "verified", "OP1", "2026-11-02T02:01:00Z"),
    ("duty.same_officer", "R-1", "approved", "S9", "2026-11-15T03:00:00Z"),
    ("sla.case_overdue", "R-1", "", "", "2026-11-05T09:00:00Z"),
    ("time.backdated", "R-1", "approved", "S9", "2026-11-15T03:00:00Z"),
]

# The wait each sla.step_overdue alert is about, as the tracker writes it: the event the wait ran
# from (the alert's first event id and part of its trigger); its deadline is the detection time.
WAITED_FROM = {("PBG-2", "approved"): f"{KM}:PBG-2:4", ("PBG-3", "verified"): f"{KM}:PBG-3:1"}

# (alert index, action, actor, at UTC)
ACTIONS = [
    (0, "acknowledge", "inspektorat.rina", "2026-11-20T05:00:00Z"),
    (0, "resolve", "inspektorat.rina", "2026-11-21T02:00:00Z"),
    (5, "acknowledge", "ombudsman.budi", "2026-11-02T05:01:00Z"),
]


def _utc(local: str) -> datetime:
    return datetime.fromisoformat(local + "+07:00").astimezone(UTC)


def _agency_service(case_id: str) -> tuple[str, str]:
    return next((a, s) for a, s, c, _, _ in CASES if c == case_id)


def events() -> list[Event]:
    """Every event of the known history, case by case, in order."""
    out = []
    for agency, service, case_id, channel, steps in CASES:
        for seq, (step, local, officer, role, extra) in enumerate(steps, start=1):
            document: dict[str, Any] = {
                "event_id": f"{agency}:{case_id}:{seq}",
                "agency": agency,
                "service": service,
                "case_id": case_id,
                "step": step,
                "occurred_at": local + ":00+07:00",
                "seq": seq,
                "channel": channel,
                **extra,
            }
            if officer:
                document["officer"] = {"id": officer, "role": role}
            out.append(Event.model_validate_json(json.dumps(document)))
    return out


def chained_rows(
    events: Sequence[Event], received: Callable[[Event], datetime], stored_at: datetime
) -> list[tuple[Any, ...]]:
    """The `events` rows the sink writes for `events` read in this order from partition 0,
    each received at `received(event)`, every case's events chained."""
    heads: dict[tuple[str, str], ChainHead] = {}
    rows = []
    for offset, event in enumerate(events):
        case = (event.agency, event.case_id)
        accepted = AcceptedEvent(event, canonical_bytes(event), received(event), 0, offset)
        extended = heads.get(case, ChainHead.empty()).extended(
            event.event_id, accepted.canonical, receipt_bytes(accepted)
        )
        assert extended is not None
        heads[case], link = extended
        rows.append(event_row(accepted, link, stored_at))
    return rows


def event_rows() -> list[tuple[Any, ...]]:
    """The `events` rows as the sink writes them, with one row stored twice (a retry)."""

    def received(event: Event) -> datetime:
        late = LATE.get((event.case_id, event.step), timedelta(seconds=5))
        return event.occurred_at.astimezone(UTC) + late

    known = events()
    rows = []
    for event, row in zip(known, chained_rows(known, received, STORED_AT), strict=True):
        rows.append(row)
        if (event.case_id, event.step) == ("PBG-1", "paid"):
            rows.append(row)
    return rows


def alert_rows() -> list[tuple[Any, ...]]:
    """The `alerts` rows, the first alert stored twice (published again after a restart)."""
    rows = []
    for rule, case_id, step, officer, detected in ALERTS:
        agency, service = _agency_service(case_id)
        anchor = WAITED_FROM.get((case_id, step))
        at = datetime.fromisoformat(detected)
        alert = make_alert(
            rule,
            agency=agency,
            service=service,
            case_id=case_id,
            trigger=f"{case_id}:{step}" if anchor is None else f"{anchor}:{step}",
            detected_at=at,
            message=f"{rule} on {case_id}",
            step=step or None,
            officer_id=officer or None,
            occurred_at=None if anchor is None else at,
            event_ids=() if anchor is None else [anchor],
        )
        row = alert_row(alert.to_json_bytes(), STORED_AT)
        assert row is not None, "a known alert is a valid alert"
        rows.append(row)
    return [rows[0], *rows]


def alert_ids() -> list[str]:
    return [str(row[0]) for row in alert_rows()[1:]]


def action_rows() -> list[tuple[Any, ...]]:
    """The `alert_actions` rows as the alerts service publishes them; one stored twice."""
    ids = alert_ids()
    rows = []
    for number, (index, action, actor, at) in enumerate(ACTIONS, start=1):
        record = {
            "action_id": f"act-{number}",
            "alert_id": ids[index],
            "action": action,
            "actor": actor,
            "note": None,
            "at": at,
        }
        row = alert_action_row(json.dumps(record).encode(), ids[index].encode(), 0, STORED_AT)
        assert row is not None
        rows.append(row)
    return [*rows, rows[0]]


def case_state_rows() -> list[tuple[Any, ...]]:
    """The `case_states` rows: each case first open (version 1), then its latest state."""
    rows = []
    for agency, service, case_id, _, steps in CASES:
        closed, breached, due = STATES[case_id]
        opened = steps[0][1] + ":00+07:00"
        first = {
            "agency": agency,
            "service": service,
            "case_id": case_id,
            "status": "open",
            "current_step": steps[0][0],
            "opened_at": opened,
            "closed_at": None,
            "due_at": due,
            "breached": False,
            "version": 1,
        }
        if case_id == JUDGED_BY_VERSION_2:
            first["standard_version"] = 2
        latest = {
            **first,
            "status": "closed" if closed else "open",
            "current_step": steps[-1][0],
            "closed_at": closed + ":00+07:00" if closed else None,
            "breached": breached,
            "version": len(steps),
        }
        key = event_key(agency, case_id)
        for document in (first, latest):
            # Compact, as the tracker publishes it (orjson).
            compact = json.dumps(document, separators=(",", ":")).encode()
            row = case_state_row(compact, key, 1_790_000_000_000, 0, STORED_AT)
            assert row is not None
            rows.append(row)
    return rows


JUDGED_BY_VERSION_2 = "PBG-1"


def standard_versions() -> list[TakenVersion]:
    """The sample catalog as version 1 (stored twice, as after a retried insert) and, with
    PBG's limit shortened, as version 2: each with its services and steps, as the sink stores
    them."""
    _catalog, documents = load_catalog_documents(SAMPLE_CATALOG)
    first = canonical_document(documents)
    second = json.loads(json.dumps(first))
    pbg = next(s for s in second["services"] if s["code"] == "pbg" and s["agency"] == KM)
    pbg["sla"] = "20 working_days"
    rows = []
    for number, document, by in ((1, first, "bootstrap"), (2, second, "dinas")):
        published = datetime(2026, 10, number, tzinfo=UTC)
        version = new_version(
            number, document, valid_from=published, published_by=by, published_at=published
        )
        taken = taken_version(version.to_record(), STORED_AT)
        assert taken is not None
        rows.append(taken)
    return [*rows, rows[0]]


def standard_version_rows() -> list[tuple[Any, ...]]:
    """The `standards` rows of `standard_versions`."""
    return [taken.row for taken in standard_versions()]


def erasure_rows() -> list[tuple[Any, ...]]:
    """One applicant's erasure, recorded twice (the command run again), naming a data key no
    stored event uses: `v_erasures` shows it once and `v_personal_data` marks nothing erased."""
    erased_at = datetime(2026, 11, 20, 3, 0)
    row = (
        "erasure-1",
        erased_at,
        "dpo@kota-malang",
        "applicant's request under UU PDP",
        "applicant",
        "a1:" + "0" * 64,
        ["dk-never-used"],
    )
    stored = seconds(STORED_AT)
    return [(*row, stored), (*row, stored + timedelta(seconds=1))]


def load(engine: Any) -> None:
    """Insert the whole known history (and the sample catalog's standards) into an engine."""
    services, steps = standard_rows(load_catalog(SAMPLE_CATALOG), STORED_AT)
    engine.insert("service_standards", SERVICE_STANDARD_COLUMNS, services)
    engine.insert("service_steps", SERVICE_STEP_COLUMNS, steps)
    engine.insert("events", EVENT_COLUMNS, event_rows())
    engine.insert("alerts", ALERT_COLUMNS, alert_rows())
    engine.insert("alert_actions", ALERT_ACTION_COLUMNS, action_rows())
    engine.insert("case_states", CASE_STATE_COLUMNS, case_state_rows())
    engine.insert("standards", STANDARD_VERSION_COLUMNS, standard_version_rows())
    engine.insert("erasures", ERASURE_COLUMNS, erasure_rows())
    for taken in standard_versions():
        engine.insert("service_standards", SERVICE_STANDARD_COLUMNS, taken.services)
        engine.insert("service_steps", SERVICE_STEP_COLUMNS, taken.steps)
