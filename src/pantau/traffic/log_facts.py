"""Facts computed straight from an event log CSV, without any mapping, to check a replay against.

Deliberately independent of `pantau.traffic.mapping`: it reads the columns with the csv module
and compares the log's own case attributes, so a mistake in a mapping cannot hide in both.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class DeadlineFacts:
    """Cases of a log with a planned deadline and an end date, and how they ended against it."""

    rows: int
    cases: int
    closed: int
    closed_after_deadline: int  # end date later than the deadline, to the log's full precision
    closed_after_deadline_by_second: int  # the same, both times truncated to whole seconds
    boundary_cases: tuple[str, ...]  # where the two counts disagree (sub-second after)


def deadline_facts(
    path: Path,
    *,
    case: str = "case:concept:name",
    deadline: str = "case:deadline",
    end: str = "case:enddate",
) -> DeadlineFacts:
    """Count the log's cases closed after their own deadline."""
    rows = 0
    first: dict[str, dict[str, str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows += 1
            first.setdefault(row[case], row)
    closed = after = after_s = 0
    boundary = []
    for case_id, row in first.items():
        if not row[end].strip():
            continue
        closed += 1
        ended = datetime.fromisoformat(row[end])
        due = datetime.fromisoformat(row[deadline])
        late = ended > due
        late_s = int(ended.timestamp()) > int(due.timestamp())
        after += late
        after_s += late_s
        if late != late_s:
            boundary.append(case_id)
    return DeadlineFacts(rows, len(first), closed, after, after_s, tuple(sorted(boundary)))
