"""Working-time arithmetic on the contract's `id-gov` calendar and a few edge calendars.

Expected instants are hand-computed from the 2026 Indonesian holidays that the `holidays`
package knows: New Year 1 Jan, Isra Mi'raj 16 Jan, Lunar New Year 17 Feb, Nyepi 19 Mar,
Idul Fitri 21-22 Mar (a weekend), Good Friday 3 Apr, 1 May, Ascension 14 May, Idul Adha
27 May, Pancasila 1 Jun, 17 Aug, Christmas 25 Dec; 1 Jan 2027 is a Friday holiday.
id-gov is open Mon-Thu 07:30-16:00 (8.5 h) and Fri 07:30-16:30 (9 h); 24 Dec 2026 is a day off.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pantau.core.durations import Duration, DurationUnit, parse_duration
from pantau.core.working_time import CalendarSpec, ClockStop, WorkingCalendar

WIB = ZoneInfo("Asia/Jakarta")
WIT = timezone(timedelta(hours=9))

ID_GOV = CalendarSpec(
    id="id-gov",
    timezone="Asia/Jakarta",
    weekly_hours={
        0: ((450, 960),),
        1: ((450, 960),),
        2: ((450, 960),),
        3: ((450, 960),),
        4: ((450, 990),),
    },
    holiday_country="ID",
    days_off=frozenset({date(2026, 12, 24)}),
)
ALWAYS = CalendarSpec(
    id="always", timezone="UTC", weekly_hours={wd: ((0, 1440),) for wd in range(7)}
)
LUNCH = CalendarSpec(
    id="lunch",
    timezone="Asia/Jakarta",
    weekly_hours={wd: ((480, 720), (780, 960)) for wd in range(5)},
)


@pytest.fixture(scope="module")
def gov() -> WorkingCalendar:
    return WorkingCalendar(ID_GOV)


def wib(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=WIB)


def d(text: str) -> Duration:
    return parse_duration(text)


# --- working days -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "holiday",
    [
        date(2026, 1, 1),
        date(2026, 1, 16),
        date(2026, 2, 17),
        date(2026, 3, 19),
        date(2026, 4, 3),
        date(2026, 5, 1),
        date(2026, 5, 14),
        date(2026, 5, 27),
        date(2026, 6, 1),
        date(2026, 8, 17),
        date(2026, 12, 25),
        date(2027, 1, 1),
    ],
)
def test_national_holidays_on_weekdays_are_not_working_days(
    gov: WorkingCalendar, holiday: date
) -> None:
    """A national holiday of Indonesia falling on a weekday is not a working day."""
    assert holiday.weekday() < 5
    assert not gov.is_working_day(holiday)


def test_weekend_is_not_a_working_day(gov: WorkingCalendar) -> None:
    """Saturday and Sunday have no hours in id-gov."""
    assert not gov.is_working_day(date(2026, 3, 7))
    assert not gov.is_working_day(date(2026, 3, 8))


def test_ordinary_weekdays_are_working_days(gov: WorkingCalendar) -> None:
    """Weekdays that are neither holidays nor days off are working days, Friday included."""
    assert gov.is_working_day(date(2026, 3, 18))
    assert gov.is_working_day(date(2026, 3, 20))
    assert gov.is_working_day(date(2026, 12, 23))


def test_day_off_is_not_a_working_day(gov: WorkingCalendar) -> None:
    """The catalog's extra day off (cuti bersama, 24 Dec) is not a working day."""
    assert not gov.is_working_day(date(2026, 12, 24))


def test_without_holiday_country_holidays_are_working_days() -> None:
    """A calendar without a holiday country works on Christmas if it is a weekday with hours."""
    calendar = WorkingCalendar(
        CalendarSpec(id="plain", timezone="Asia/Jakarta", weekly_hours=ID_GOV.weekly_hours)
    )
    assert calendar.is_working_day(date(2026, 12, 25))


def test_is_working_day_rejects_a_datetime(gov: WorkingCalendar) -> None:
    """An instant passed as a day is refused rather than judged in an unknown timezone."""
    with pytest.raises(TypeError):
        gov.is_working_day(wib(3, 18, 10))


