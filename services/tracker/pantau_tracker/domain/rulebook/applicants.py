"""`applicant.broker`: one representative files for many distinct applicants (a calo).

The contract's event has no representative field; the rule reads the additive attribute
`attributes.representative_ref`, a pseudonymous reference to whoever submitted the file for the
applicant (the same kind of value as `applicant.ref`, never a raw identity number). A value that
looks like a raw NIK is ignored and never stored.

State key: `<agency>|<service>|<representative_ref>` (`representative_key`). Per service, the state
keeps the latest filing of each distinct applicant within the window, at most `max_applicants + 1`
of them (enough to decide), and when the last alerted episode's latest filing happened, so an
episode is alerted once.
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
from pantau.core.pseudonym import has_standalone_nik_run
from pantau_tracker.domain.rulebook.case_step import (
    CaseStep,
    instant_from_text,
    instant_text,
    instants_from_text,
    instants_text,
)
from pantau_tracker.domain.rulebook.cross_case import StatefulRule, route_key
from pantau_tracker.domain.rulebook.family import Family, Stage

REPRESENTATIVE_ATTRIBUTE = "representative_ref"
REPRESENTATIVE_REF_MAX_CHARS = 128
EVIDENCE_FILINGS_MAX = 99  # filings named in an alert (the latest); the count says how many in all


def representative_ref(event: Event) -> str | None:
    """The event's `attributes.representative_ref` when it is a usable pseudonymous reference:
    1-128 printable characters without a standalone 16-digit run (a probable raw NIK)."""
    value = event.attributes.get(REPRESENTATIVE_ATTRIBUTE)
    if not isinstance(value, str) or not 0 < len(value) <= REPRESENTATIVE_REF_MAX_CHARS:
        return None
    if not value.isprintable() or value.strip() != value or has_standalone_nik_run(value):
        return None
    return value


def representative_key(event: Event) -> str | None:
    """The state key of `RepresentativeActivity`: `<agency>|<service>|<representative_ref>`;
    None when the event names no usable representative. Filings are counted per service."""
    ref = representative_ref(event)
    return None if ref is None else f"{route_key(event)}|{ref}"


@quick_init
@dataclass(frozen=True)
class Filing:
    """A case a representative filed for an applicant."""

    applicant_ref: str
    at: datetime
    case_id: str
    event_id: str


@quick_init
@dataclass(frozen=True)
class RepresentativeActivity:
    """A representative's latest filing per distinct applicant, oldest first, per service, and
    per service the time of the latest filing of the episode already alerted."""

    filings: Mapping[str, tuple[Filing, ...]] = field(default_factory=dict)
    alerted_through: Mapping[str, datetime] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-able data."""
        return {
            "filings": {
                service: [
                    [f.applicant_ref, instant_text(f.at), f.case_id, f.event_id] for f in items
                ]
                for service, items in sorted(self.filings.items())
            },
            "alerted_through": instants_text(self.alerted_through),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RepresentativeActivity:
        """The state `to_dict` gave; ValueError or KeyError on anything else."""
        return cls(
            filings={
                str(service): tuple(
                    Filing(str(ref), instant_from_text(at), str(case_id), str(event_id))
                    for ref, at, case_id, event_id in items
                )
                for service, items in data["filings"].items()
            },
            alerted_through=instants_from_text(data["alerted_through"]),
        )


def observe_representative(
    state: RepresentativeActivity, step: CaseStep, now: datetime
) -> tuple[RepresentativeActivity, list[Alert]]:
    """Record a filing (a start step naming a representative and an applicant other than the
    representative) and alert when the representative has filed for more than `max_applicants`
    distinct applicants of this service within `window`, unless that episode was alerted."""
    policy = step.policy.applicant_broker
    event, definition = step.event, step.definition
    ref = representative_ref(event)
    if (
        not policy.enabled
        or definition is None
        or not definition.start
        or ref is None
        or event.applicant is None
        or event.applicant.ref == ref
    ):
        return state, []
    window = policy.window.as_timedelta()
    at = event.occurred_at
    service = event.service
    filings = {
        name: items
        for name, items in state.filings.items()
        if name == service or items[-1].at >= at - window
    }
    alerted = {name: through for name, through in state.alerted_through.items() if name in filings}
    mine = Filing(event.applicant.ref, at, event.case_id, event.event_id)
    recent = [f for f in filings.get(service, ()) if f.at >= at - window]
    # Only an applicant's latest filing counts, so one person filing often stays one applicant.
    latest = max(
        [f for f in recent if f.applicant_ref == mine.applicant_ref] + [mine],
        key=lambda f: (f.at, f.event_id),
    )
    kept = [f for f in recent if f.applicant_ref != mine.applicant_ref] + [latest]
    kept = sorted(kept, key=lambda f: (f.at, f.event_id))[-(policy.max_applicants + 1) :]
    filings[service] = tuple(kept)
    alerts: list[Alert] = []
    if len(kept) > policy.max_applicants and mine in kept:
        through = alerted.get(service)
        if through is None or kept[0].at > through:
            alerts.append(_alert(step, now, ref, kept))
        alerted[service] = max(kept[-1].at, through or kept[-1].at)
    return RepresentativeActivity(filings, alerted), alerts


def _alert(step: CaseStep, now: datetime, ref: str, filings: list[Filing]) -> Alert:
    policy = step.policy.applicant_broker
    event = step.event
    shown = filings[-EVIDENCE_FILINGS_MAX:]
    cases: list[JsonValue] = [f.case_id for f in shown]
    return step.alert(
        Rule.APPLICANT_BROKER,
        trigger=event.event_id,
        now=now,
        message=(
            f"Representative {ref} filed {event.service} for {len(filings)} distinct applicants "
            f"between {instant_text(filings[0].at)} and {instant_text(filings[-1].at)}, more "
            f"than {policy.max_applicants} within {policy.window}"
        ),
        evidence={
            "representative_ref": ref,
            "applicants": len(filings),
            "case_ids": cases,
            "max_applicants": policy.max_applicants,
            "window": str(policy.window),
        },
        event_ids=[f.event_id for f in shown if f.event_id != event.event_id],
    )


RULE = StatefulRule[RepresentativeActivity](
    "representatives",
    (Rule.APPLICANT_BROKER,),
    representative_key,
    RepresentativeActivity,
    RepresentativeActivity.from_dict,
    observe_representative,
)
FAMILY = Family(RULE.name, Stage.SERVICE, (Rule.APPLICANT_BROKER,), RULE)
