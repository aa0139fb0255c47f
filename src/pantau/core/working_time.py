"""Working-time calendars: office hours, weekends, Indonesian holidays and days off."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from pantau.core.durations import Duration, DurationUnit

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class CalendarSpec:
    """A calendar as the catalog declares it.

    `weekly_hours` maps a weekday (0 = Monday .. 6 = Sunday) to its open intervals in minutes
    since local midnight, `(start, end)` with 0 <= start < end <= 1440; a weekday absent from the
    mapping is not a working day. `holiday_country` is an ISO country code for the `holidays`
    package (e.g. "ID") or None.
    """

    id: str
    timezone: str
    weekly_hours: Mapping[int, tuple[tuple[int, int], ...]]
    holiday_country: str | None = None
    days_off: frozenset[date] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ClockStop:
    """A period when a case's clock was stopped (`clock: stop` until `clock: resume`).

    `resumed_at` is None while the clock is still stopped.
    """

    stopped_at: datetime
    resumed_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self.stopped_at, "stopped_at")
        if self.resumed_at is not None:
            _require_aware(self.resumed_at, "resumed_at")
            if self.resumed_at < self.stopped_at:
                raise ValueError(
                    f"a clock stop cannot resume ({self.resumed_at.isoformat()}) "
                    f"before it stopped ({self.stopped_at.isoformat()})"
                )


# Instants are handled in UTC inside this module: subtracting aware datetimes that share a
# zoneinfo tzinfo gives wall-clock differences, which are wrong across a DST change.
_Span = tuple[datetime, datetime]
_Stop = tuple[datetime, datetime | None]
_ZERO = timedelta(0)
_ONE_DAY = timedelta(days=1)
# Far longer than any real run of weekends, holidays and days off; beyond it the spec is broken
# and a search for the next working day would never end.
_MAX_IDLE_DAYS = 3660
_DEADLINES_KEPT = 65_536  # remembered deadlines per calendar; all forgotten at once beyond


class WorkingCalendar:
    """Working-time arithmetic over a `CalendarSpec`: working days, openings, deadlines, elapsed.

    Every method takes the instants it needs as timezone-aware datetimes (ValueError on naive
    ones) and answers in the calendar's timezone. National holidays are computed per year on
    first use and cached.
    """

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        try:
            self.tz = ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"calendar {spec.id!r}: unknown timezone {spec.timezone!r}") from None
        self._hours = _normalise_hours(spec)
        if spec.holiday_country is not None:
            try:
                holidays.country_holidays(spec.holiday_country)
            except NotImplementedError:
                raise ValueError(
                    f"calendar {spec.id!r}: no holiday data for country {spec.holiday_country!r}"
                ) from None
        self._holidays_by_year: dict[int, frozenset[date]] = {}
        self._spans_by_day: dict[date, tuple[_Span, ...]] = {}
        # The same limits are asked of the same starts again and again (a queue's waiting cases
        # on every step of their service, a case's running limits on each of its events).
        self._deadlines: dict[
            tuple[datetime, Duration, tuple[ClockStop, ...]], datetime | None
        ] = {}

    def __repr__(self) -> str:
        return f"WorkingCalendar({self.spec.id!r})"

    def is_working_day(self, day: date) -> bool:
        """True when `day` is a weekday with hours, not a national holiday and not a day off."""
        if isinstance(day, datetime):
            raise TypeError("is_working_day takes a date; use is_working_time for an instant")
        return (
            day.weekday() in self._hours
            and day not in self.spec.days_off
            and day not in self._holidays(day.year)
        )

    def is_working_time(self, at: datetime) -> bool:
        """True when `at` is inside a working day's hours (opening included, closing not)."""
        instant = _utc(at, "at")
        return any(
            opens <= instant < closes for opens, closes in self._spans(self._local_date(instant))
        )

    def next_opening(self, at: datetime) -> datetime:
        """The first working instant at or after `at`: `at` itself when it is working time."""
        return self._next_opening(_utc(at, "at")).astimezone(self.tz)

    def deadline(
        self, start: datetime, limit: Duration, stops: Iterable[ClockStop] = ()
    ) -> datetime | None:
        """When `limit`, counted from `start`, runs out; None while a clock stop keeps it open.

        Working units count from the next opening when `start` is outside working time;
        `working_days` lands on the same working-clock position `limit.amount` working days
        later, clamped to that day's closing. Wall units (days, hours, minutes) ignore the
        calendar. Stopped time that begins before the deadline extends it by its length in the
        unit's kind of time; a stop still open at that point means there is no deadline yet.
        """
        stops = tuple(stops)
        key = (start, limit, stops)
        try:
            return self._deadlines[key]
        except KeyError:
            pass
        due = self._deadline(start, limit, stops)
        if len(self._deadlines) >= _DEADLINES_KEPT:
            self._deadlines.clear()
        self._deadlines[key] = due
        return due

    def _deadline(
        self, start: datetime, limit: Duration, stops: tuple[ClockStop, ...]
    ) -> datetime | None:
        begin = _utc(start, "start")
        if limit.amount < 1:
            raise ValueError(f"a time limit must be at least 1 unit, not {limit}")
        if limit.unit is DurationUnit.WORKING_DAYS:
            due = self._add_working_days(begin, limit.amount)
        elif limit.unit is DurationUnit.WORKING_HOURS:
            due = self._add_working_time(begin, timedelta(hours=limit.amount))
        else:
            due = begin + limit.as_timedelta()
        for stopped, resumed in _merge_stops(stops):
            if stopped >= due:
                break  # the limit had already run out when the clock stopped
            if resumed is None:
                return None
            if resumed <= begin:
                continue
            lost_from = max(stopped, begin)
            if limit.unit.is_working_time:
                due = self._add_working_time(due, self._working_between(lost_from, resumed))
            else:
                due += resumed - lost_from
        return due.astimezone(self.tz)

    def working_time_before(self, end: datetime, amount: timedelta) -> datetime:
        """The latest instant from which `amount` of working time runs until `end`: `end` less
        `amount` of working time (a warning time before a deadline)."""
        instant = _utc(end, "end")
        if amount <= _ZERO:
            return instant.astimezone(self.tz)
        remaining = amount
        day = self._local_date(instant)
        idle = 0
        while True:
            spans = self._spans(day)
            idle = 0 if spans else idle + 1
            if idle > _MAX_IDLE_DAYS:
                raise ValueError(
                    f"calendar {self.spec.id!r} has no working day in the "
                    f"{_MAX_IDLE_DAYS} days before {day.isoformat()}"
                )
            for opens, closes in reversed(spans):
                if opens >= instant:
                    continue
                until = min(closes, instant)
                available = until - opens
                if remaining <= available:
                    return (until - remaining).astimezone(self.tz)
                remaining -= available
            day -= _ONE_DAY

    def working_elapsed(
        self, start: datetime, end: datetime, stops: Iterable[ClockStop] = ()
    ) -> timedelta:
        """Working time from `start` to `end` that the clock counted (stopped periods excluded).

        Negative when `end` is before `start`.
        """
        return self._counted(_utc(start, "start"), _utc(end, "end"), stops, working=True)

    def elapsed(
        self,
        start: datetime,
        end: datetime,
        unit: DurationUnit,
        stops: Iterable[ClockStop] = (),
    ) -> timedelta:
        """Counted time from `start` to `end` in `unit`'s kind of time: working or wall-clock.

        Stopped periods are excluded; negative when `end` is before `start`.
        """
        return self._counted(
            _utc(start, "start"), _utc(end, "end"), stops, working=unit.is_working_time
        )

    def _holidays(self, year: int) -> frozenset[date]:
        cached = self._holidays_by_year.get(year)
        if cached is None:
            country = self.spec.holiday_country
            cached = (
                frozenset()
                if country is None
                else frozenset(holidays.country_holidays(country, years=year))
            )
            self._holidays_by_year[year] = cached
        return cached

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def _spans(self, day: date) -> tuple[_Span, ...]:
        """The working intervals of `day` as UTC instants, empty on a non-working day."""
        # Deadlines are computed on every step, each walking days: a day's spans never change.
        found = self._spans_by_day.get(day)
        if found is None:
            found = self._spans_by_day[day] = self._compute_spans(day)
        return found

    def _compute_spans(self, day: date) -> tuple[_Span, ...]:
        if not self.is_working_day(day):
            return ()
        midnight = datetime.combine(day, time(), tzinfo=self.tz)
        # Wall-clock addition on the local midnight, so 24:00 is the next local midnight.
        return tuple(
            (
                (midnight + timedelta(minutes=opens)).astimezone(UTC),
                (midnight + timedelta(minutes=closes)).astimezone(UTC),
            )
            for opens, closes in self._hours[day.weekday()]
        )

    def _working_days_from(self, day: date) -> Iterator[tuple[_Span, ...]]:
        """The spans of each working day from `day` on, endlessly."""
        idle = 0
        while True:
            spans = self._spans(day)
            if spans:
                idle = 0
                yield spans
            else:
                idle += 1
                if idle > _MAX_IDLE_DAYS:
                    raise ValueError(
                        f"calendar {self.spec.id!r} has no working day in the "
                        f"{_MAX_IDLE_DAYS} days before {day.isoformat()}"
                    )
            day += _ONE_DAY

    def _next_opening(self, instant: datetime) -> datetime:
        days = self._working_days_from(self._local_date(instant))
        while True:
            for opens, closes in next(days):
                if closes > instant:
                    return max(opens, instant)

    def _add_working_time(self, instant: datetime, amount: timedelta) -> datetime:
        """The earliest instant by which `amount` of working time has passed since `instant`."""
        if amount <= _ZERO:
            return instant
        remaining = amount
        days = self._working_days_from(self._local_date(instant))
        while True:
            for opens, closes in next(days):
                if closes <= instant:
                    continue
                available = closes - max(opens, instant)
                if remaining <= available:
                    return max(opens, instant) + remaining
                remaining -= available

    def _add_working_days(self, instant: datetime, count: int) -> datetime:
        opened = self._next_opening(instant)
        first_day = self._local_date(opened)
        position = sum(
            (
                min(closes, opened) - opens
                for opens, closes in self._spans(first_day)
                if opens < opened
            ),
            _ZERO,
        )
        days = self._working_days_from(first_day + _ONE_DAY)
        for _ in range(count - 1):
            next(days)
        spans = next(days)
        # The earliest instant with that position, so a position reached exactly at a break
        # lands before the break, as a working-hours deadline would.
        for opens, closes in spans:
            if position <= closes - opens:
                return opens + position
            position -= closes - opens
        return spans[-1][1]

    def _working_between(self, start: datetime, end: datetime) -> timedelta:
        total = _ZERO
        day, last = self._local_date(start), self._local_date(end)
        while day <= last:
            for opens, closes in self._spans(day):
                overlap = min(closes, end) - max(opens, start)
                if overlap > _ZERO:
                    total += overlap
            day += _ONE_DAY
        return total

    def _counted(
        self, start: datetime, end: datetime, stops: Iterable[ClockStop], *, working: bool
    ) -> timedelta:
        if end < start:
            return -self._counted(end, start, stops, working=working)

        def measure(lo: datetime, hi: datetime) -> timedelta:
            return self._working_between(lo, hi) if working else hi - lo

        total = measure(start, end)
        for stopped, resumed in _merge_stops(stops):
            lo = max(stopped, start)
            hi = end if resumed is None else min(resumed, end)
            if hi > lo:
                total -= measure(lo, hi)
        return total