# --- working time and openings --------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (wib(3, 2, 7, 29), False),
        (wib(3, 2, 7, 30), True),
        (wib(3, 2, 15, 59), True),
        (wib(3, 2, 16, 0), False),
        (wib(3, 6, 16, 15), True),
        (wib(3, 6, 16, 30), False),
        (wib(3, 7, 10, 0), False),
        (wib(3, 19, 10, 0), False),
    ],
)
def test_is_working_time_bounds(gov: WorkingCalendar, at: datetime, expected: bool) -> None:
    """Opening is inside, closing is outside; Friday runs to 16:30; weekends and holidays never."""
    assert gov.is_working_time(at) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (wib(3, 2, 10, 0), wib(3, 2, 10, 0)),
        (wib(3, 2, 6, 0), wib(3, 2, 7, 30)),
        (wib(3, 2, 17, 0), wib(3, 3, 7, 30)),
        (wib(3, 7, 11, 0), wib(3, 9, 7, 30)),
        (wib(3, 18, 16, 0), wib(3, 20, 7, 30)),
        (wib(12, 23, 16, 5), wib(12, 28, 7, 30)),
    ],
)
def test_next_opening(gov: WorkingCalendar, at: datetime, expected: datetime) -> None:
    """Inside hours is itself; otherwise the next opening, skipping weekends, Nyepi, 24-25 Dec."""
    assert gov.next_opening(at) == expected


def test_outputs_are_in_the_calendar_timezone(gov: WorkingCalendar) -> None:
    """Answers carry the calendar's zoneinfo, whatever offset the input had."""
    result = gov.next_opening(datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
    assert result.tzinfo == WIB
    assert result.utcoffset() == timedelta(hours=7)
    assert (result.hour, result.minute) == (10, 0)


def test_utc_input_is_judged_in_jakarta_time(gov: WorkingCalendar) -> None:
    """00:30 UTC on Monday is 07:30 WIB (open); 23:00 UTC Sunday is Monday 06:00 WIB (closed)."""
    assert gov.is_working_time(datetime(2026, 3, 2, 0, 30, tzinfo=UTC))
    sunday_night_utc = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert not gov.is_working_time(sunday_night_utc)
    assert gov.next_opening(sunday_night_utc) == wib(3, 2, 7, 30)


def test_input_in_eastern_indonesia_offset(gov: WorkingCalendar) -> None:
    """09:30 WIT (+09:00) is 07:30 WIB: the opening, and deadlines count from it."""
    start = datetime(2026, 3, 2, 9, 30, tzinfo=WIT)
    assert gov.is_working_time(start)
    assert gov.deadline(start, d("2 working_hours")) == wib(3, 2, 9, 30)


# --- working_days deadlines -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "limit", "expected"),
    [
        (wib(3, 2, 10, 0), "3 working_days", wib(3, 5, 10, 0)),
        (wib(3, 5, 10, 0), "3 working_days", wib(3, 10, 10, 0)),
        (wib(3, 18, 10, 0), "3 working_days", wib(3, 24, 10, 0)),
        (wib(4, 2, 9, 0), "3 working_days", wib(4, 8, 9, 0)),
        (wib(5, 13, 10, 0), "3 working_days", wib(5, 19, 10, 0)),
        (wib(5, 26, 10, 0), "3 working_days", wib(6, 2, 10, 0)),
        (wib(8, 14, 11, 0), "1 working_days", wib(8, 18, 11, 0)),
    ],
    ids=[
        "within-a-week",
        "over-a-weekend",
        "over-nyepi-and-lebaran-weekend",
        "over-good-friday-long-weekend",
        "over-ascension-thursday",
        "over-idul-adha-and-pancasila",
        "over-independence-monday",
    ],
)
def test_working_days_skip_weekends_and_holidays(
    gov: WorkingCalendar, start: datetime, limit: str, expected: datetime
) -> None:
    """n working days later, at the same clock position, skipping weekends and holidays."""
    assert gov.deadline(start, d(limit)) == expected


def test_working_days_start_before_opening(gov: WorkingCalendar) -> None:
    """A start before opening counts from that day's opening: Mon 06:00 + 1 wd = Tue 07:30."""
    assert gov.deadline(wib(3, 2, 6, 0), d("1 working_days")) == wib(3, 3, 7, 30)


def test_working_days_start_after_closing(gov: WorkingCalendar) -> None:
    """A start after closing counts from the next opening: Mon 17:00 + 1 wd = Wed 07:30."""
    assert gov.deadline(wib(3, 2, 17, 0), d("1 working_days")) == wib(3, 4, 7, 30)


