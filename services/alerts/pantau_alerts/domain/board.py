"""The operators' view: every alert with its lifecycle, case states and webhook deliveries.

One `AlertBoard` per instance, fed in log order from the alerts, alert-actions, cases and
deliveries topics. Alerts are deduplicated by alert_id (the first record wins: the same trigger
always gives the same id). An action read before its alert (the topics are read side by side)
waits until the alert arrives, then applies in its own log order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pantau.core.alerts import Alert, Category, Rule, Severity, format_detected_at
from pantau.core.rule_table import LANGUAGES, RULES, render_message
from pantau_alerts.domain.cases import CaseSnapshot
from pantau_alerts.domain.lifecycle import ActionRecord, AlertState, AlertStatus, apply
from pantau_alerts.domain.routing import SEVERITY_ORDER

__all__ = ["AlertBoard", "AlertQuery", "alert_view"]


@dataclass(frozen=True)
class AlertQuery:
    """Filters of the alert list; None means no filter. Times bound `detected_at`."""

    agency: str | None = None
    service: str | None = None
    rule: Rule | None = None
    category: Category | None = None
    severity: Severity | None = None
    min_severity: Severity | None = None
    status: AlertStatus | None = None
    case_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0

    def matches(self, state: AlertState) -> bool:
        """True when the alert passes every filter set."""
        alert = state.alert
        checks = (
            self.agency is None or alert.agency == self.agency,
            self.service is None or alert.service == self.service,
            self.rule is None or alert.rule is self.rule,
            self.category is None or alert.category is self.category,
            self.severity is None or alert.severity is self.severity,
            self.min_severity is None
            or SEVERITY_ORDER[alert.severity] >= SEVERITY_ORDER[self.min_severity],
            self.status is None or state.status is self.status,
            self.case_id is None or alert.case_id == self.case_id,
            self.since is None or alert.detected_at >= self.since,
            self.until is None or alert.detected_at < self.until,
        )
        return all(checks)


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else format_detected_at(moment)


def rule_texts(alert: Alert, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The alert's rule title and message in each language."""
    info = RULES[alert.rule]
    if fields is None:
        fields = alert.model_dump(mode="json", exclude_none=True)
    event_ids = fields.get("event_ids") or [None]
    values = {**fields, "event_id": event_ids[-1], **alert.evidence}
    return {
        "title": {language: info.title(language) for language in LANGUAGES},
        "messages": {
            language: render_message(info, language, values) or alert.message
            for language in LANGUAGES
        },
    }


def alert_view(state: AlertState) -> dict[str, Any]:
    """An alert with its lifecycle, as the API and the live stream show it: the alert's own
    fields, its rule's `title` and its `messages` in Bahasa Indonesia and English (from the rule
    table's templates, or the alert's own message where no template fits), then its status."""
    fields = state.alert.model_dump(mode="json", exclude_none=True)
    return {
        **fields,
        **rule_texts(state.alert, fields),
        "status": state.status.value,
        "acknowledged_by": state.acknowledged_by,
        "acknowledged_at": _when(state.acknowledged_at),
        "closed_by": state.closed_by,
        "closed_at": _when(state.closed_at),
        "reason": state.reason,
        "actions": [record.to_json() for record in state.history],
    }


class AlertBoard:
    """In-memory projection of the logs; deterministic for a given order of records."""

    def __init__(self) -> None:
        self.alerts: dict[str, AlertState] = {}
        self._pending: dict[str, list[ActionRecord]] = {}
        self.cases: dict[tuple[str, str], CaseSnapshot] = {}
        self.deliveries: dict[tuple[str, str], dict[str, Any]] = {}
        self.duplicates = 0

    def add_alert(self, alert: Alert) -> AlertState | None:
        """Record a new alert; None for a duplicate alert_id. Applies actions that waited."""
        if alert.alert_id in self.alerts:
            self.duplicates += 1
            return None
        state = AlertState(alert)
        for record in self._pending.pop(alert.alert_id, []):
            state = apply(state, record)
        self.alerts[alert.alert_id] = state
        return state

    def add_action(self, record: ActionRecord) -> AlertState | None:
        """Fold one action in; the new state, or None when nothing changed (or alert unknown)."""
        state = self.alerts.get(record.alert_id)
        if state is None:
            waiting = self._pending.setdefault(record.alert_id, [])
            if all(r.action_id != record.action_id for r in waiting):
                waiting.append(record)
            return None
        updated = apply(state, record)
        if updated is state:
            return None
        self.alerts[record.alert_id] = updated
        return updated

    def has_action(self, alert_id: str, action_id: str) -> bool:
        """True when the action is part of the alert's state (read back from the log)."""
        state = self.alerts.get(alert_id)
        return state is not None and state.has_applied(action_id)

    def set_case(self, case: CaseSnapshot) -> None:
        """Keep the latest state of a case."""
        self.cases[(case.agency, case.case_id)] = case

    def case_of(self, alert: Alert) -> CaseSnapshot | None:
        """The case an alert is about, when its state has been seen."""
        return self.cases.get((alert.agency, alert.case_id))

    def set_delivery(self, record: dict[str, Any]) -> None:
        """Keep the final outcome of delivering one subject (an alert, a digest) to one target."""
        subject = record.get("subject") or record.get("alert_id")
        target = record.get("target")
        if isinstance(subject, str) and isinstance(target, str):
            self.deliveries[(subject, target)] = record

    def delivered(self, subject: str, target: str) -> bool:
        """True when a final outcome (delivered or dead letter) is recorded."""
        return (subject, target) in self.deliveries

    def deliveries_of(self, subject: str) -> list[dict[str, Any]]:
        """Recorded outcomes for one alert (or digest), by target."""
        return [r for (a, _), r in sorted(self.deliveries.items()) if a == subject]

    def visible(self, agencies: Collection[str] | None) -> Iterable[AlertState]:
        """Alerts of the given agencies (None: all)."""
        for state in self.alerts.values():
            if agencies is None or state.alert.agency in agencies:
                yield state

    def query(
        self, query: AlertQuery, agencies: Collection[str] | None
    ) -> tuple[list[AlertState], int]:
        """One page of matching alerts, newest detection first, and how many match in all."""
        found = [s for s in self.visible(agencies) if query.matches(s)]
        found.sort(key=lambda s: (s.alert.detected_at, s.alert.alert_id), reverse=True)
        return found[query.offset : query.offset + query.limit], len(found)

    def counts(self, query: AlertQuery, agencies: Collection[str] | None) -> dict[str, Any]:
        """How many matching alerts there are by rule, severity, status and agency."""
        found = [s for s in self.visible(agencies) if query.matches(s)]
        return {
            "total": len(found),
            "by_rule": dict(Counter(s.alert.rule.value for s in found).most_common()),
            "by_severity": {
                sev.value: sum(1 for s in found if s.alert.severity is sev) for sev in Severity
            },
            "by_status": {st.value: sum(1 for s in found if s.status is st) for st in AlertStatus},
            "by_agency": dict(Counter(s.alert.agency for s in found).most_common()),
        }
