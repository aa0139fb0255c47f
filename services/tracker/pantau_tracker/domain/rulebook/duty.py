"""The rules of who does a step: the step's roles and the separation of duties."""

from __future__ import annotations

from datetime import datetime

from pantau.core.alerts import Alert, Rule
from pantau.core.events import Event
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.rulebook.event_alerts import event_alert, names
from pantau_tracker.domain.rulebook.family import Family, Stage
from pantau_tracker.domain.standards import CaseStandard


def detect_duty(
    state: CaseState | None, event: Event, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """role_not_allowed and same_officer over the service's separated pairs."""
    service = standard.service
    step = service.step(event.step)
    alerts: list[Alert] = []
    if step is not None and step.roles:
        if event.officer is None:
            alerts.append(
                event_alert(
                    Rule.DUTY_ROLE_NOT_ALLOWED,
                    event,
                    now,
                    f"Step {event.step} recorded without the officer who did it",
                    evidence={"allowed_roles": names(step.roles)},
                )
            )
        elif event.officer.role not in step.roles:
            alerts.append(
                event_alert(
                    Rule.DUTY_ROLE_NOT_ALLOWED,
                    event,
                    now,
                    f"Step {event.step} done by role {event.officer.role}, "
                    f"allowed: {', '.join(sorted(step.roles))}",
                    evidence={"role": event.officer.role, "allowed_roles": names(step.roles)},
                )
            )
    if event.officer is None or state is None:
        return alerts
    officer = event.officer.id
    for first, second in service.separate:
        if event.step not in (first, second):
            continue
        other = second if event.step == first else first
        record = state.step_record(other)
        if record is not None and officer in record.officers:
            alerts.append(
                event_alert(
                    Rule.DUTY_SAME_OFFICER,
                    event,
                    now,
                    f"Step {event.step} done by the officer who did {other}",
                    trigger=f"{event.event_id}:{other}",
                    evidence={
                        f"{other}_by": officer,
                        "separated": names((first, second), ordered=True),
                    },
                    event_ids=[record.event_id],
                )
            )
    return alerts


FAMILY = Family(
    "duty", Stage.EVENT, (Rule.DUTY_ROLE_NOT_ALLOWED, Rule.DUTY_SAME_OFFICER), detect_duty
)