def test_working_days_start_on_saturday(gov: WorkingCalendar) -> None:
    """A Saturday start counts from Monday's opening: + 1 wd = Tuesday 07:30."""
    assert gov.deadline(wib(3, 7, 11, 0), d("1 working_days")) == wib(3, 10, 7, 30)


def test_working_days_start_on_holiday(gov: WorkingCalendar) -> None:
    """A start on Nyepi (Thu) counts from Friday's opening: + 1 wd = Monday 07:30."""
    assert gov.deadline(wib(3, 19, 10, 0), d("1 working_days")) == wib(3, 23, 7, 30)


def test_friday_late_position_clamps_to_monday_closing(gov: WorkingCalendar) -> None:
    """Fri 16:20 is 8h50 into Friday; Monday has only 8h30, so the deadline is Mon 16:00."""
    assert gov.deadline(wib(3, 6, 16, 20), d("1 working_days")) == wib(3, 9, 16, 0)


def test_friday_late_position_fits_on_next_friday(gov: WorkingCalendar) -> None:
    """Fri 16:20 + 5 working days lands on the next Friday at 16:20, no clamping needed."""
    assert gov.deadline(wib(3, 6, 16, 20), d("5 working_days")) == wib(3, 13, 16, 20)


def test_working_days_across_christmas_and_day_off(gov: WorkingCalendar) -> None:
    """Wed 23 Dec + 1 wd skips the 24 Dec day off, Christmas and the weekend: Mon 28 Dec."""
    assert gov.deadline(wib(12, 23, 10, 0), d("1 working_days")) == wib(12, 28, 10, 0)


def test_working_days_across_the_year_boundary(gov: WorkingCalendar) -> None:
    """Thu 31 Dec 2026 + 1 wd skips New Year (Fri) and the weekend: Mon 4 Jan 2027."""
    assert gov.deadline(wib(12, 31, 10, 0), d("1 working_days")) == wib(1, 4, 10, 0, year=2027)


def test_sixty_working_days(gov: WorkingCalendar) -> None:
    """Mon 5 Jan + 60 wd (skipping 16 Jan, 17 Feb, 19 Mar) is Thu 2 Apr at the same time."""
    assert gov.deadline(wib(1, 5, 9, 0), d("60 working_days")) == wib(4, 2, 9, 0)


# --- working_hours deadlines ----------------------------------------------------------------


def test_working_hours_within_a_day(gov: WorkingCalendar) -> None:
    """Mon 08:00 + 4 working hours = Mon 12:00."""
    assert gov.deadline(wib(3, 2, 8, 0), d("4 working_hours")) == wib(3, 2, 12, 0)


def test_working_hours_spanning_the_night(gov: WorkingCalendar) -> None:
    """Mon 14:00 + 4 wh: 2 h on Monday, 2 h from Tuesday's opening = Tue 09:30."""
    assert gov.deadline(wib(3, 2, 14, 0), d("4 working_hours")) == wib(3, 3, 9, 30)


def test_working_hours_use_fridays_longer_hours(gov: WorkingCalendar) -> None:
    """Fri 14:00 + 3 wh: 2.5 h to 16:30 Friday, then 0.5 h Monday = Mon 08:00."""
    assert gov.deadline(wib(3, 6, 14, 0), d("3 working_hours")) == wib(3, 9, 8, 0)


def test_working_hours_thursday_closes_at_four(gov: WorkingCalendar) -> None:
    """Thu 14:00 + 3 wh: 2 h to 16:00 Thursday, then 1 h Friday = Fri 08:30."""
    assert gov.deadline(wib(3, 5, 14, 0), d("3 working_hours")) == wib(3, 6, 8, 30)


def test_working_hours_ending_at_closing_stay_at_closing(gov: WorkingCalendar) -> None:
    """A limit used up exactly at closing is due at closing, not at the next opening."""
    assert gov.deadline(wib(3, 2, 8, 0), d("8 working_hours")) == wib(3, 2, 16, 0)


def test_working_hours_start_on_holiday(gov: WorkingCalendar) -> None:
    """Nyepi 10:00 + 2 wh counts from Friday 07:30: Fri 09:30."""
    assert gov.deadline(wib(3, 19, 10, 0), d("2 working_hours")) == wib(3, 20, 9, 30)


def test_working_hours_across_the_year_boundary(gov: WorkingCalendar) -> None:
    """Thu 31 Dec 15:00 + 3 wh: 1 h on 31 Dec, then 2 h from Mon 4 Jan 2027 = 09:30."""
    assert gov.deadline(wib(12, 31, 15, 0), d("3 working_hours")) == wib(1, 4, 9, 30, year=2027)


