"""The status service's read model: the public part of every case on `pantau.cases`, and the
ids of the applicants' reports already on `pantau.alerts`."""

from __future__ import annotations

from pantau.core.events import case_of_key
from pantau.core.json_objects import json_object
from pantau_status.domain.codes import code_matches
from pantau_status.domain.view import CaseRecord, project

__all__ = ["CaseBook"]

_REPORT_RULE = b'"citizen.report"'


class CaseBook:
    """Cases by `(agency, case_id)`; fed in log order, read by the API."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], CaseRecord] = {}
        self._agencies_of: dict[str, set[str]] = {}
        self.reported: set[str] = set()
        self.ready = False
        self.skipped = 0

    def __len__(self) -> int:
        return len(self.records)

    def on_case(self, key: bytes | None, value: bytes | None) -> None:
        """Fold one `pantau.cases` record in: the newest state wins, a tombstone removes."""
        if value is None:
            if key:
                self._drop(*case_of_key(key))
            return
        record = project(key, value)
        if record is None:
            self.skipped += 1
            return
        self.records[(record.agency, record.case_id)] = record
        self._agencies_of.setdefault(record.case_id, set()).add(record.agency)

    def _drop(self, agency: str, case_id: str) -> None:
        if self.records.pop((agency, case_id), None) is not None:
            agencies = self._agencies_of.get(case_id, set())
            agencies.discard(agency)
            if not agencies:
                self._agencies_of.pop(case_id, None)

    def on_alert(self, _key: bytes | None, value: bytes | None) -> None:
        """Remember the id of every applicant report, so each is accepted once."""
        if value is None or _REPORT_RULE not in value:
            return
        document = json_object(value)
        if document is not None and document.get("rule") == "citizen.report":
            alert_id = document.get("alert_id")
            if isinstance(alert_id, str):
                self.reported.add(alert_id)

    def find(self, key: bytes, case_id: str, code: str) -> CaseRecord | None:
        """The case with this receipt number whose check code is `code`, else None — the same
        None for an unknown receipt and a wrong code, after the same work."""
        agencies = sorted(self._agencies_of.get(case_id, ()))
        found = None
        for agency in agencies or ["-"]:
            if code_matches(key, agency, case_id, code) and agencies:
                found = self.records.get((agency, case_id))
        return found
