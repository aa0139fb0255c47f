"""Log mappings, and the WABO receipt log (CoSeLoG, J.C.A.M. Buijs, 4TU.ResearchData,
doi:10.4121/uuid:a07386a5-7be3-4367-9535-70bc9e77dbe6, CC BY 4.0) mapped onto its catalog."""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from pantau.core.catalog import load_catalog
from pantau.core.events import Event
from pantau.traffic.log_facts import deadline_facts
from pantau.traffic.mapping import LogMapping, MappingError, MappingReport

REPO = Path(__file__).resolve().parents[2]
WABO_CSV = REPO.parent / "shared" / "data" / "wabo-receipt.csv"
WABO = REPO / "deploy" / "replay" / "wabo"

SMALL = {
    "agency": "kota-malang.dpmptsp",
    "service": "nib",
    "case": "case",
    "event_id": "{agency}:{case}:{task}",
    "time": {"column": "when", "timezone": "Asia/Jakarta"},
    "step": {"column": "activity", "values": {"Daftar": "submitted", "Bantu": "assisted"}},
    "officer": {"id": "who", "role": {"column": "group", "slug": True}},
    "attributes": {"due_at": {"column": "due", "time": True}},
    "case_end": {"column": "end", "step": "issued", "event_id": "{agency}:{case}:end"},
}


def _rows() -> list[dict[str, str]]:
    common = {"group": "Front Office", "due": "2026-11-30 16:00:00", "end": ""}
    return [
        {**common, "case": "A", "task": "t2", "activity": "Bantu", "when": "2026-11-27 10:00:00",
         "who": "198702142010011003", "end": "2026-11-27 11:00:00+07:00"},
        {**common, "case": "A", "task": "t1", "activity": "Daftar", "when": "2026-11-27 09:00:00",
         "who": "198702142010011003", "end": "2026-11-27 11:00:00+07:00"},
        {**common, "case": "B", "task": "t3", "activity": "Daftar", "when": "2026-11-27 08:00:00",
         "who": ""},
    ]  # fmt: skip


def test_a_mapping_orders_numbers_and_closes_each_case() -> None:
    """Rows become events in time order per case, seq 1..n, plus a closing event at the end date."""
    events, report = LogMapping.parse(SMALL, "small").events(_rows())
    by_case: dict[str, list[Event]] = {}
    for event in events:
        by_case.setdefault(event.case_id, []).append(event)
    assert [e.step for e in by_case["A"]] == ["submitted", "assisted", "issued"]
    assert [e.seq for e in by_case["A"]] == [1, 2, 3]
    assert by_case["A"][0].event_id == "kota-malang.dpmptsp:A:t1"
    assert by_case["A"][2].event_id == "kota-malang.dpmptsp:A:end"
    assert by_case["A"][0].occurred_at.isoformat() == "2026-11-27T09:00:00+07:00"
    assert by_case["A"][1].officer is not None
    assert by_case["A"][1].officer.role == "front-office"
    assert by_case["A"][0].attributes["due_at"] == "2026-11-30T16:00:00.000000+07:00"
    assert by_case["B"][0].officer is None
    assert events[0].case_id == "B"  # cases in the order they began
    assert report == MappingReport(rows=3, mapped_rows=3, closing_events=1, cases=2)


def test_an_unmapped_activity_stops_or_is_counted_as_dropped() -> None:
    """An activity without a step code is an error, or with unmapped_steps: drop, a counted drop."""
    rows = [*_rows(), {**_rows()[2], "activity": "Arsip", "task": "t9"}]
    with pytest.raises(MappingError, match=r"^small\.csv: line 5: step: activity 'Arsip' has no"):
        LogMapping.parse(SMALL, "small").events(rows, log_name="small.csv")
    events, report = LogMapping.parse({**SMALL, "unmapped_steps": "drop"}, "small").events(rows)
    assert len(events) == 4
    assert report.dropped == Counter({"step not mapped: Arsip": 1})


def test_a_mapping_with_an_unknown_key_is_refused() -> None:
    """A misspelt key is reported instead of silently ignored."""
    with pytest.raises(MappingError, match=r"unknown keys \['agncy'\]; allowed: .*agency"):
        LogMapping.parse({**SMALL, "agncy": "x"}, "small")
    with pytest.raises(MappingError, match=r"step: unknown keys \['colum'\]; allowed: .*column"):
        LogMapping.parse({**SMALL, "step": {"colum": "activity"}}, "small")


@pytest.fixture(scope="module")
def wabo() -> tuple[list[Event], MappingReport]:
    mapping = LogMapping.load(WABO / "mapping.yaml")
    with WABO_CSV.open(encoding="utf-8", newline="") as handle:
        return mapping.events(csv.DictReader(handle))