def test_working_hours_from_utc_input(gov: WorkingCalendar) -> None:
    """01:00 UTC is 08:00 WIB; + 4 wh = 12:00 WIB, which is 05:00 UTC."""
    due = gov.deadline(datetime(2026, 3, 2, 1, 0, tzinfo=UTC), d("4 working_hours"))
    assert due == wib(3, 2, 12, 0)
    assert due == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


# --- wall-clock units -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("2 days", wib(3, 8, 16, 20)),
        ("3 hours", wib(3, 6, 19, 20)),
        ("90 minutes", wib(3, 6, 17, 50)),
    ],
)
def test_wall_units_ignore_the_calendar(
    gov: WorkingCalendar, limit: str, expected: datetime
) -> None:
    """days/hours/minutes run through closing hours and weekends."""
    assert gov.deadline(wib(3, 6, 16, 20), d(limit)) == expected


def test_wall_units_run_through_holidays(gov: WorkingCalendar) -> None:
    """A wall-clock limit started on Nyepi counts every hour of it."""
    assert gov.deadline(wib(3, 19, 10, 0), d("1 days")) == wib(3, 20, 10, 0)


def test_jakarta_has_no_dst_shift(gov: WorkingCalendar) -> None:
    """Across Europe's DST change (29 Mar) Jakarta stays +07:00 and a day is 24 hours."""
    due = gov.deadline(wib(3, 28, 10, 0), d("1 days"))
    assert due == wib(3, 29, 10, 0)
    assert due is not None
    assert due.utcoffset() == timedelta(hours=7)
    assert gov.elapsed(wib(3, 28, 10, 0), wib(3, 29, 10, 0), DurationUnit.HOURS) == timedelta(
        hours=24
    )


