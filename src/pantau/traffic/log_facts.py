"""Facts computed straight from an event log CSV, without any mapping, to check a replay against.

The road-traffic-fine log is from M. de Leoni and F. Mannhardt, "Road Traffic Fine Management
Process", 4TU.ResearchData, doi:10.4121/uuid:270fd440-1057-4fb9-89a9-b699b47990f5, as sampled
in the pm4py test data; the WABO log from the CoSeLoG project (J.C.A.M. Buijs, 4TU.ResearchData,
doi:10.4121/uuid:a07386a5-7be3-4367-9535-70bc9e77dbe6, CC BY 4.0).

Deliberately independent of `pantau.traffic.mapping`: it reads the columns with the csv module
and compares the log's own case attributes, so a mistake in a mapping cannot hide in both.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
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


@dataclass(frozen=True)
class FineFacts:
    """The road-traffic-fine log against the rule that a fine is sent within 90 days of its
    creation (90 periods of 24 hours, as the catalog's `90 days` counts)."""

    rows: int
    cases: int
    payments: int
    paid_total: Decimal
    officers: int  # distinct officers who created fines
    sent_late: tuple[str, ...]  # cases whose fine was sent more than 90 days after creation
    unsent_unpaid: tuple[str, ...]  # never sent, and not paid within 90 days of creation

    @property
    def overdue(self) -> tuple[str, ...]:
        """The cases that broke the 90-day rule, either way."""
        return tuple(sorted({*self.sent_late, *self.unsent_unpaid}))


def fine_facts(path: Path, *, limit: timedelta = timedelta(days=90)) -> FineFacts:
    """Read the road-traffic-fine CSV (columns as in its pm4py export) straight off the file."""
    cases: dict[str, list[tuple[datetime, str]]] = {}
    rows = payments = 0
    paid = Decimal(0)
    officers: set[str] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows += 1
            activity = row["concept:name"]
            at = datetime.fromisoformat(row["time:timestamp"])
            cases.setdefault(row["case:concept:name"], []).append((at, activity))
            if activity == "Payment":
                payments += 1
                paid += Decimal(row["paymentAmount"])
            if activity == "Create Fine" and row["org:resource"]:
                officers.add(row["org:resource"])
    late, unsent = [], []
    for case, events in cases.items():
        created = min(at for at, activity in events if activity == "Create Fine")
        sent = [at for at, activity in events if activity == "Send Fine"]
        if sent:
            if min(sent) - created > limit:
                late.append(case)
        elif not any(activity == "Payment" and at - created <= limit for at, activity in events):
            unsent.append(case)
    return FineFacts(
        rows, len(cases), payments, paid, len(officers), tuple(sorted(late)), tuple(sorted(unsent))
    )
