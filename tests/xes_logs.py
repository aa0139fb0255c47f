"""XES files written by a real XES writer (pm4py's exporter) from the CSV logs in ../shared/data.

How they are made: each CSV row becomes one event of the trace of its `case:concept:name`, in the
order of the file; columns named `case:<key>` become the trace's `<key>` (the value of its first
row), the others the event's own attributes; empty cells are left out (an XES event simply has no
such attribute). Values are typed as an XES log of the same process has them: times as `date`
(with the offset the CSV wrote), amounts and counts as `float`, everything else as `string`. The
log declares the usual extensions, global attributes for traces and events (with pm4py's and
OpenXES's `__INVALID__` defaults) and two classifiers, as OpenXES writes them before the traces.
pm4py is a test dependency only (`pip install -e '.[dev]'`).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

EXTENSIONS = {
    "Concept": {"prefix": "concept", "uri": "http://www.xes-standard.org/concept.xesext"},
    "Time": {"prefix": "time", "uri": "http://www.xes-standard.org/time.xesext"},
    "Organizational": {"prefix": "org", "uri": "http://www.xes-standard.org/org.xesext"},
    "Lifecycle": {"prefix": "lifecycle", "uri": "http://www.xes-standard.org/lifecycle.xesext"},
}
GLOBALS: dict[str, dict[str, Any]] = {
    "trace": {"concept:name": "__INVALID__"},
    "event": {
        "concept:name": "__INVALID__",
        "time:timestamp": datetime.fromisoformat("1970-01-01T01:00:00+01:00"),
        "lifecycle:transition": "complete",
    },
}
CLASSIFIERS = {
    "Activity": ["concept:name"],
    "Activity classifier": ["concept:name", "lifecycle:transition"],
}


def _quiet_pm4py() -> None:
    logging.getLogger("pm4py").setLevel(logging.ERROR)


def typed(value: str, column: str, dates: Iterable[str], numbers: Iterable[str]) -> Any:
    """A CSV cell as the XES type of its column."""
    if column in dates:
        return datetime.fromisoformat(value)
    if column in numbers:
        return float(value)
    return value


def event_log(
    rows: Iterable[Mapping[str, str]],
    *,
    dates: Iterable[str] = ("time:timestamp",),
    numbers: Iterable[str] = (),
    extra: Mapping[int, Mapping[str, Any]] | None = None,
    trace_extra: Mapping[str, Any] | None = None,
) -> Any:
    """A pm4py EventLog of the rows, one trace per case in order of first appearance.

    `extra` adds attributes to the event at a position (0-based) of the log, as pm4py takes
    them: a dict `{"value": v, "children": {...}}` is an attribute with nested attributes, and
    `{"value": None, "children": [(key, value), ...]}` a list. `trace_extra` adds attributes to
    every trace.
    """
    _quiet_pm4py()
    from pm4py.objects.log.obj import Event, EventLog, Trace

    dates, numbers = tuple(dates), tuple(numbers)
    traces: dict[str, Any] = {}
    for position, row in enumerate(rows):
        case = row["case:concept:name"]
        trace = traces.get(case)
        if trace is None:
            attributes = {
                column[5:]: typed(value, column, dates, numbers)
                for column, value in row.items()
                if column.startswith("case:") and value
            }
            trace = traces[case] = Trace(attributes={**attributes, **(trace_extra or {})})
        own = {
            column: typed(value, column, dates, numbers)
            for column, value in row.items()
            if column and not column.startswith("case:") and value
        }
        own.update((extra or {}).get(position, {}))
        trace.append(Event(own))
    return EventLog(
        list(traces.values()),
        attributes={"concept:name": "pantau test log", "origin": "csv"},
        extensions=EXTENSIONS,
        omni_present=GLOBALS,
        classifiers=CLASSIFIERS,
    )


def write_xes(log: Any, path: Path) -> Path:
    """Write the log with pm4py's XES exporter."""
    _quiet_pm4py()
    from pm4py.objects.log.exporter.xes import exporter

    exporter.apply(log, str(path), parameters={"show_progress_bar": False})
    return path


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