# --- clock stops ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "limit", "stops", "expected"),
    [
        # Mon 08:00 + 4 wh with the clock stopped 09:00-10:00 is due at 13:00.
        pytest.param(
            wib(3, 2, 8, 0),
            "4 working_hours",
            [ClockStop(wib(3, 2, 9, 0), wib(3, 2, 10, 0))],
            wib(3, 2, 13, 0),
            id="within-a-day-extends-working-hours",
        ),
        # Stop Mon 15:00 - Tue 09:00 holds 2.5 working hours: Thu 10:00 moves to Thu 12:30.
        pytest.param(
            wib(3, 2, 10, 0),
            "3 working_days",
            [ClockStop(wib(3, 2, 15, 0), wib(3, 3, 9, 0))],
            wib(3, 5, 12, 30),
            id="across-days-extends-by-its-working-time",
        ),
        # Stop Fri 15:00 - Mon 08:30 holds 1.5 h Friday + 1 h Monday: Mon 10:00 -> Mon 12:30.
        pytest.param(
            wib(3, 6, 10, 0),
            "1 working_days",
            [ClockStop(wib(3, 6, 15, 0), wib(3, 9, 8, 30))],
            wib(3, 9, 12, 30),
            id="across-a-weekend-counts-working-time-only",
        ),
        # The same stop holds 65.5 wall hours: 3 days from Fri 10:00 moves to Thu 03:30.
        pytest.param(
            wib(3, 6, 10, 0),
            "3 days",
            [ClockStop(wib(3, 6, 15, 0), wib(3, 9, 8, 30))],
            wib(3, 12, 3, 30),
            id="across-a-weekend-counts-wall-time-for-wall-units",
        ),
        # A stop from Mon 17:00 to Tue 07:00 holds no working time: still due Tue 09:30.
        pytest.param(
            wib(3, 2, 14, 0),
            "4 working_hours",
            [ClockStop(wib(3, 2, 17, 0), wib(3, 3, 7, 0))],
            wib(3, 3, 9, 30),
            id="in-closed-hours-does-not-extend",
        ),
        # Fri 06:00 + 9 wh is due at 16:30; a 06:30-07:00 stop holds no working time.
        pytest.param(
            wib(3, 6, 6, 0),
            "9 working_hours",
            [ClockStop(wib(3, 6, 6, 30), wib(3, 6, 7, 0))],
            wib(3, 6, 16, 30),
            id="without-working-time-keeps-a-closing-deadline",
        ),
        # While a stop that began before the deadline is still open, there is no deadline.
        pytest.param(
            wib(3, 2, 10, 0),
            "3 working_days",
            [ClockStop(wib(3, 3, 9, 0), None)],
            None,
            id="open-before-deadline-gives-no-deadline",
        ),
        # A step started while the case clock is stopped has no deadline yet.
        pytest.param(
            wib(3, 2, 10, 0),
            "2 hours",
            [ClockStop(wib(3, 1, 9, 0), None)],
            None,
            id="open-before-start-gives-no-deadline",
        ),
        # A stop opened after the deadline passed leaves the deadline where it was.
        pytest.param(
            wib(3, 2, 10, 0),
            "3 working_days",
            [ClockStop(wib(3, 5, 11, 0), None)],
            wib(3, 5, 10, 0),
            id="open-after-deadline-keeps-it",
        ),
        # Mon 08:00 + 4 wh is due 12:00; a 13:00-14:00 stop came too late to count.
        pytest.param(
            wib(3, 2, 8, 0),
            "4 working_hours",
            [ClockStop(wib(3, 2, 13, 0), wib(3, 2, 14, 0))],
            wib(3, 2, 12, 0),
            id="after-deadline-does-not-extend",
        ),
        # A stop beginning at the very instant the limit runs out does not extend it.
        pytest.param(
            wib(3, 2, 8, 0),
            "4 working_hours",
            [ClockStop(wib(3, 2, 12, 0), wib(3, 2, 14, 0))],
            wib(3, 2, 12, 0),
            id="starting-exactly-at-deadline-does-not-extend",
        ),
        # A 12:30 stop counts once the 09:00-10:00 stop pushed the deadline to 13:00: due 13:30.
        pytest.param(
            wib(3, 2, 8, 0),
            "4 working_hours",
            [
                ClockStop(wib(3, 2, 12, 30), wib(3, 2, 13, 0)),
                ClockStop(wib(3, 2, 9, 0), wib(3, 2, 10, 0)),
            ],
            wib(3, 2, 13, 30),
            id="unsorted-stops-chain-extensions",
        ),
        # Stops 09:00-10:00 and 09:30-10:30 hold 1.5 h together, not 2 h: due 13:30.
        pytest.param(
            wib(3, 2, 8, 0),
            "4 working_hours",
            [
                ClockStop(wib(3, 2, 9, 30), wib(3, 2, 10, 30)),
                ClockStop(wib(3, 2, 9, 0), wib(3, 2, 10, 0)),
            ],
            wib(3, 2, 13, 30),
            id="overlapping-stops-count-once",
        ),
        # A stop 09:30-10:00 inside a 09:00-11:00 stop adds nothing: 2 h held, due 14:00.
        pytest.param(
            wib(3, 2, 8, 0),
            "4 working_hours",
            [
                ClockStop(wib(3, 2, 9, 0), wib(3, 2, 11, 0)),
                ClockStop(wib(3, 2, 9, 30), wib(3, 2, 10, 0)),
            ],
            wib(3, 2, 14, 0),
            id="nested-stop-does-not-shorten-the-outer-one",
        ),
        # A stop that resumed before the start leaves a wall-clock deadline alone.
        pytest.param(
            wib(3, 2, 8, 0),
            "2 hours",
            [ClockStop(wib(3, 1, 9, 0), wib(3, 1, 10, 0))],
            wib(3, 2, 10, 0),
            id="before-start-does-not-shorten-a-wall-limit",
        ),
    ],
)
def test_clock_stops_move_the_deadline(
    gov: WorkingCalendar,
    start: datetime,
    limit: str,
    stops: list[ClockStop],
    expected: datetime | None,
) -> None:
    """A deadline moves by the time its clock stops hold in its own unit (None: no deadline)."""
    assert gov.deadline(start, d(limit), stops) == expected


def test_stop_before_start_counts_only_after_start(gov: WorkingCalendar) -> None:
    """A stop 07:00-09:00 with a start at 08:00 holds 1 h of this limit; an older one none."""
    start = wib(3, 2, 8, 0)
    straddling = [ClockStop(wib(3, 2, 7, 0), wib(3, 2, 9, 0))]
    older = [ClockStop(wib(2, 27, 9, 0), wib(2, 27, 10, 0))]
    assert gov.deadline(start, d("4 working_hours"), straddling) == wib(3, 2, 13, 0)
    assert gov.deadline(start, d("4 working_hours"), older) == wib(3, 2, 12, 0)


