"""The XES reader (IEEE 1849) on XES files written by pm4py's exporter from the CSV logs in
../shared/data (see tests/xes_logs.py for how): a log's CSV and XES forms map to the same events,
declarations are not data, nested attributes stay with their parent, values keep their type,
and reading is streamed."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import tracemalloc
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest

from pantau.traffic.log_facts import deadline_facts
from pantau.traffic.mapping import LogMapping
from pantau.traffic.xes import XesReader, typed_value
from xes_logs import csv_rows, event_log, write_xes

REPO = Path(__file__).resolve().parents[2]
WABO_CSV = REPO.parent / "shared" / "data" / "wabo-receipt.csv"
WABO_MAPPING = REPO / "deploy" / "replay" / "wabo" / "mapping.yaml"
WABO_DATES: tuple[str, ...] = (
    "time:timestamp",
    "case:deadline",
    "case:enddate",
    "case:enddate_planned",
)
WABO_DATES += ("case:startdate",)
NESTED = {
    # an attribute with nested ones, one of them named like the event's own activity
    "note": {"value": "checked", "children": {"concept:name": "NOT THE ACTIVITY", "weight": 2}},
    # a list, as pm4py writes one (OpenXES's <list><values>...</values></list>)
    "documents": {"value": None, "children": [("doc", "KTP"), ("doc", 3), ("doc", True)]},
    "urgent": False,
    "pages": 7,
    "fee": 12.5,
}


@pytest.fixture(scope="module")
def wabo_xes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole WABO log as XES (1,434 traces, 8,577 events), with nested attributes on its
    first event and on every trace."""
    log = event_log(
        csv_rows(WABO_CSV),
        dates=WABO_DATES,
        extra={0: NESTED},
        trace_extra={"meta": {"value": "imported", "children": {"concept:name": "NOT THE CASE"}}},
    )
    return write_xes(log, tmp_path_factory.mktemp("xes") / "wabo-receipt.xes")


def test_the_wabo_xes_maps_to_the_same_events_as_its_csv(wabo_xes: Path) -> None:
    """One mapping, both forms of the log, the same events byte for byte; and the WABO fact
    (377 cases closed after their own deadline) holds from the XES form."""
    mapping = LogMapping.load(WABO_MAPPING)
    assert mapping.format_of(wabo_xes) == "xes"
    assert mapping.format_of(WABO_CSV) == "csv"
    from_csv, csv_report = mapping.events(csv_rows(WABO_CSV))
    reader = XesReader(wabo_xes)
    from_xes, xes_report = mapping.events(reader.rows())
    assert (reader.traces, reader.events) == (1434, 8577)
    assert xes_report == csv_report
    assert [e.to_json_bytes() for e in from_xes] == [e.to_json_bytes() for e in from_csv]
    closing = [e for e in from_xes if e.step == "closed"]
    late = [
        e for e in closing if e.occurred_at > datetime.fromisoformat(str(e.attributes["due_at"]))
    ]
    assert len(late) == deadline_facts(WABO_CSV).closed_after_deadline == 377


def test_a_gzipped_xes_reads_the_same(wabo_xes: Path, tmp_path: Path) -> None:
    packed = tmp_path / "wabo-receipt.xes.gz"
    packed.write_bytes(gzip.compress(wabo_xes.read_bytes()))
    assert LogMapping.load(WABO_MAPPING).format_of(packed) == "xes"
    with gzip.open(packed) as stream:
        first = list(itertools.islice(XesReader(stream).rows(), 50))
    assert first == list(itertools.islice(XesReader(wabo_xes).rows(), 50))


def test_declarations_are_read_and_never_taken_for_data(wabo_xes: Path) -> None:
    """Extensions, globals, classifiers and the log's own attributes are in the header; no
    row carries a global's default or a log attribute, and every row is an event."""
    reader = XesReader(wabo_xes)
    rows = list(reader.rows())
    header = reader.header
    assert header.version == "1849-2016"
    assert header.features == ("nested-attributes",)
    assert header.extensions["concept"] == "http://www.xes-standard.org/concept.xesext"
    assert set(header.extensions) == {"concept", "time", "org", "lifecycle"}
    assert header.globals == {
        "trace": {"concept:name": "__INVALID__"},
        "event": {
            "concept:name": "__INVALID__",
            "time:timestamp": "1970-01-01 01:00:00+01:00",
            "lifecycle:transition": "complete",
        },
    }
    assert header.classifiers == {
        "Activity": ("concept:name",),
        "Activity classifier": ("concept:name", "lifecycle:transition"),
    }
    assert header.attributes == {"concept:name": "pantau test log", "origin": "csv"}
    assert len(rows) == 8577
    assert not any("__INVALID__" in row.values() for row in rows)
    assert not any("origin" in row or "case:origin" in row for row in rows)
    assert all(row["case:concept:name"].startswith("case-") for row in rows)


