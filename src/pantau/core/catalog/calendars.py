"""Reading a catalog's `calendars:` section into working calendars (`CalendarSpec`): time zone,
working weekdays and their hours, holidays and days off."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from pantau.core.catalog.model import WEEKDAY_NAMES
from pantau.core.entry_reader import listing
from pantau.core.working_time import MINUTES_PER_DAY, CalendarSpec

if TYPE_CHECKING:
    from pantau.core.catalog.loading import CatalogReader


class CalendarReader:
    """Reads the body of one calendar, reporting its problems through the catalog's reader."""

    def __init__(self, catalog: CatalogReader, cal_id: str) -> None:
        self.catalog = catalog
        self.cal_id = cal_id
        self.entry = f"calendars[{cal_id}]"

    def report(self, entry: str, message: str) -> None:
        self.catalog.report(entry, message)

    @property
    def problem_count(self) -> int:
        return len(self.catalog.problems)

    def read(self, body: object) -> CalendarSpec | None:
        """The calendar `body` declares, or None after reporting what is wrong with it."""
        entry = self.entry
        if not isinstance(body, Mapping):
            self.report(entry, "a calendar must be a mapping with timezone, weekdays, hours")
            return None
        mark = self.problem_count
        self.catalog.check_keys(
            entry, body, ("timezone", "weekdays", "hours"), ("holidays", "days_off")
        )
        timezone = body.get("timezone")
        if "timezone" in body:
            self.check_timezone(f"{entry}.timezone", timezone)
        workdays = None
        if "weekdays" in body:
            workdays = self.read_weekdays(f"{entry}.weekdays", body["weekdays"])
        hours = None
        if "hours" in body:
            hours = self.read_weekly_hours(f"{entry}.hours", body["hours"], workdays)
        country = body.get("holidays")
        if country is not None and (
            not isinstance(country, str) or country not in holidays.list_supported_countries()
        ):
            self.report(
                f"{entry}.holidays",
                f"unknown holiday country {country!r}: "
                "expected an ISO country code the `holidays` package knows, such as 'ID'",
            )
        days_off = self.read_days_off(f"{entry}.days_off", body.get("days_off", []))
        if self.problem_count > mark or not isinstance(timezone, str) or hours is None:
            return None
        return CalendarSpec(
            id=self.cal_id,
            timezone=timezone,
            weekly_hours=hours,
            holiday_country=country if isinstance(country, str) else None,
            days_off=days_off,
        )

    def check_timezone(self, entry: str, timezone: object) -> None:
        if isinstance(timezone, str) and timezone:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                pass
            else:
                return
        self.report(
            entry, f"unknown timezone {timezone!r}: expected an IANA name such as 'Asia/Jakarta'"
        )

    def read_weekdays(self, entry: str, value: object) -> set[int] | None:
        if value == "all":
            return set(range(7))
        if not isinstance(value, list) or not value:
            self.report(
                entry,
                f"weekdays must be 'all' or a non-empty list such as "
                f"[mon, tue, wed, thu, fri], not {value!r}",
            )
            return None
        days: set[int] = set()
        mark = self.problem_count
        for name in value:
            if name not in WEEKDAY_NAMES:
                self.report(entry, f"unknown weekday {name!r} (expected: {listing(WEEKDAY_NAMES)})")
            elif WEEKDAY_NAMES.index(name) in days:
                self.report(entry, f"weekday {name!r} is listed twice")
            else:
                days.add(WEEKDAY_NAMES.index(name))
        return days if self.problem_count == mark else None

    def read_weekly_hours(
        self, entry: str, value: object, workdays: set[int] | None
    ) -> dict[int, tuple[tuple[int, int], ...]] | None:
        mark = self.problem_count
        if isinstance(value, str | list):
            intervals = self.read_intervals(entry, value)
            if intervals is None or workdays is None:
                return None
            return {day: intervals for day in sorted(workdays)}
        if not isinstance(value, Mapping):
            self.report(
                entry,
                "hours must be 'HH:MM-HH:MM' or a mapping of weekdays "
                "(mon, mon-thu, ...) to 'HH:MM-HH:MM'",
            )
            return None
        weekly: dict[int, tuple[tuple[int, int], ...]] = {}
        for key, span in value.items():
            days = self.read_day_range(entry, key)
            intervals = self.read_intervals(f"{entry}.{key}", span)
            if days is None or intervals is None:
                continue
            for day in days:
                name = WEEKDAY_NAMES[day]
                if day in weekly:
                    self.report(f"{entry}.{key}", f"weekday {name!r} is given hours twice")
                elif workdays is not None and day not in workdays:
                    self.report(
                        f"{entry}.{key}",
                        f"hours for {name!r}, which is not one of the calendar's weekdays",
                    )
                else:
                    weekly[day] = intervals
        uncovered = [WEEKDAY_NAMES[day] for day in sorted((workdays or set()) - weekly.keys())]
        # After a bad key above, that key is the likelier cause of the uncovered days.
        if uncovered and self.problem_count == mark:
            listed = ", ".join(repr(day) for day in uncovered)
            have = "has" if len(uncovered) == 1 else "have"
            self.report(
                entry, f"working weekday{'s' * (len(uncovered) > 1)} {listed} {have} no hours"
            )
        if workdays is None or self.problem_count > mark:
            return None
        return dict(sorted(weekly.items()))

    def read_day_range(self, entry: str, key: object) -> range | None:
        """The weekdays a key of `hours` names: one day (fri) or a range of them (mon-thu)."""
        parts: list[object] = list(key.split("-", 1)) if isinstance(key, str) else [key]
        names: list[str] = []
        for part in parts:
            if not isinstance(part, str) or part not in WEEKDAY_NAMES:
                self.report(
                    entry,
                    f"unknown weekday {part!r} in {key!r} "
                    f"(expected: {listing(WEEKDAY_NAMES)}, or a range such as mon-thu)",
                )
                return None
            names.append(part)
        first, last = WEEKDAY_NAMES.index(names[0]), WEEKDAY_NAMES.index(names[-1])
        if first > last:
            self.report(entry, f"weekday range {key!r} must run forward, mon to sun")
            return None
        return range(first, last + 1)

    def read_intervals(self, entry: str, value: object) -> tuple[tuple[int, int], ...] | None:
        spans = [value] if isinstance(value, str) else value
        if not isinstance(spans, list) or not spans:
            self.report(
                entry,
                f"bad hours {value!r}: expected 'HH:MM-HH:MM' such "
                "as '07:30-16:00', or a list of them",
            )
            return None
        intervals: list[tuple[int, int]] = []
        for span in spans:
            interval = _interval(span)
            if isinstance(interval, str):
                self.report(entry, interval)
                return None
            intervals.append(interval)
        intervals.sort()
        for (_s1, end1), (start2, _e2) in itertools.pairwise(intervals):
            if start2 < end1:
                self.report(entry, f"bad hours {value!r}: the intervals overlap")
                return None
        return tuple(intervals)

    def read_days_off(self, entry: str, value: object) -> frozenset[date]:
        if not isinstance(value, list):
            self.report(entry, f"days_off must be a list of ISO dates, not {value!r}")
            return frozenset()
        days: set[date] = set()
        for item in value:
            day = _iso_date(item)
            if day is None:
                self.report(
                    entry, f"bad date {item!r}: expected an ISO date YYYY-MM-DD such as 2026-12-24"
                )
            elif day in days:
                self.report(entry, f"date {day.isoformat()} is listed twice")
            else:
                days.add(day)
        return frozenset(days)


def _interval(span: object) -> tuple[int, int] | str:
    """The (start, end) minutes of 'HH:MM-HH:MM', or a message saying what is wrong with it."""
    match = _HOURS.fullmatch(span) if isinstance(span, str) else None
    if match is None:
        return f"bad hours {span!r}: expected 'HH:MM-HH:MM' such as '07:30-16:00'"
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > MINUTES_PER_DAY:
        return f"bad hours {span!r}: times run from 00:00 to 23:59, with 24:00 allowed as an end"
    if start >= end:
        return f"bad hours {span!r}: the start must be before the end"
    return (start, end)


_HOURS = re.compile(r"\s*(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None