def test_stop_resuming_before_it_stopped_is_rejected() -> None:
    """A clock stop must not resume before it stopped."""
    with pytest.raises(ValueError, match="resume"):
        ClockStop(wib(3, 2, 10, 0), wib(3, 2, 9, 0))


# --- elapsed ----------------------------------------------------------------------------------


def test_working_elapsed_overnight(gov: WorkingCalendar) -> None:
    """Mon 15:00 -> Tue 08:30 is 1 h + 1 h of working time."""
    assert gov.working_elapsed(wib(3, 2, 15, 0), wib(3, 3, 8, 30)) == timedelta(hours=2)


def test_working_elapsed_across_a_holiday(gov: WorkingCalendar) -> None:
    """Wed 18 Mar 15:00 -> Fri 20 Mar 08:30 counts nothing on Nyepi: 2 h."""
    assert gov.working_elapsed(wib(3, 18, 15, 0), wib(3, 20, 8, 30)) == timedelta(hours=2)


def test_working_elapsed_full_week(gov: WorkingCalendar) -> None:
    """A plain week (2-6 Mar) holds 4 x 8.5 h + 9 h = 43 working hours."""
    assert gov.working_elapsed(wib(3, 2), wib(3, 9)) == timedelta(hours=43)


def test_working_elapsed_excludes_stops(gov: WorkingCalendar) -> None:
    """Stopped working time is not counted; an open stop cuts off the rest of the span."""
    start, end = wib(3, 2, 8, 0), wib(3, 2, 15, 0)
    closed = [ClockStop(wib(3, 2, 9, 0), wib(3, 2, 10, 30))]
    still_open = [ClockStop(wib(3, 2, 12, 0), None)]
    assert gov.working_elapsed(start, end, closed) == timedelta(hours=5, minutes=30)
    assert gov.working_elapsed(start, end, still_open) == timedelta(hours=4)


def test_working_elapsed_outside_hours_is_zero(gov: WorkingCalendar) -> None:
    """Between Friday's closing and Monday's opening no working time passes."""
    assert gov.working_elapsed(wib(3, 6, 16, 30), wib(3, 9, 7, 30)) == timedelta(0)


def test_working_elapsed_reversed_is_negative(gov: WorkingCalendar) -> None:
    """With end before start the answer is the negated forward span."""
    assert gov.working_elapsed(wib(3, 3, 8, 30), wib(3, 2, 15, 0)) == -timedelta(hours=2)


def test_elapsed_wall_units_ignore_the_calendar(gov: WorkingCalendar) -> None:
    """Wall units measure wall time, minus stopped wall time."""
    start, end = wib(3, 6, 16, 20), wib(3, 9, 8, 0)
    stops = [ClockStop(wib(3, 7, 0, 0), wib(3, 8, 0, 0))]
    assert gov.elapsed(start, end, DurationUnit.HOURS) == timedelta(hours=63, minutes=40)
    assert gov.elapsed(start, end, DurationUnit.DAYS, stops) == timedelta(hours=39, minutes=40)


def test_elapsed_working_units_measure_working_time(gov: WorkingCalendar) -> None:
    """Working units measure working time: Fri 16:20 -> Mon 08:00 is 10 + 30 minutes."""
    start, end = wib(3, 6, 16, 20), wib(3, 9, 8, 0)
    assert gov.elapsed(start, end, DurationUnit.WORKING_DAYS) == timedelta(minutes=40)
    assert gov.elapsed(start, end, DurationUnit.WORKING_HOURS) == timedelta(minutes=40)


# --- other calendars ----------------------------------------------------------------------------


def test_lunch_break_is_not_working_time() -> None:
    """With 08:00-12:00 and 13:00-16:00, lunch is closed and working hours skip it."""
    calendar = WorkingCalendar(LUNCH)
    assert not calendar.is_working_time(wib(3, 2, 12, 30))
    assert calendar.next_opening(wib(3, 2, 12, 30)) == wib(3, 2, 13, 0)
    assert calendar.deadline(wib(3, 2, 10, 0), d("3 working_hours")) == wib(3, 2, 14, 0)
    assert calendar.working_elapsed(wib(3, 2, 11, 0), wib(3, 2, 14, 0)) == timedelta(hours=2)


def test_working_days_position_on_a_break_lands_before_it() -> None:
    """A start in lunch counts from 13:00 (4 h in); the next day reaches 4 h at 12:00."""
    calendar = WorkingCalendar(LUNCH)
    assert calendar.deadline(wib(3, 2, 12, 30), d("1 working_days")) == wib(3, 3, 12, 0)
    assert calendar.deadline(wib(3, 2, 14, 0), d("1 working_days")) == wib(3, 3, 14, 0)


