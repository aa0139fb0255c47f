"""Recomputing a case's hash chain from stored rows and naming what was altered (pure).

Rows come from ClickHouse as they are now; the chain says what they were when stored. A row
changed afterwards no longer matches its hash or its hashed content; a deleted row leaves a gap
in positions and a broken link; a row inserted afterwards shares a position with the original or
breaks the link. A deleted last event (or a chain recomputed from some point on) is caught only by
the signed checkpoint of the chain's head.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pantau.history.chain import LEGACY, SEALED, link_hash
from pantau.history.checkpoints import SignedHead
from pantau.history.records import (
    CONTENT_COLUMNS,
    LINK_COLUMNS,
    RECEIPT_COLUMNS,
    event_columns,
    event_of_canonical,
    receipt_of_text,
)

# The `events` columns verification reads: the link, then the columns that copy the hashed
# canonical event (checked against it), then those the receipt seals (checked against it).
STORED_COLUMNS = (*LINK_COLUMNS, *CONTENT_COLUMNS, *RECEIPT_COLUMNS)


@dataclass(frozen=True)
class StoredEvent:
    """One `events` row as read back: its link, its canonical form and its copied columns."""

    position: int
    prev_hash: str
    hash: str
    canonical: str
    columns: tuple[tuple[str, Any], ...]
    chain_version: int = SEALED
    receipt: str = ""
    receipt_columns: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> StoredEvent:
        """From a row selected as STORED_COLUMNS."""
        values = dict(zip(STORED_COLUMNS, row, strict=True))
        return cls(
            int(values["position"]),
            str(values["prev_hash"]),
            str(values["hash"]),
            str(values["canonical"]),
            tuple((name, values[name]) for name in CONTENT_COLUMNS),
            int(values["chain_version"]),
            str(values["receipt"]),
            tuple((name, values[name]) for name in RECEIPT_COLUMNS),
        )

    @property
    def legacy(self) -> bool:
        """A row stored before receipts were sealed (its receive time is not covered)."""
        return self.chain_version == LEGACY

    @property
    def event_id(self) -> str:
        return str(self.columns[0][1])


@dataclass(frozen=True)
class Finding:
    """Something in a case's stored history that differs from what was chained."""

    agency: str
    case_id: str
    position: int
    event_id: str
    problem: str

    def __str__(self) -> str:
        shown = f" {self.event_id}" if self.event_id else ""
        return f"{self.agency}/{self.case_id} position {self.position}{shown}: {self.problem}"


def _content_problems(row: StoredEvent) -> list[str]:
    if row.chain_version not in (LEGACY, SEALED):
        return [f"unknown chain version {row.chain_version}: the row was changed"]
    problems = []
    receipt = row.receipt.encode("utf-8") if row.chain_version == SEALED else None
    if link_hash(row.prev_hash, row.canonical.encode("utf-8"), receipt) != row.hash:
        what = "content and receipt" if receipt is not None else "content"
        problems.append(f"hash does not match the stored {what}: the row was changed")
    if row.legacy and row.receipt:
        problems.append("a legacy row with a receipt: the row was changed")
    try:
        expected = event_columns(event_of_canonical(row.canonical))
    except ValidationError:
        problems.append("the stored content is not a valid event: the row was changed")
    else:
        changed = [name for name, value in row.columns if expected.get(name) != value]
        if changed:
            problems.append(
                f"column {', '.join(changed)} differs from the hashed content: the row was changed"
            )
    if receipt is not None:
        try:
            sealed = receipt_of_text(row.receipt)
        except (ValueError, KeyError, TypeError):
            return [*problems, "the stored receipt is not a receipt: the row was changed"]
        moved = [name for name, value in row.receipt_columns if sealed.get(name) != value]
        if moved:
            problems.append(
                f"column {', '.join(moved)} differs from the sealed receipt: the receive time "
                "or place was moved"
            )
    return problems


def verify_case(
    agency: str,
    case_id: str,
    rows: Sequence[StoredEvent],
    signed: SignedHead | None = None,
) -> list[Finding]:
    """Every departure of a case's stored rows from an intact chain (and from its signed head).

    Exact duplicates of a row (a retried insert) are not a finding: they are one stored event.
    """
    findings: list[Finding] = []

    def found(position: int, event_id: str, problem: str) -> None:
        findings.append(Finding(agency, case_id, position, event_id, problem))

    at_position: dict[int, list[StoredEvent]] = defaultdict(list)
    for row in dict.fromkeys(rows):  # distinct rows, first-seen order
        at_position[row.position].append(row)
    last = max(at_position, default=0)
    previous: StoredEvent | None = None
    previous_missing = False
    first_position: dict[str, int] = {}
    sealed_before = False
    for position in range(1, last + 1):
        candidates = at_position.get(position, [])
        if not candidates:
            found(position, "", "no row: the event was deleted")
            previous, previous_missing = None, True
            continue
        expected_prev = previous.hash if previous is not None else ""
        if len(candidates) > 1:
            ids = ", ".join(sorted({c.event_id for c in candidates}))
            found(
                position,
                ids,
                f"{len(candidates)} different rows at one position: "
                "a row was inserted or altered after the fact",
            )
        problems = {id(c): _content_problems(c) for c in candidates}
        # Chain through the row that still links and matches its content, if there is one.
        row = min(
            candidates,
            key=lambda c: (c.prev_hash != expected_prev, bool(problems[id(c)])),
        )
        for candidate in candidates:
            for problem in problems[id(candidate)]:
                found(position, candidate.event_id, problem)
        if not previous_missing and row.prev_hash != expected_prev:
            found(
                position,
                row.event_id,
                "prev_hash does not link to the event before it: an earlier row was changed, "
                "deleted or inserted",
            )
        if row.event_id in first_position:
            found(
                position,
                row.event_id,
                f"event already chained at position {first_position[row.event_id]}",
            )
        if row.legacy and sealed_before:
            found(
                position,
                row.event_id,
                "a legacy row (receive time not sealed) after a sealed one: the row was changed",
            )
        sealed_before = sealed_before or not row.legacy
        first_position.setdefault(row.event_id, position)
        previous, previous_missing = row, False
    if signed is not None:
        if signed.position > last:
            for position in range(last + 1, signed.position + 1):
                found(
                    position,
                    "",
                    f"no row, but the checkpoint signed at {signed.at} counts "
                    f"{signed.position} events: the event was deleted",
                )
        else:
            head = next(
                (c for c in at_position.get(signed.position, []) if c.hash == signed.hash), None
            )
            if head is None:
                found(
                    signed.position,
                    "",
                    f"hash differs from the checkpoint signed at {signed.at}: the chain up to "
                    "here was rewritten",
                )
    return findings


def summarise(findings: Sequence[Finding]) -> Mapping[tuple[str, str], int]:
    """How many findings each case has."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for finding in findings:
        counts[(finding.agency, finding.case_id)] += 1
    return counts
