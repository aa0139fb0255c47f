"""The rule of the record itself: an event_id that arrives again with other content.

Its trigger is `<event_id>:<new content digest>`, so each different content is alerted once.
"""

from __future__ import annotations

from datetime import datetime

from pantau.core.alerts import Alert, Rule, detector_alert
from pantau.core.events import Event
from pantau_tracker.domain.rulebook.family import Family, Stage


def conflict_alert(event: Event, seen: str, digest: str, received_at: datetime) -> Alert:
    """The alert of `event` arriving again with content digest `digest`, first seen as `seen`."""
    return detector_alert(
        Rule.INTEGRITY_CONFLICTING_DUPLICATE,
        agency=event.agency,
        service=event.service,
        case_id=event.case_id,
        trigger=f"{event.event_id}:{digest}",
        detected_at=received_at,
        message=f"Event {event.event_id} arrived again with different content",
        step=event.step,
        officer_id=None if event.officer is None else event.officer.id,
        occurred_at=event.occurred_at,
        evidence={"first_digest": seen, "new_digest": digest},
        event_ids=[event.event_id],
    )


FAMILY = Family(
    "duplicates", Stage.DUPLICATE, (Rule.INTEGRITY_CONFLICTING_DUPLICATE,), conflict_alert
)
