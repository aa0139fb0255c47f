"""The daily digest of one agency: what was raised on a local calendar day and what is still open.

A day is the agency's own (its calendar's timezone), so "yesterday" in Malang is the day its
officers worked, not a UTC day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pantau.core.alerts import Severity, format_detected_at
from pantau.core.catalog import Catalog
from pantau_alerts.domain.cases import CaseSnapshot, service_health
from pantau_alerts.domain.lifecycle import AlertState, AlertStatus

__all__ = ["agency_timezone", "daily_digest", "digest_subject", "previous_local_day"]


def agency_timezone(catalog: Catalog | None, agency: str) -> ZoneInfo:
    """The agency's calendar timezone; Asia/Jakarta (WIB) when the catalog does not know it."""
    spec = None if catalog is None else catalog.calendar_of(agency)
    return ZoneInfo(spec.timezone if spec is not None else "Asia/Jakarta")


def previous_local_day(now: datetime, tz: ZoneInfo) -> date:
    """The last full calendar day in `tz` before `now`."""
    return now.astimezone(tz).date() - timedelta(days=1)


def digest_subject(agency: str, day: date) -> str:
    """The delivery subject of a digest, unique per agency and day."""
    return f"digest:{agency}:{day.isoformat()}"


def daily_digest(
    states: Iterable[AlertState],
    cases: Iterable[CaseSnapshot],
    agency: str,
    day: date,
    catalog: Catalog | None,
    now: datetime,
) -> dict[str, Any]:
    """Alerts raised on `day` (agency local time) by rule and severity, lifecycle moves that
    day, what remains open now, and the month's SLA health of the agency's services."""
    tz = agency_timezone(catalog, agency)
    begin = datetime.combine(day, time(0), tz)
    end = begin + timedelta(days=1)
    mine = [s for s in states if s.alert.agency == agency]
    raised = [s for s in mine if begin <= s.alert.detected_at < end]
    closed = [s for s in mine if s.closed_at is not None and begin <= s.closed_at < end]
    still_open = [s for s in mine if s.status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)]
    month_end = min(now, end)
    health = service_health([c for c in cases if c.agency == agency], catalog, month_end)
    return {
        "kind": "daily_digest",
        "agency": agency,
        "date": day.isoformat(),
        "timezone": tz.key,
        "generated_at": format_detected_at(now),
        "raised": len(raised),
        "raised_by_rule": dict(Counter(s.alert.rule.value for s in raised).most_common()),
        "raised_by_severity": {
            sev.value: sum(1 for s in raised if s.alert.severity is sev) for sev in Severity
        },
        "closed": {
            "resolved": sum(1 for s in closed if s.status is AlertStatus.RESOLVED),
            "dismissed": sum(1 for s in closed if s.status is AlertStatus.DISMISSED),
        },
        "still_open": len(still_open),
        "still_open_by_severity": {
            sev.value: sum(1 for s in still_open if s.alert.severity is sev) for sev in Severity
        },
        "services": [
            {"service": r["service"], "service_name": r["service_name"], "month": r["month"]}
            for r in health
            if r["agency"] == agency
        ],
    }
