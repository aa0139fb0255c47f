"""Every example in docs/catalog.md is executed: the catalog loads, each deadline of the table is
what the working calendar computes, and the example case raises the alerts the page lists."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from pantau.catalog_check import catalog_warnings
from pantau.core.alerts import Alert
from pantau.core.catalog import Catalog, CatalogError, parse_catalog
from pantau.core.durations import parse_duration
from pantau.core.events import Event
from pantau.core.working_time import ClockStop, WorkingCalendar
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.standards import Standards, TrackerPolicy
from pantau_tracker.domain.tracking import check_deadlines, handle_event

DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"
TEXT = DOC.read_text(encoding="utf-8")
AGENCY = "kota-contoh.dpmptsp"


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", TEXT, re.S)


def _catalog() -> Catalog:
    return parse_catalog(yaml.safe_load(_yaml_blocks()[0]), str(DOC))


def _table(header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with `header`."""
    start = TEXT.index(header)
    rows = []
    for line in TEXT[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_example_catalog_loads_and_warns_about_nothing() -> None:
    catalog = _catalog()
    assert sorted(code for _, code in catalog.services) == ["pbg", "surat-keterangan"]
    assert catalog_warnings(catalog) == []


def test_the_error_example_is_what_a_misspelt_step_gives() -> None:
    (shown,) = re.findall(r"^catalog/kota-malang\.yaml: (.*)$", TEXT, re.M)
    document = yaml.safe_load(_yaml_blocks()[0])
    document["agencies"][0]["code"] = "kota-malang.dpmptsp"
    pbg = document["services"][0]
    pbg["agency"] = "kota-malang.dpmptsp"
    pbg["next"]["verified"] = [
        "verifed" if s == "fee_assessed" else s for s in pbg["next"]["verified"]
    ]
    document["services"] = [pbg]
    with pytest.raises(CatalogError) as caught:
        parse_catalog(document, "catalog/kota-malang.yaml")
    expected = shown.split("...")[0]
    assert str(caught.value).startswith(f"catalog/kota-malang.yaml: {expected}")


@pytest.mark.parametrize(
    "row", _table("| calendar | clock starts |"), ids=lambda r: " ".join(r[:3])
)
def test_each_deadline_of_the_table(row: list[str]) -> None:
    calendar_id, start, limit, deadline, _why = row
    calendar = WorkingCalendar(_catalog().calendars[calendar_id])
    started = datetime.fromisoformat(start.split(" ")[0])
    due = calendar.deadline(started, parse_duration(limit))
    assert due is not None
    assert due == datetime.fromisoformat(deadline)
    assert due.utcoffset() == datetime.fromisoformat(deadline).utcoffset()  # the local time


def test_the_clock_stop_example() -> None:
    sentence = re.search(r"With a clock stop \(id-gov\): (.*?)\n\n", TEXT, re.S)
    assert sentence is not None
    times = re.findall(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}\+07:00", sentence.group(1))
    start, due = (datetime.fromisoformat(t) for t in times)
    calendar = WorkingCalendar(_catalog().calendars["id-gov"])
    stop = ClockStop(
        datetime.fromisoformat("2026-11-03T10:00+07:00"),
        datetime.fromisoformat("2026-11-05T10:00+07:00"),
    )
    assert calendar.deadline(start, parse_duration("3 working_days")) == datetime.fromisoformat(
        "2026-11-05T10:00+07:00"
    )
    assert calendar.deadline(start, parse_duration("3 working_days"), [stop]) == due


def _event(number: int, at: str, step: str) -> Event:
    document: dict[str, Any] = {
        "event_id": f"{AGENCY}:PBG-1:{number}",
        "agency": AGENCY,
        "service": "pbg",
        "case_id": "PBG-1",
        "step": step,
        "occurred_at": datetime.fromisoformat(at).isoformat(),
        "seq": number,
    }
    roles = {
        "verified": "verifier",
        "fee_assessed": "assessor",
        "clarification_requested": "verifier",
    }
    if step in roles:
        document["officer"] = {"id": f"O{number}", "role": roles[step]}
    if step == "clarification_requested":
        document["reason"] = "gambar belum lengkap"
    return Event.model_validate_json(json.dumps(document))


def _described(alert: Alert) -> str:
    evidence = alert.evidence
    due = datetime.fromisoformat(str(evidence["due_at"]).replace("Z", "+00:00"))
    local = due.astimezone(datetime.fromisoformat("2026-11-01T00:00+07:00").tzinfo).isoformat()
    return f"{evidence['awaited_step']} after {evidence['after_step']}, due {local[:16]}+07:00"


def test_the_example_case_raises_what_the_page_says() -> None:
    """The events of the example through the tracker's core: the alerts of each row."""
    standard = Standards(_catalog(), TrackerPolicy()).for_case(AGENCY, "pbg")
    assert standard is not None
    state: CaseState | None = None
    for number, at, step, expected in _table("| event | occurred_at |"):
        if number == "timer":
            assert state is not None
            alerts = check_deadlines(state, datetime.fromisoformat(at), standard).alerts
        else:
            event = _event(int(number), at, step)
            outcome = handle_event(state, event, event.occurred_at, standard)
            state, alerts = outcome.state, outcome.alerts
        raised = [_described(a) for a in alerts if a.rule == "sla.step_overdue"]
        assert raised == ([expected] if expected else []), (number, [a.rule for a in alerts])


def test_the_named_start_example_loads_and_counts_from_its_step() -> None:
    """The `from` example, as the step of a service: kept in the standard, not warned about,
    and counted by the tracker from the fine's creation."""
    (step,) = yaml.safe_load(_yaml_blocks()[1])
    document = yaml.safe_load(_yaml_blocks()[0])
    document["services"] = [
        {
            "code": "fine",
            "agency": AGENCY,
            "name": "Fine",
            "fee": 0,
            "steps": [
                {"code": "create_fine", "start": True},
                step,
                {"code": "paid", "terminal": True},
            ],
        }
    ]
    catalog = parse_catalog(document, str(DOC))
    service = catalog.service(AGENCY, "fine")
    assert service is not None
    send = service.step("send_fine")
    assert send is not None
    assert (str(send.sla), send.sla_from) == ("90 days", "create_fine")
    assert not any("send_fine" in w for w in catalog_warnings(catalog))
    standard = Standards(catalog, TrackerPolicy()).for_case(AGENCY, "fine")
    assert standard is not None
    created = Event.model_validate(
        {
            "event_id": f"{AGENCY}:F-1:1",
            "agency": AGENCY,
            "service": "fine",
            "case_id": "F-1",
            "step": "create_fine",
            "occurred_at": "2026-11-02T09:00:00+07:00",
        }
    )
    state = handle_event(None, created, created.occurred_at, standard).state
    assert state is not None
    [wait] = state.awaiting
    assert (wait.step, wait.anchor_step) == ("send_fine", "create_fine")
