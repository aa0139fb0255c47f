"""`time.off_hours`: staff work outside the agency calendar's working hours or on a day off.

Stateless: the rule needs only the event and the agency's calendar.
"""

from __future__ import annotations

from datetime import datetime

from pantau.core.alerts import Alert, Rule
from pantau.core.events import format_rfc3339
from pantau_tracker.domain.rulebook.case_step import CaseStep
from pantau_tracker.domain.rulebook.family import Family, Stage


def check_off_hours(step: CaseStep, now: datetime) -> list[Alert]:
    """An alert when a staff step (see `CaseStep.is_staff_step`) occurred on a day that is not a
    working day (weekend, national holiday, day off) or more than `grace` outside its hours.

    The grace keeps an officer finishing a file just after closing from being reported; it does
    not apply on days off, when the office is closed all day.
    """
    policy = step.policy.off_hours
    if not policy.enabled or not step.is_staff_step:
        return []
    calendar, event = step.calendar, step.event
    at = event.occurred_at
    local = at.astimezone(calendar.tz)
    if calendar.is_working_day(local.date()):
        grace = policy.grace.as_timedelta()
        if any(calendar.is_working_time(moment) for moment in (at, at - grace, at + grace)):
            return []
        why = "outside working hours"
    else:
        why = "on a day that is not a working day"
    return [
        step.alert(
            Rule.TIME_OFF_HOURS,
            trigger=event.event_id,
            now=now,
            message=(
                f"Step {event.step} done at {format_rfc3339(local)}, {why} of calendar "
                f"{calendar.spec.id}"
            ),
            evidence={
                "local_time": format_rfc3339(local),
                "calendar": calendar.spec.id,
                "working_day": why != "on a day that is not a working day",
                "grace": str(policy.grace),
            },
        )
    ]


FAMILY = Family("hours", Stage.CASE_STEP, (Rule.TIME_OFF_HOURS,), check_off_hours)
