"""The rules of an event's times: backdated, in the future, or earlier than its case's latest."""

from __future__ import annotations

from datetime import datetime, timedelta

from pantau.core.alerts import Alert, Rule
from pantau.core.events import Event, format_rfc3339
from pantau_tracker.domain.case import CaseState, is_out_of_order
from pantau_tracker.domain.rulebook.event_alerts import event_alert
from pantau_tracker.domain.rulebook.family import Family, Stage
from pantau_tracker.domain.standards import CaseStandard


def detect_time(
    state: CaseState | None, event: Event, now: datetime, standard: CaseStandard
) -> list[Alert]:
    """backdated (live mode only), future, out_of_order."""
    policy = standard.policy
    alerts: list[Alert] = []
    lag = now - event.occurred_at
    if event.mode == "live" and lag > policy.backdated_tolerance:
        alerts.append(
            _beyond_tolerance(
                Rule.TIME_BACKDATED,
                event,
                now,
                f"Live event received {_hours(lag.total_seconds())} after it occurred",
                policy.backdated_tolerance,
            )
        )
    if event.occurred_at - now > policy.future_tolerance:
        alerts.append(
            _beyond_tolerance(
                Rule.TIME_FUTURE,
                event,
                now,
                f"Event occurs {_hours(-lag.total_seconds())} after it was received",
                policy.future_tolerance,
            )
        )
    if state is not None and is_out_of_order(state, event):
        alerts.append(
            event_alert(
                Rule.TIME_OUT_OF_ORDER,
                event,
                now,
                f"Step {event.step} is earlier than the case's latest applied event",
                evidence={
                    "latest_seq": state.last_seq,
                    "latest_occurred_at": format_rfc3339(state.latest_occurred_at),
                    "seq": event.seq,
                },
                event_ids=[state.current_event_id],
            )
        )
    return alerts


def _beyond_tolerance(
    rule: Rule, event: Event, now: datetime, message: str, tolerance: timedelta
) -> Alert:
    """The alert of an event whose time is off by more than the policy's `tolerance`."""
    return event_alert(
        rule,
        event,
        now,
        message,
        evidence={
            "received_at": format_rfc3339(now),
            "tolerance_seconds": int(tolerance.total_seconds()),
        },
    )


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


FAMILY = Family(
    "time",
    Stage.EVENT,
    (Rule.TIME_BACKDATED, Rule.TIME_FUTURE, Rule.TIME_OUT_OF_ORDER),
    detect_time,
)