def test_working_days_clamp_on_a_short_day() -> None:
    """Position 5 h on Monday clamps to 12:00 on a Tuesday open only 08:00-12:00."""
    calendar = WorkingCalendar(
        CalendarSpec(
            id="short-tuesday",
            timezone="Asia/Jakarta",
            weekly_hours={0: ((480, 960),), 1: ((480, 720),)},
        )
    )
    assert calendar.deadline(wib(3, 2, 13, 0), d("1 working_days")) == wib(3, 3, 12, 0)


def test_full_day_hours_end_at_midnight() -> None:
    """A Monday-only 00:00-24:00 calendar: Mon 23:00 + 2 wh runs to next Monday 01:00."""
    calendar = WorkingCalendar(
        CalendarSpec(id="mondays", timezone="Asia/Jakarta", weekly_hours={0: ((0, 1440),)})
    )
    assert calendar.is_working_time(wib(3, 2, 23, 59))
    assert not calendar.is_working_time(wib(3, 3, 0, 0))
    assert calendar.deadline(wib(3, 2, 23, 0), d("2 working_hours")) == wib(3, 9, 1, 0)


def test_always_calendar_counts_every_hour() -> None:
    """The UTC `always` calendar: working time is wall time, working days are 24 h."""
    calendar = WorkingCalendar(ALWAYS)
    saturday = datetime(2026, 3, 7, 22, 0, tzinfo=UTC)
    assert calendar.is_working_time(saturday)
    assert calendar.deadline(saturday, d("30 working_hours")) == datetime(
        2026, 3, 9, 4, 0, tzinfo=UTC
    )
    assert calendar.deadline(saturday, d("2 working_days")) == datetime(
        2026, 3, 9, 22, 0, tzinfo=UTC
    )
    assert calendar.working_elapsed(saturday, saturday + timedelta(days=3)) == timedelta(days=3)


def test_always_calendar_answers_in_utc() -> None:
    """A Jakarta input to the UTC calendar comes back in UTC."""
    due = WorkingCalendar(ALWAYS).deadline(wib(3, 2, 10, 0), d("1 working_hours"))
    assert due == datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    assert due is not None
    assert due.utcoffset() == timedelta(0)


def test_dst_zone_counts_real_time() -> None:
    """In Amsterdam 29 Mar 2026 lasts 23 h, and working time across the shift is real time."""
    amsterdam = ZoneInfo("Europe/Amsterdam")
    all_day = WorkingCalendar(
        CalendarSpec(id="ams-24", timezone="Europe/Amsterdam", weekly_hours={6: ((0, 1440),)})
    )
    sunday = datetime(2026, 3, 29, tzinfo=amsterdam)
    assert all_day.working_elapsed(sunday, sunday + timedelta(days=1)) == timedelta(hours=23)
    office = WorkingCalendar(
        CalendarSpec(
            id="ams-office",
            timezone="Europe/Amsterdam",
            weekly_hours={wd: ((540, 1020),) for wd in range(7)},
        )
    )
    due = office.deadline(datetime(2026, 3, 28, 13, 0, tzinfo=amsterdam), d("8 working_hours"))
    assert due == datetime(2026, 3, 29, 13, 0, tzinfo=amsterdam)
    assert due is not None
    assert due.utcoffset() == timedelta(hours=2)


# --- rejected input -----------------------------------------------------------------------------


