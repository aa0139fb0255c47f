"""`sla.clock_reset_abuse`: clock stops used to dodge a deadline.

Stateless across cases: everything the rule needs is the case's own (its stops so far and the
limits running), which the tracker already keeps under the case key `<agency>|<case_id>`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue

from pantau.core.alerts import Alert, Rule
from pantau.core.events import format_rfc3339
from pantau_tracker.domain.rulebook.case_step import CaseStep, RunningLimit
from pantau_tracker.domain.rulebook.family import Family, Stage


def check_clock_reset(step: CaseStep, now: datetime) -> list[Alert]:
    """One alert when a clock-stop step is the case's stop number `max_stops + 1` or later,
    falls in the last `late_fraction` of a running limit (the case's `sla` counted from
    `opened_at`, or a limit in `step.awaiting`), or gives no reason (when `reason_required`).

    A stop after a limit ran out is not late: it can no longer save that deadline.
    """
    policy = step.policy.clock_reset
    definition = step.definition
    if not policy.enabled or definition is None or definition.clock != "stop":
        return []
    event = step.event
    findings: list[str] = []
    evidence: dict[str, JsonValue] = {}
    number = step.stop_count + 1
    if number > policy.max_stops:
        findings.append(f"stop number {number}, more than {policy.max_stops} allowed")
        evidence["stop_number"] = number
        evidence["max_stops"] = policy.max_stops
    late: list[JsonValue] = []
    for limit in _limits(step):
        share = _remaining_share(step, limit)
        if share is not None and share <= policy.late_fraction:
            late.append(
                {"limit": limit.name, "sla": str(limit.limit), "remaining": round(share, 4)}
            )
            findings.append(
                f"in the last {policy.late_fraction:.0%} of the {limit.name} sla {limit.limit} "
                f"({share:.0%} left)"
            )
    if late:
        evidence["late"] = late
        evidence["late_fraction"] = policy.late_fraction
    if policy.reason_required and (event.reason is None or not event.reason.strip()):
        findings.append("no reason given")
        evidence["reason_missing"] = True
    if not findings:
        return []
    return [
        step.alert(
            Rule.SLA_CLOCK_RESET_ABUSE,
            trigger=event.event_id,
            now=now,
            message=f"Clock stopped by {event.step} at {format_rfc3339(event.occurred_at)}: "
            + "; ".join(findings),
            evidence=evidence,
        )
    ]


def _limits(step: CaseStep) -> list[RunningLimit]:
    limits = list(step.awaiting)
    if step.service.sla is not None and step.opened_at is not None:
        limits.append(RunningLimit("case", step.opened_at, step.service.sla))
    return limits


def _remaining_share(step: CaseStep, limit: RunningLimit) -> float | None:
    """The share of `limit` still left when the clock stopped; None when it is not running
    (already out, or held open by a stop)."""
    calendar, at = step.calendar, step.event.occurred_at
    due = calendar.deadline(limit.since, limit.limit, step.stops)
    if due is None or due <= at:
        return None
    unit = limit.limit.unit
    total = calendar.elapsed(limit.since, due, unit, step.stops)
    left = calendar.elapsed(at, due, unit, step.stops)
    if total.total_seconds() <= 0:
        return None
    return left / total


FAMILY = Family("clock", Stage.CASE_STEP, (Rule.SLA_CLOCK_RESET_ABUSE,), check_clock_reset)
