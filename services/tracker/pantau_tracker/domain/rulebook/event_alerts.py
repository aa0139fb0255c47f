"""What the per-case detectors share: the detector's shape and the alert of one event.

`now` is the trusted receive time of the event (broker append time) and becomes the alert's
`detected_at`, so replaying the same record gives the same alert. Triggers (the per-rule identity
of an occurrence, see `pantau.core.alerts.alert_id`) are the triggering event_id unless a rule
says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from pydantic import JsonValue

from pantau.core.alerts import Alert, Rule, detector_alert
from pantau.core.events import Event
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.standards import CaseStandard

Detector = Callable[[CaseState | None, Event, datetime, CaseStandard], list[Alert]]


def event_alert(
    rule: Rule,
    event: Event,
    now: datetime,
    message: str,
    *,
    trigger: str | None = None,
    evidence: Mapping[str, JsonValue] | None = None,
    event_ids: Sequence[str] = (),
) -> Alert:
    return detector_alert(
        rule,
        agency=event.agency,
        service=event.service,
        case_id=event.case_id,
        trigger=trigger or event.event_id,
        detected_at=now,
        message=message,
        step=event.step,
        officer_id=None if event.officer is None else event.officer.id,
        occurred_at=event.occurred_at,
        evidence=evidence,
        event_ids=[*event_ids, event.event_id],
    )


def names(names: Iterable[str], *, ordered: bool = False) -> list[JsonValue]:
    return list(names) if ordered else list(sorted(names))