def test_every_wabo_row_becomes_an_event_of_its_catalog(
    wabo: tuple[list[Event], MappingReport],
) -> None:
    """All 8,577 rows map (none dropped), 1,329 cases get a closing event, all steps are known."""
    events, report = wabo
    assert report.rows == report.mapped_rows == 8577
    assert report.dropped == Counter()
    assert report.cases == 1434
    assert report.closing_events == 1329
    assert len(events) == len({e.event_id for e in events}) == 8577 + 1329
    catalog = load_catalog(WABO / "catalog.yaml")
    service = catalog.service("coselog.wabo", "receipt")
    assert service is not None
    assert {e.step for e in events} <= {s.code for s in service.steps}
    assert all(e.mode == "backfill" for e in events)


def test_each_wabo_case_runs_in_time_order_with_its_end_where_the_log_puts_it(
    wabo: tuple[list[Event], MappingReport],
) -> None:
    """Seq follows occurred_at; a case begins with its receipt unless its end date is earlier."""
    cases: dict[str, list[Event]] = {}
    for event in wabo[0]:
        cases.setdefault(event.case_id, []).append(event)
    ends_first = 0
    for events in cases.values():
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert all(a.occurred_at <= b.occurred_at for a, b in itertools.pairwise(events))
        receipts = [e for e in events if e.step == "confirmation_of_receipt"]
        assert len(receipts) == 1
        if events[0].step == "closed":
            ends_first += 1
            assert events[0].occurred_at <= receipts[0].occurred_at
        else:
            assert events[0] is receipts[0]
    # The log records, for 117 cases, an end date before the case's receipt (mostly a second
    # before it): replayed as it is, they are closed at that end date, and the later events are
    # reported by the tracker as arriving after the end.
    assert ends_first == 117


def test_closed_after_deadline_matches_the_csv(wabo: tuple[list[Event], MappingReport]) -> None:
    """Closing events past the carried due_at count exactly the CSV's cases closed past deadline."""
    facts = deadline_facts(WABO_CSV)
    assert (facts.rows, facts.cases, facts.closed) == (8577, 1434, 1329)
    closing = [e for e in wabo[0] if e.step == "closed"]
    late = [
        e for e in closing if e.occurred_at > datetime.fromisoformat(str(e.attributes["due_at"]))
    ]
    assert len(late) == facts.closed_after_deadline == 377
    # Stored at whole seconds (as ClickHouse DateTime does), two cases closed 20 ms after a
    # midnight deadline are no longer after it.
    assert facts.closed_after_deadline_by_second == 375
    assert facts.boundary_cases == ("case-5877", "case-6993")


def test_an_empty_placeholder_in_a_template_is_refused() -> None:
    """`{}` would stay literal in every event_id, so the mapping names the template instead."""
    with pytest.raises(MappingError, match=r"small: event_id '\{case\}:\{\}'"):
        LogMapping.parse({**SMALL, "event_id": "{case}:{}"}, "small")
    end = {"column": "end", "step": "issued", "event_id": "{case}:end}"}
    with pytest.raises(MappingError, match=r"small: case_end.event_id"):
        LogMapping.parse({**SMALL, "case_end": end}, "small")


def test_the_line_placeholder_numbers_rows_of_a_log_without_an_id_column() -> None:
    """`{line}` is the row's line in the file (the header is line 1), so ids stay unique."""
    mapping = LogMapping.parse({**SMALL, "event_id": "{case}:{line}"}, "small")
    events, _ = mapping.events(_rows())
    by_line = {event.event_id for event in events if event.step != "issued"}
    assert {"A:2", "A:3", "B:4"} <= by_line
    assert len({event.event_id for event in events}) == len(events)


def test_payments_and_officers_are_mapped() -> None:
    """`payment` takes the amount (to cents) and a receipt from columns; `officer` the id and a
    role (here a constant); a row without an amount has no payment."""
    spec = {
        **SMALL,
        "officer": {"id": "who", "role": {"constant": "front_office"}},
        "payment": {"amount": "paid", "receipt": {"column": "kw", "default": None}},
    }
    rows = [
        {**row, "paid": paid, "kw": kw}
        for row, paid, kw in zip(_rows(), ["", "36.5", "1250000"], ["", "", "KW-9"], strict=True)
    ]
    events, _ = LogMapping.parse(spec, "small").events(rows)
    by_id = {e.event_id: e for e in events}
    submitted_a = by_id["kota-malang.dpmptsp:A:t1"]
    assert submitted_a.payment is not None
    assert (str(submitted_a.payment.amount), submitted_a.payment.receipt) == ("36.50", None)
    assert submitted_a.officer is not None
    assert (submitted_a.officer.id, submitted_a.officer.role) == (
        "198702142010011003",
        "front_office",
    )
    b = by_id["kota-malang.dpmptsp:B:t3"]
    assert b.payment is not None
    assert (str(b.payment.amount), b.payment.receipt) == ("1250000.00", "KW-9")
    assert b.officer is None
    assert by_id["kota-malang.dpmptsp:A:t2"].payment is None
    assert by_id["kota-malang.dpmptsp:A:end"].payment is None  # a closing event pays nothing


