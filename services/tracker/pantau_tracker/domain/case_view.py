"""The public form of a case's state: what `pantau.cases` and the case endpoint show."""

from __future__ import annotations

from typing import Any

from pantau.core.events import format_rfc3339
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.deadlines import case_deadline, step_deadlines
from pantau_tracker.domain.standards import CaseStandard

# Bookkeeping for deduplication and re-publication: bulky and of no use to a reader.
_INTERNAL = ("seen", "fired", "recent")


def case_view(
    state: CaseState, standard: CaseStandard, document: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The state with its current deadlines: `due_at` of the case, `breached`, `deadlines`.

    `document` is `state.to_document()` when the caller made it already.
    """
    if document is None:
        document = state.to_document()
    document = {k: v for k, v in document.items() if k not in _INTERNAL}
    due = case_deadline(state, standard)
    breached = state.case_overdue_fired or (
        due is not None and state.closed_at is not None and state.closed_at > due
    )
    document["due_at"] = None if due is None else format_rfc3339(due)
    document["breached"] = breached
    document["deadlines"] = [
        {
            "step": deadline.wait.step,
            "after_step": deadline.wait.anchor_step,
            "due_at": format_rfc3339(deadline.due_at),
            "overdue": deadline.wait.fired,
        }
        for deadline in ([] if state.is_closed else step_deadlines(state, standard))
    ]
    document["clock_stopped"] = bool(state.stops) and state.stops[-1].resumed_at is None
    if state.deemed_approved_at is not None and not state.is_closed:
        # Approved by law while the agency stays silent: readers (v_cases.status, the status
        # page) see it as such until a terminal step closes the case.
        document["status"] = "deemed_approved"
    return document
