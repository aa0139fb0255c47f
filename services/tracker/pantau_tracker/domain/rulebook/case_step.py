"""The input of every cross-case rule: an applied event with what its case knew just before it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import JsonValue

from pantau.core.alerts import Alert, detector_alert
from pantau.core.catalog import Service, Step
from pantau.core.durations import Duration, DurationUnit, parse_duration
from pantau.core.events import Event, parse_rfc3339
from pantau.core.frozen import once, quick_init
from pantau.core.oversight_policy import OversightPolicy
from pantau.core.working_time import ClockStop, WorkingCalendar


@quick_init
@dataclass(frozen=True)
class RunningLimit:
    """A time limit running when the event arrived: the case's `sla`, or a step's `sla`."""

    name: str
    since: datetime
    limit: Duration


@quick_init
@dataclass(frozen=True)
class CaseStep:
    """An event the tracker applied to its case (first seen, in order), with the case before it.

    `previous_step` and `previous_at` are the case's current step and when it was reached, before
    this event (None for the case's first event); `opened_at` is when its start step occurred
    (None when unknown); `stops` are the case's clock stops so far and `stop_count` how many there
    were in all (the tracker may keep only the latest stops); `awaiting` are step limits running
    when the event arrived, beside the case's own `sla`, which the rules derive themselves.
    """

    event: Event
    service: Service
    calendar: WorkingCalendar
    previous_step: str | None = None
    previous_at: datetime | None = None
    opened_at: datetime | None = None
    stops: tuple[ClockStop, ...] = ()
    stop_count: int = 0
    awaiting: tuple[RunningLimit, ...] = ()

    @property
    def policy(self) -> OversightPolicy:
        """The service's oversight settings."""
        return self.service.oversight

    @once
    def definition(self) -> Step | None:
        """The catalog's definition of the event's step (None for a step the catalog lacks);
        the rules ask for it about ten times a step."""
        return self.service.step(self.event.step)

    @property
    def officer_id(self) -> str | None:
        """The officer who did the step, if the event names one."""
        return None if self.event.officer is None else self.event.officer.id

    @property
    def is_automatic(self) -> bool:
        """True when the service's oversight marks the step as done by a system."""
        return self.event.step in self.policy.automatic

    @property
    def is_staff_step(self) -> bool:
        """True for work done by the agency's staff: a step with roles or done by a named officer.

        Submissions (start steps), payments (the applicant's act) and automatic steps are not.
        """
        step = self.definition
        if step is None or step.start or step.payment or self.is_automatic:
            return False
        return bool(step.roles) or self.event.officer is not None

    def to_dict(self, *, with_event: bool = True) -> dict[str, Any]:
        """Everything but the catalog parts as JSON-able data, for a repartition topic: the
        receiving side looks the service and calendar up again (`case_step_from_dict`).

        Without the event (`with_event=False`) it is the case's side alone, which the tracker
        keeps to hand the step again when its event is redelivered.
        """
        data = self._context()
        if with_event:
            data["event"] = self.event.to_json_bytes().decode("utf-8")
        return data

    def _context(self) -> dict[str, Any]:
        return {
            "previous_step": self.previous_step,
            "previous_at": _optional_text(self.previous_at),
            "opened_at": _optional_text(self.opened_at),
            "stops": [
                [instant_text(stop.stopped_at), _optional_text(stop.resumed_at)]
                for stop in self.stops
            ],
            "stop_count": self.stop_count,
            "awaiting": [
                [limit.name, instant_text(limit.since), str(limit.limit)] for limit in self.awaiting
            ],
        }

    def counted(self, start: datetime, end: datetime, unit: DurationUnit) -> timedelta:
        """Time from `start` to `end` as the standard counts `unit`, clock stops excluded."""
        return self.calendar.elapsed(start, end, unit, self.stops)

    def alert(
        self,
        rule: str,
        *,
        trigger: str,
        now: datetime,
        message: str,
        evidence: dict[str, JsonValue],
        event_ids: Iterable[str] = (),
    ) -> Alert:
        """An alert of `rule` on this event's case and step, detected at `now`."""
        event = self.event
        return detector_alert(
            rule,
            agency=event.agency,
            service=event.service,
            case_id=event.case_id,
            trigger=trigger,
            detected_at=now,
            message=message,
            step=event.step,
            officer_id=self.officer_id,
            occurred_at=event.occurred_at,
            evidence=evidence,
            event_ids=[event.event_id, *event_ids],
        )


def case_step_from_dict(
    data: Mapping[str, Any], service: Service, calendar: WorkingCalendar
) -> CaseStep:
    """The `CaseStep` whose `to_dict` gave `data`, with its service and its agency's calendar.

    Raises ValueError, KeyError or TypeError (pydantic.ValidationError is a ValueError) on
    anything else.
    """
    previous_step = data["previous_step"]
    if previous_step is not None and not isinstance(previous_step, str):
        raise ValueError(f"previous_step must be a step code or null, not {previous_step!r}")
    stop_count = data["stop_count"]
    if not isinstance(stop_count, int) or isinstance(stop_count, bool) or stop_count < 0:
        raise ValueError(f"stop_count must be a whole number, not {stop_count!r}")
    return CaseStep(
        event=_event(data["event"]),
        service=service,
        calendar=calendar,
        previous_step=previous_step,
        previous_at=_optional_instant(data["previous_at"]),
        opened_at=_optional_instant(data["opened_at"]),
        stops=tuple(
            ClockStop(instant_from_text(stopped), _optional_instant(resumed))
            for stopped, resumed in data["stops"]
        ),
        stop_count=stop_count,
        awaiting=tuple(
            RunningLimit(str(name), instant_from_text(since), parse_duration(limit))
            for name, since, limit in data["awaiting"]
        ),
    )


def _event(found: Any) -> Event:
    # The tracker hands the event on as an object it validated; older records carry its JSON.
    if isinstance(found, Mapping):
        return Event.trusted(found)
    return Event.from_json_bytes(found)


def _optional_text(moment: datetime | None) -> str | None:
    return None if moment is None else instant_text(moment)


def _optional_instant(text: Any) -> datetime | None:
    return None if text is None else instant_from_text(text)


def standard_unit(service: Service, step: Step | None) -> DurationUnit:
    """The kind of time a step's duration is measured in: that of its own `sla`, else of the
    service's `sla`, else working time (peers' durations are always measured alike)."""
    if step is not None and step.sla is not None:
        return step.sla.unit
    if service.sla is not None:
        return service.sla.unit
    return DurationUnit.WORKING_HOURS


_INSTANT_TEXTS: dict[datetime, str] = {}
_INSTANT_TEXTS_MAX = 100_000  # instants kept formatted; a case's are written again each step


def instant_text(moment: datetime) -> str:
    """An instant as stored in state and shown in evidence: RFC 3339 in UTC."""
    # Equal instants in other offsets have the same UTC text, so the instant alone is the key
    # (a naive datetime never equals an aware one: it is never found, and never kept). Each
    # conversion takes about 1.5 µs (`astimezone` and `isoformat`), a lookup 0.1.
    found = _INSTANT_TEXTS.get(moment)
    if found is None:
        if moment.utcoffset() is None:
            raise ValueError("a naive datetime is not an instant")
        if len(_INSTANT_TEXTS) >= _INSTANT_TEXTS_MAX:
            _INSTANT_TEXTS.clear()
        text = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
        found = _INSTANT_TEXTS[moment] = text
    return found


def instant_from_text(text: Any) -> datetime:
    """An instant read back from state; ValueError when it is not RFC 3339 text."""
    if not isinstance(text, str):
        raise ValueError(f"expected an RFC 3339 instant, not {text!r}")
    # States are read back on every step; the C parser is far faster than the strict one,
    # which stays the judge of anything it does not take.
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return parse_rfc3339(text)
    if moment.tzinfo is None:
        return parse_rfc3339(text)
    return moment


def instants_text(instants: Mapping[str, datetime]) -> dict[str, str]:
    """Instants by key as stored in state, in key order (`instant_text` each)."""
    return {key: instant_text(moment) for key, moment in sorted(instants.items())}


def instants_from_text(data: Mapping[Any, Any]) -> dict[str, datetime]:
    """Instants by key read back from state (`instants_text`'s form); ValueError on bad text."""
    return {str(key): instant_from_text(text) for key, text in data.items()}
