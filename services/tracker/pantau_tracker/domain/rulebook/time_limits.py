"""The rules of time limits, noticed when a deadline passes (by the timer or a later event):
a step or the case overdue, and deemed approval near or reached.

Triggers: `sla.step_overdue` is `<anchor event_id>:<awaited step>`, the case-wide rules `case`.
Every one of them uses the deadline instant as `occurred_at` and `detected_at`, so the late
arrival and the timer produce byte-identical alerts whichever notices first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from pydantic import JsonValue

from pantau.core.alerts import Alert, Rule, detector_alert
from pantau.core.events import format_rfc3339
from pantau.core.frozen import quick_init
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.deadlines import (
    StepDeadline,
    case_deadline,
    deemed_deadlines,
    step_deadlines,
)
from pantau_tracker.domain.rulebook.family import Family, Stage
from pantau_tracker.domain.standards import CaseStandard


def step_overdue_alert(state: CaseState, deadline: StepDeadline) -> Alert:
    """The alert of a missed step deadline: the same content from the timer and a late arrival."""
    wait = deadline.wait
    return detector_alert(
        Rule.SLA_STEP_OVERDUE,
        agency=state.agency,
        service=state.service,
        case_id=state.case_id,
        trigger=wait.trigger,
        detected_at=deadline.due_at,
        occurred_at=deadline.due_at,
        step=wait.step,
        message=f"Step {wait.step} not done within {wait.sla} after {wait.anchor_step}",
        evidence={
            "awaited_step": wait.step,
            "after_step": wait.anchor_step,
            "since": format_rfc3339(wait.since),
            "sla": wait.sla,
            "due_at": format_rfc3339(deadline.due_at),
        },
        event_ids=[wait.anchor_event_id],
    )


def _case_deadline_alert(
    rule: Rule,
    state: CaseState,
    standard: CaseStandard,
    at: datetime,
    message: str,
    evidence: Mapping[str, JsonValue],
) -> Alert:
    """An alert on the whole case at a deadline instant `at` (its trigger is `case`), the same
    from the timer and from a late arrival."""
    return detector_alert(
        rule,
        agency=state.agency,
        service=state.service,
        case_id=state.case_id,
        trigger="case",
        detected_at=at,
        occurred_at=at,
        message=message,
        evidence={
            "sla": str(standard.service.sla),
            "opened_at": format_rfc3339(state.opened_at),
            **evidence,
        },
        event_ids=[state.opened_event_id],
    )


def case_overdue_alert(state: CaseState, standard: CaseStandard, due_at: datetime) -> Alert:
    """The alert of a missed service-standard limit for the whole case."""
    return _case_deadline_alert(
        Rule.SLA_CASE_OVERDUE,
        state,
        standard,
        due_at,
        f"Case not finished within the service standard of {standard.service.sla}",
        {"due_at": format_rfc3339(due_at)},
    )


def deemed_warning_alert(
    state: CaseState, standard: CaseStandard, warn_at: datetime, due_at: datetime
) -> Alert:
    """The warning that an undecided case of a deemed-approval service is about to be approved
    by law."""
    deemed = standard.service.deemed_approval
    warn_before = "" if deemed is None else str(deemed.warn_before)
    return _case_deadline_alert(
        Rule.SLA_DEEMED_APPROVAL_NEAR,
        state,
        standard,
        warn_at,
        f"Case still undecided {warn_before} before the service standard of "
        f"{standard.service.sla} runs out; then it is deemed approved",
        {"warn_before": warn_before, "deemed_approved_at": format_rfc3339(due_at)},
    )


def deemed_approved_alert(state: CaseState, standard: CaseStandard, due_at: datetime) -> Alert:
    """The alert of a case approved by law because its service time limit passed undecided."""
    return _case_deadline_alert(
        Rule.SLA_DEEMED_APPROVED,
        state,
        standard,
        due_at,
        f"Case undecided within the service standard of {standard.service.sla}: deemed approved",
        {"deemed_approved_at": format_rfc3339(due_at)},
    )


def deemed_by(
    state: CaseState, standard: CaseStandard, at: datetime
) -> tuple[datetime | None, datetime | None]:
    """The unfired deemed-approval warning and approval instants that passed before `at`."""
    if state.is_closed:
        return None, None
    warn, due = deemed_deadlines(state, standard)
    return (
        warn if warn is not None and not state.deemed_warned and warn < at else None,
        due if due is not None and state.deemed_approved_at is None and due < at else None,
    )


def overdue_by(
    state: CaseState, standard: CaseStandard, at: datetime
) -> tuple[list[StepDeadline], datetime | None]:
    """Unfired step deadlines that passed before `at`, and the case deadline if it passed."""
    if state.is_closed:
        return [], None
    steps = [d for d in step_deadlines(state, standard) if not d.wait.fired and d.due_at < at]
    case_due = None
    if not state.case_overdue_fired:
        due = case_deadline(state, standard)
        if due is not None and due < at:
            case_due = due
    return steps, case_due


@quick_init
@dataclass(frozen=True)
class Passed:
    """The deadlines of a case that passed, unfired, before some instant."""

    steps: list[StepDeadline]
    case_due: datetime | None
    deemed_warning: datetime | None
    deemed_due: datetime | None

    @property
    def any(self) -> bool:
        return bool(self.steps) or any(
            at is not None for at in (self.case_due, self.deemed_warning, self.deemed_due)
        )


def passed_by(state: CaseState, standard: CaseStandard, at: datetime) -> Passed:
    steps, case_due = overdue_by(state, standard, at)
    warning, deemed = deemed_by(state, standard, at)
    return Passed(steps, case_due, warning, deemed)


def fire_deadlines(
    state: CaseState, standard: CaseStandard, passed: Passed
) -> tuple[CaseState, list[Alert]]:
    alerts = [step_overdue_alert(state, deadline) for deadline in passed.steps]
    fired = {deadline.wait.trigger for deadline in passed.steps}
    awaiting = tuple(
        replace(wait, fired=True) if wait.trigger in fired else wait for wait in state.awaiting
    )
    state = state.but(awaiting=awaiting)
    if passed.deemed_warning is not None:  # given before the deadline it warns of
        due = passed.deemed_due or deemed_deadlines(state, standard)[1]
        assert due is not None  # a warning is given only before a known deadline
        alerts.append(deemed_warning_alert(state, standard, passed.deemed_warning, due))
        state = state.but(deemed_warned=True)
    if passed.case_due is not None:
        alerts.append(case_overdue_alert(state, standard, passed.case_due))
        state = state.but(case_overdue_fired=True)
    if passed.deemed_due is not None:
        alerts.append(deemed_approved_alert(state, standard, passed.deemed_due))
        state = state.but(deemed_approved_at=passed.deemed_due, deemed_warned=True)
    return state, alerts


@dataclass(frozen=True)
class DeadlineRules:
    """The timer-driven detector: which deadlines passed before an instant, and firing them."""

    passed: Callable[[CaseState, CaseStandard, datetime], Passed]
    fire: Callable[[CaseState, CaseStandard, Passed], tuple[CaseState, list[Alert]]]


FAMILY = Family(
    "time_limits",
    Stage.DEADLINE,
    (
        Rule.SLA_STEP_OVERDUE,
        Rule.SLA_DEEMED_APPROVAL_NEAR,
        Rule.SLA_CASE_OVERDUE,
        Rule.SLA_DEEMED_APPROVED,
    ),
    DeadlineRules(passed_by, fire_deadlines),
)