def test_nested_attributes_belong_to_their_parent(wabo_xes: Path) -> None:
    """A nested `concept:name` neither replaces the event's activity nor the trace's case id;
    it is kept under its parent's key, and makes no row of its own."""
    rows = XesReader(wabo_xes).rows()
    first = next(rows)
    assert first["concept:name"] == "Confirmation of receipt"
    assert first["note"] == "checked"
    assert first["note/concept:name"] == "NOT THE ACTIVITY"
    assert first["note/weight"] == "2"
    assert first["case:concept:name"] == "case-10011"
    assert first["case:meta"] == "imported"
    assert first["case:meta/concept:name"] == "NOT THE CASE"
    second = next(rows)
    assert "note" not in second  # the first event's attributes stay with it
    assert second["case:meta/concept:name"] == "NOT THE CASE"


def test_values_keep_their_type(wabo_xes: Path) -> None:
    """int, float, boolean, date and list values as written by pm4py, in one text form each."""
    first = next(XesReader(wabo_xes).rows())
    assert first["pages"] == "7"
    assert first["fee"] == "12.5"
    assert first["urgent"] == "False"
    assert json.loads(first["documents"]) == ["KTP", "3", "True"]
    assert first["time:timestamp"] == "2011-10-11 13:45:40.276000+02:00"
    assert first["case:deadline"] == "2011-12-06 13:41:31.788000+01:00"


def test_the_forms_of_the_standard_that_pm4py_does_not_write() -> None:
    """`id` values, IEEE 1849 lists (items directly in <list>), OpenXES containers, booleans
    written 1/0, dates in UTC (`Z`), and an unparsable value kept as written."""
    log = ElementTree.Element("log", {"xes.version": "1849-2016"})
    trace = ElementTree.SubElement(log, "trace")
    ElementTree.SubElement(trace, "string", {"key": "concept:name", "value": "T-1"})
    event = ElementTree.SubElement(trace, "event")
    ElementTree.SubElement(event, "string", {"key": "concept:name", "value": "A"})
    ElementTree.SubElement(
        event, "id", {"key": "identity:id", "value": "0c2a9c5e-8a47-4b63-9f3e-0b6d3e1f1a2b"}
    )
    ElementTree.SubElement(event, "date", {"key": "time:timestamp", "value": "2026-11-02T02:00Z"})
    ElementTree.SubElement(event, "boolean", {"key": "done", "value": "1"})
    ElementTree.SubElement(event, "int", {"key": "odd", "value": "seven"})
    items = ElementTree.SubElement(event, "list", {"key": "stamps"})
    ElementTree.SubElement(items, "date", {"key": "at", "value": "2026-11-02T09:00:00+07:00"})
    ElementTree.SubElement(items, "int", {"key": "at", "value": "2"})
    box = ElementTree.SubElement(event, "container", {"key": "address"})
    ElementTree.SubElement(box, "string", {"key": "city", "value": "Malang"})
    data = ElementTree.tostring(log)
    (row,) = XesReader(io.BytesIO(data)).rows()
    assert row == {
        "case:concept:name": "T-1",
        "concept:name": "A",
        "identity:id": "0c2a9c5e-8a47-4b63-9f3e-0b6d3e1f1a2b",
        "time:timestamp": "2026-11-02 02:00:00+00:00",
        "done": "True",
        "odd": "seven",
        "stamps": '["2026-11-02 09:00:00+07:00", "2"]',
        "address": "",
        "address/city": "Malang",
    }
    assert typed_value("float", "1e3") == "1000.0"
    assert typed_value("boolean", "TRUE") == "True"
    with pytest.raises(ValueError, match="not an XES log"):
        list(XesReader(io.BytesIO(b"<html><body/></html>")).rows())


def _peak_while_reading(path: Path) -> int:
    tracemalloc.start()
    try:
        count = sum(1 for _ in XesReader(path).rows())
        assert count > 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_is_streamed(wabo_xes: Path, tmp_path: Path) -> None:
    """Reading the whole log needs about as much memory as reading its first 100 traces: what
    is held is one trace, not the file."""
    head = [row for row in csv_rows(WABO_CSV)]
    cases = list(dict.fromkeys(row["case:concept:name"] for row in head))[:100]
    small = write_xes(
        event_log([r for r in head if r["case:concept:name"] in set(cases)], dates=WABO_DATES),
        tmp_path / "small.xes",
    )
    assert wabo_xes.stat().st_size > 10 * small.stat().st_size
    assert _peak_while_reading(wabo_xes) < 2 * _peak_while_reading(small) + 256 * 1024
