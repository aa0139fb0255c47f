"""Which catalog a timeline, an alert's case or a digest is drawn with.

Every published version of the service standards is kept (a `StandardsBook`). A case is drawn
with the version it follows for its whole life: the one the tracker recorded on its state or on
the alert, else the one in force when the case opened or when what the alert is about happened,
else the newest. A digest of a day is drawn with the version in force at the end of that day.
Before any version is read, everything is drawn with the catalog of `PANTAU_CATALOG` (None when
it is unusable). Pure: times are passed in.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pantau.core.alerts import Alert
from pantau.core.catalog import Catalog
from pantau.core.standards import StandardsSoFar, StandardVersion
from pantau_alerts.domain.cases import CaseSnapshot
from pantau_alerts.domain.digest import agency_timezone

__all__ = ["CaseCatalogs"]


class CaseCatalogs(StandardsSoFar[Catalog | None]):
    """The versions of the standards read so far and the unpublished catalog (None when
    `PANTAU_CATALOG` is unusable)."""

    def _catalog(self, version: StandardVersion | None) -> Catalog | None:
        return self.unpublished if version is None else version.catalog

    def at(self, moment: datetime) -> Catalog | None:
        """The catalog of the version in force at `moment`."""
        return self._catalog(self.book.in_force(moment))

    def of_case(self, case: CaseSnapshot) -> Catalog | None:
        """The catalog of the version `case` follows."""
        return self._catalog(
            self.book.followed(case.agency, case.service, case.standard_version, case.opened_at)
        )

    def of_alert(self, alert: Alert, case: CaseSnapshot | None) -> Catalog | None:
        """The catalog an alert's case is drawn with: the version the alert was judged by;
        without one (a citizen's report, an alert raised before versions), the version its case
        follows; else the one in force when what the alert is about happened (or its case
        opened), else the newest."""
        recorded = alert.standard_version
        if recorded is None and case is not None:
            recorded = case.standard_version
        at = alert.occurred_at or (None if case is None else case.opened_at)
        return self._catalog(self.book.followed(alert.agency, alert.service, recorded, at))

    def on_day(self, agency: str, day: date) -> Catalog | None:
        """The catalog of the version in force at the end of `day` (the agency's local day, in
        the timezone the newest catalog gives it)."""
        newest = self._catalog(self.book.latest)
        end = datetime.combine(day + timedelta(days=1), time(0), agency_timezone(newest, agency))
        return self.at(end - timedelta(microseconds=1))