@pytest.mark.parametrize(
    ("section", "spec", "message"),
    [
        ("payment", {"amout": "x"}, r"payment: unknown keys \['amout'\]; allowed: amount, "),
        ("payment", {"receipt": "kw"}, r"payment needs an amount"),
        ("officer", {"rol": "x"}, r"officer: unknown keys \['rol'\]; allowed: id, role$"),
        ("case_end", {"column": "end", "step": "issued"}, r"case_end needs event_id"),
        ("payment", "paid", r"payment must be a mapping of amount, receipt"),
    ],
)  # fmt: skip
def test_a_misspelt_section_key_lists_the_allowed_keys(
    section: str, spec: object, message: str
) -> None:
    with pytest.raises(MappingError, match="^small: " + message):
        LogMapping.parse({**SMALL, section: spec}, "small")


def test_an_unknown_top_level_key_lists_every_allowed_key() -> None:
    with pytest.raises(MappingError) as caught:
        LogMapping.parse({**SMALL, "payments": {"amount": "paid"}}, "small")
    assert str(caught.value) == (
        "small: unknown keys ['payments']; allowed: agency, attributes, case, case_end, channel, "
        "event_id, format, mode, officer, payment, reason, service, step, time, unmapped_steps"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"when": "27/11/2026"}, "time (when): not an ISO 8601 time: '27/11/2026'"),
        ({"due": "soon"}, "attributes.due_at (due): not an ISO 8601 time: 'soon'"),
        ({"paid": "12,50"}, "payment.amount (paid): '12,50' is not an amount"),
        ({"who": "Budi Santoso"}, "officer.id 'Budi Santoso': must be 1-64 characters"),
        ({"paid": "0.125"}, "payment.amount (paid): '0.125' is not an amount"),
    ],
)  # fmt: skip
def test_a_row_that_cannot_be_mapped_names_the_log_the_line_and_the_value(
    change: dict[str, str], message: str
) -> None:
    spec = {**SMALL, "payment": {"amount": "paid"}}
    rows = [{**row, "paid": ""} for row in _rows()]
    rows[1] = {**rows[1], **change}
    with pytest.raises(MappingError) as caught:
        LogMapping.parse(spec, "small").events(rows, log_name="small.csv")
    assert str(caught.value).startswith("small.csv: line 3: " + message)


def test_a_template_naming_no_column_names_the_line_and_the_columns() -> None:
    mapping = LogMapping.parse({**SMALL, "event_id": "{case}:{tsak}"}, "small")
    with pytest.raises(MappingError) as caught:
        mapping.events(_rows(), log_name="small.csv")
    assert str(caught.value).startswith(
        "small.csv: line 2: event_id: '{case}:{tsak}' names {tsak}, which is no column of the "
        "log nor a placeholder (agency, service, case, line); columns: activity, case, due,"
    )


def test_time_order_interleaves_cases_and_case_order_keeps_them_apart() -> None:
    """Time order is the whole log by occurred_at; case order is case after case, by each case's
    first event. Both keep each case's own order and seq."""
    rows = [
        {"case": "A", "task": "a1", "activity": "Daftar", "when": "2026-11-02 09:00:00"},
        {"case": "A", "task": "a2", "activity": "Bantu", "when": "2026-11-04 09:00:00"},
        {"case": "B", "task": "b1", "activity": "Daftar", "when": "2026-11-03 09:00:00"},
        {"case": "B", "task": "b2", "activity": "Bantu", "when": "2026-11-04 09:00:00"},
        {"case": "C", "task": "c1", "activity": "Daftar", "when": "2026-11-04 09:00:00"},
    ]
    spec = {k: v for k, v in SMALL.items() if k not in ("case_end", "attributes", "officer")}
    mapping = LogMapping.parse(spec, "small")
    by_time, _ = mapping.events(rows)
    by_case, _ = mapping.events(rows, order="case")
    assert [e.event_id.rsplit(":", 1)[1] for e in by_time] == ["a1", "b1", "a2", "b2", "c1"]
    assert [e.event_id.rsplit(":", 1)[1] for e in by_case] == ["a1", "a2", "b1", "b2", "c1"]
    assert [e.seq for e in by_time] == [1, 1, 2, 2, 1]
    times = [e.occurred_at for e in by_time]
    assert times == sorted(times)
    with pytest.raises(MappingError, match="order must be one of time, case"):
        mapping.events(rows, order="random")


def test_a_mapped_log_is_held_as_json() -> None:
    """What a replay holds until it sends: each event's JSON, not the event object (a fifth of
    the memory): under 1.2 KB an event of the WABO log, 2 KB at the peak while mapping (its
    first 3,000 rows)."""
    import gc
    import tracemalloc

    mapping = LogMapping.load(WABO / "mapping.yaml")
    with WABO_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(itertools.islice(csv.DictReader(handle), 3000))
    gc.collect()
    tracemalloc.start()
    try:
        records, _ = mapping.event_records(rows)
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(records) > 3000  # the rows and their cases' closing events
    assert all(isinstance(record, bytes) for record in records)
    assert held / len(records) < 1200
    assert peak / len(records) < 2000