NAIVE = datetime(2026, 3, 2, 10, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.is_working_time(NAIVE),
        lambda c: c.next_opening(NAIVE),
        lambda c: c.deadline(NAIVE, d("1 working_days")),
        lambda c: c.working_elapsed(wib(3, 2), NAIVE),
        lambda c: c.elapsed(NAIVE, wib(3, 2), DurationUnit.HOURS),
        lambda c: ClockStop(NAIVE, None),
        lambda c: ClockStop(wib(3, 2), NAIVE),
    ],
    ids=[
        "is_working_time",
        "next_opening",
        "deadline",
        "working_elapsed",
        "elapsed",
        "stop",
        "resume",
    ],
)
def test_naive_datetimes_are_rejected(
    gov: WorkingCalendar, call: Callable[[WorkingCalendar], object]
) -> None:
    """Every instant must carry a timezone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        call(gov)


def test_zero_limit_is_rejected(gov: WorkingCalendar) -> None:
    """A limit below one unit is refused, as the duration parser does."""
    with pytest.raises(ValueError, match="at least 1"):
        gov.deadline(wib(3, 2, 10, 0), Duration(0, DurationUnit.WORKING_HOURS))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (CalendarSpec(id="never", timezone="UTC", weekly_hours={}), "no working hours"),
        (CalendarSpec(id="empty", timezone="UTC", weekly_hours={0: ()}), "no working hours"),
        (CalendarSpec(id="bad", timezone="UTC", weekly_hours={0: ((600, 500),)}), "interval"),
        (CalendarSpec(id="late", timezone="UTC", weekly_hours={0: ((0, 1441),)}), "interval"),
        (CalendarSpec(id="day", timezone="UTC", weekly_hours={7: ((0, 60),)}), "weekday"),
        (CalendarSpec(id="tz", timezone="Asia/Nowhere", weekly_hours={0: ((0, 60),)}), "timezone"),
        (
            CalendarSpec(
                id="xx", timezone="UTC", weekly_hours={0: ((0, 60),)}, holiday_country="XX"
            ),
            "holiday",
        ),
    ],
)
def test_broken_specs_are_rejected(spec: CalendarSpec, message: str) -> None:
    """A calendar with no working hours, bad intervals, zone or country fails to build."""
    with pytest.raises(ValueError, match=message):
        WorkingCalendar(spec)


def test_calendar_whose_every_working_weekday_is_off_fails() -> None:
    """Endless days off cannot loop forever: the search for a working day gives up."""
    first_monday = date(2026, 3, 2)
    mondays = frozenset(first_monday + timedelta(weeks=w) for w in range(600))
    calendar = WorkingCalendar(
        CalendarSpec(id="gone", timezone="UTC", weekly_hours={0: ((0, 60),)}, days_off=mondays)
    )
    with pytest.raises(ValueError, match="no working day"):
        calendar.next_opening(datetime(2026, 3, 2, tzinfo=UTC))


# --- properties ---------------------------------------------------------------------------------


def _starts() -> list[datetime]:
    """Every 47 minutes from Sat 14 Mar to Sat 28 Mar 2026: weekends, Nyepi, all hours."""
    first = wib(3, 14)
    return [first + timedelta(minutes=47 * i) for i in range(14 * 24 * 60 // 47)]


def test_property_working_hours_deadline_holds_exactly_n_hours(gov: WorkingCalendar) -> None:
    """deadline(start, n wh) is reached after exactly n working hours, and is working up to it."""
    for start in _starts():
        for hours in (1, 8, 9, 17, 40):
            due = gov.deadline(start, Duration(hours, DurationUnit.WORKING_HOURS))
            assert due is not None
            assert gov.working_elapsed(start, due) == timedelta(hours=hours), (start, hours)
            assert gov.is_working_time(due - timedelta(minutes=1)), (start, hours)


def test_property_stopped_deadline_holds_exactly_n_counted_hours(gov: WorkingCalendar) -> None:
    """With a closed stop, working_elapsed minus the stop up to the deadline is still n hours."""
    for start in _starts()[::3]:
        stops = [ClockStop(start + timedelta(hours=3), start + timedelta(hours=27))]
        for hours in (2, 9):
            due = gov.deadline(start, Duration(hours, DurationUnit.WORKING_HOURS), stops)
            assert due is not None
            assert gov.working_elapsed(start, due, stops) == timedelta(hours=hours), start


def test_property_working_elapsed_is_additive(gov: WorkingCalendar) -> None:
    """elapsed(a, c) = elapsed(a, b) + elapsed(b, c) for any b between them."""
    starts = _starts()
    for a, b, c in zip(starts[::5], starts[2::5], starts[4::5], strict=False):
        whole = gov.working_elapsed(a, c)
        assert whole == gov.working_elapsed(a, b) + gov.working_elapsed(b, c)


def test_property_one_working_day_lands_on_the_next_working_day(gov: WorkingCalendar) -> None:
    """deadline(start, 1 wd) falls on the first working day after the start's opening day."""
    for start in _starts()[::2]:
        due = gov.deadline(start, d("1 working_days"))
        assert due is not None
        opening_day = gov.next_opening(start).date()
        expected_day = opening_day + timedelta(days=1)
        while not gov.is_working_day(expected_day):
            expected_day += timedelta(days=1)
        assert due.date() == expected_day, start