def _require_aware(at: datetime, name: str) -> None:
    if not isinstance(at, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at.isoformat()}")


def _utc(at: datetime, name: str) -> datetime:
    _require_aware(at, name)
    return at.astimezone(UTC)


def _normalise_hours(spec: CalendarSpec) -> dict[int, tuple[tuple[int, int], ...]]:
    """Validated weekly hours with each day's intervals sorted and touching ones merged."""
    hours: dict[int, tuple[tuple[int, int], ...]] = {}
    for weekday, intervals in spec.weekly_hours.items():
        if weekday not in range(7):
            raise ValueError(f"calendar {spec.id!r}: weekday {weekday!r} is not 0 (Mon) .. 6 (Sun)")
        merged: list[tuple[int, int]] = []
        for opens, closes in sorted(intervals):
            if not 0 <= opens < closes <= MINUTES_PER_DAY:
                raise ValueError(
                    f"calendar {spec.id!r}: interval ({opens}, {closes}) on weekday {weekday} "
                    f"must satisfy 0 <= start < end <= {MINUTES_PER_DAY}"
                )
            if merged and opens <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
            else:
                merged.append((opens, closes))
        if merged:
            hours[weekday] = tuple(merged)
    if not hours:
        raise ValueError(f"calendar {spec.id!r} has no working hours on any weekday")
    return hours


def _merge_stops(stops: Iterable[ClockStop]) -> list[_Stop]:
    """Stops in UTC, sorted, overlapping ones merged; an open stop swallows all later ones."""
    merged: list[_Stop] = []
    ordered = sorted(
        (
            (
                stop.stopped_at.astimezone(UTC),
                None if stop.resumed_at is None else stop.resumed_at.astimezone(UTC),
            )
            for stop in stops
        ),
        key=lambda span: span[0],
    )
    for stopped, resumed in ordered:
        if merged:
            first, last = merged[-1]
            if last is None:
                break
            if stopped <= last:
                merged[-1] = (first, None if resumed is None else max(last, resumed))
                continue
        merged.append((stopped, resumed))
    return merged
