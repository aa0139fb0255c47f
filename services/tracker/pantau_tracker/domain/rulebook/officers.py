"""`officer.burst`: one officer completes more than `max_steps` of one step within `window`.

State key: `<agency>|<service>|<officer_id>` (`officer_key`). The state keeps, per service and
step, only the officer's latest `max_steps + 1` completions (enough to decide whether that many fit
in the window) and when the last alerted burst ended, so each burst is alerted once however long it
lasts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import JsonValue

from pantau.core.alerts import Alert, Rule
from pantau.core.events import Event
from pantau.core.frozen import quick_init
from pantau_tracker.domain.rulebook.case_step import (
    CaseStep,
    instant_from_text,
    instant_text,
    instants_from_text,
    instants_text,
)
from pantau_tracker.domain.rulebook.cross_case import StatefulRule, route_key
from pantau_tracker.domain.rulebook.family import Family, Stage

EVIDENCE_EVENTS_MAX = 99  # other events of the burst listed in an alert, the latest ones


def officer_key(event: Event) -> str | None:
    """The state key of `OfficerActivity`: `<agency>|<service>|<officer id>`; None without an
    officer. Bursts are counted per service and step, so an officer's work in one service is
    one state, changed where that service's steps are handled."""
    if event.officer is None:
        return None
    return f"{route_key(event)}|{event.officer.id}"


@quick_init
@dataclass(frozen=True)
class Completion:
    """One step an officer completed."""

    at: datetime
    case_id: str
    event_id: str


@quick_init
@dataclass(frozen=True)
class OfficerActivity:
    """An officer's latest completions per `<service>/<step>`, oldest first, and per kind the
    time of the last completion of the burst already alerted."""

    recent: Mapping[str, tuple[Completion, ...]] = field(default_factory=dict)
    alerted_through: Mapping[str, datetime] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-able data."""
        return {
            "recent": {
                kind: [[instant_text(c.at), c.case_id, c.event_id] for c in completions]
                for kind, completions in sorted(self.recent.items())
            },
            "alerted_through": instants_text(self.alerted_through),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OfficerActivity:
        """The state `to_dict` gave; ValueError or KeyError on anything else."""
        return cls(
            recent={
                str(kind): tuple(
                    Completion(instant_from_text(at), str(case_id), str(event_id))
                    for at, case_id, event_id in completions
                )
                for kind, completions in data["recent"].items()
            },
            alerted_through=instants_from_text(data["alerted_through"]),
        )


def observe_officer(
    state: OfficerActivity, step: CaseStep, now: datetime
) -> tuple[OfficerActivity, list[Alert]]:
    """Record the officer's completion and alert when it makes more than `max_steps` completions
    of this service's step within `window`, unless that burst was already alerted.

    Only staff steps named by an officer count (never automatic steps), and only the steps in
    `steps` when the catalog lists them.
    """
    policy = step.policy.officer_burst
    event = step.event
    if (
        not policy.enabled
        or step.officer_id is None
        or not step.is_staff_step
        or (policy.steps is not None and event.step not in policy.steps)
    ):
        return state, []
    window = policy.window.as_timedelta()
    at = event.occurred_at
    kind = f"{event.service}/{event.step}"
    recent = {
        name: completions
        for name, completions in state.recent.items()
        if name == kind or completions[-1].at >= at - window
    }
    alerted = {name: through for name, through in state.alerted_through.items() if name in recent}
    mine = Completion(at, event.case_id, event.event_id)
    completions = [c for c in recent.get(kind, ()) if c.event_id != event.event_id]
    completions = sorted([*completions, mine], key=lambda c: (c.at, c.event_id))
    completions = completions[-(policy.max_steps + 1) :]
    recent[kind] = tuple(completions)
    alerts: list[Alert] = []
    first, last = completions[0], completions[-1]
    # By identity: no other completion has this event's id, so none equals `mine` (the
    # generated __eq__ compares every field, for each completion kept).
    in_burst = (
        len(completions) > policy.max_steps
        and any(c is mine for c in reversed(completions))
        and last.at - first.at <= window
    )
    if in_burst:
        through = alerted.get(kind)
        if through is None or first.at > through:
            alerts.append(_alert(step, now, completions))
        alerted[kind] = max(last.at, through or last.at)
    return OfficerActivity(recent, alerted), alerts


def _alert(step: CaseStep, now: datetime, completions: list[Completion]) -> Alert:
    policy = step.policy.officer_burst
    event = step.event
    others = [c for c in completions if c.event_id != event.event_id]
    cases: list[JsonValue] = [
        case for case in sorted({c.case_id for c in completions})[-EVIDENCE_EVENTS_MAX:]
    ]
    return step.alert(
        Rule.OFFICER_BURST,
        trigger=event.event_id,
        now=now,
        message=(
            f"Officer completed {len(completions)} {event.step} steps of {event.service} between "
            f"{instant_text(completions[0].at)} and {instant_text(completions[-1].at)}, more "
            f"than {policy.max_steps} within {policy.window}"
        ),
        evidence={
            "completed": len(completions),
            "first_at": instant_text(completions[0].at),
            "last_at": instant_text(completions[-1].at),
            "case_ids": cases,
            "max_steps": policy.max_steps,
            "window": str(policy.window),
        },
        event_ids=[c.event_id for c in others][-EVIDENCE_EVENTS_MAX:],
    )


RULE = StatefulRule[OfficerActivity](
    "officers",
    (Rule.OFFICER_BURST,),
    officer_key,
    OfficerActivity,
    OfficerActivity.from_dict,
    observe_officer,
)
FAMILY = Family(RULE.name, Stage.SERVICE, (Rule.OFFICER_BURST,), RULE)
