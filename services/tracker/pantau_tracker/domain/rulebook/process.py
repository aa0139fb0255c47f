"""The rules of a case's flow: where it starts, which step may follow which, what it must pass
through, reasons, and a rejection after deemed approval."""

from __future__ import annotations

from datetime import datetime

from pantau.core.alerts import Alert, Rule
from pantau.core.events import Event, format_rfc3339
from pantau_tracker.domain.case import CaseState, is_out_of_order
from pantau_tracker.domain.rulebook.event_alerts import event_alert, names
from pantau_tracker.domain.rulebook.family import Family, Stage
from pantau_tracker.domain.standards import CaseStandard


def detect_process(
    state: CaseState | None, event: Event, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """unknown_case, after_terminal, invalid_transition, skipped_step, reason_missing,
    after_deemed_approval."""
    service = standard.service
    step = service.step(event.step)
    alerts: list[Alert] = []
    if step is None:
        return alerts
    if step.reason_required and not (event.reason or "").strip():
        alerts.append(
            event_alert(
                Rule.PROCESS_REASON_MISSING,
                event,
                now,
                f"Step {event.step} requires a reason and none was given",
            )
        )
    if is_out_of_order(state, event):
        return alerts  # its place in the flow is unknown: judged by time.out_of_order instead
    if state is None:
        if not step.start:
            alerts.append(
                event_alert(
                    Rule.PROCESS_UNKNOWN_CASE,
                    event,
                    now,
                    f"First event of the case is {event.step}, not a start step",
                    evidence={"start_steps": names(service.start_steps)},
                )
            )
    elif state.is_closed:
        alerts.append(
            event_alert(
                Rule.PROCESS_AFTER_TERMINAL,
                event,
                now,
                f"Step {event.step} after the case ended with {state.terminal_step}",
                evidence={"terminal_step": state.terminal_step},
                event_ids=[state.current_event_id],
            )
        )
        return alerts
    elif event.step not in service.allowed_after(state.current_step):
        alerts.append(
            event_alert(
                Rule.PROCESS_INVALID_TRANSITION,
                event,
                now,
                f"Step {event.step} is not allowed after {state.current_step}",
                evidence={
                    "from_step": state.current_step,
                    "allowed": names(service.allowed_after(state.current_step)),
                },
                event_ids=[state.current_event_id],
            )
        )
    if (
        state is not None
        and step.is_rejection
        and state.deemed_approved_at is not None
        and event.occurred_at > state.deemed_approved_at
    ):
        alerts.append(
            event_alert(
                Rule.PROCESS_AFTER_DEEMED_APPROVAL,
                event,
                now,
                f"Case rejected with {event.step} after it was deemed approved at "
                f"{format_rfc3339(state.deemed_approved_at)}",
                evidence={"deemed_approved_at": format_rfc3339(state.deemed_approved_at)},
                event_ids=[state.opened_event_id],
            )
        )
    if step.is_success:
        done = frozenset() if state is None else state.done_steps()
        missing = sorted(service.mandatory - done)
        if missing:
            alerts.append(
                event_alert(
                    Rule.PROCESS_SKIPPED_STEP,
                    event,
                    now,
                    f"Case ended with {event.step} without mandatory steps: {', '.join(missing)}",
                    evidence={"missing": names(missing, ordered=True)},
                )
            )
    return alerts


FAMILY = Family(
    "process",
    Stage.EVENT,
    (
        Rule.PROCESS_REASON_MISSING,
        Rule.PROCESS_UNKNOWN_CASE,
        Rule.PROCESS_AFTER_TERMINAL,
        Rule.PROCESS_INVALID_TRANSITION,
        Rule.PROCESS_AFTER_DEEMED_APPROVAL,
        Rule.PROCESS_SKIPPED_STEP,
    ),
    detect_process,
)
