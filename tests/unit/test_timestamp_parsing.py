"""The RFC 3339 parser and the pseudonym key's shortcut give exactly what their plain
definitions give, for any input: the same datetime with the same offset, or the same refusal."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from pantau.core.events import format_rfc3339, parse_rfc3339, trusted_time
from pantau.core.pseudonym import PseudonymKey, pseudonymise_nik
from pantau_tracker.domain.rulebook.case_step import instant_text

_PATTERN = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


def reference(text: str) -> datetime:
    """The definition: every field through the pattern's groups, the range checked by
    converting to UTC."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ValueError("not RFC 3339")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, zulu, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10, 11)
    microsecond = int((fraction or "").ljust(6, "0")[:6])
    if zulu:
        tz = UTC
    else:
        hours, minutes = int(offset_hours), int(offset_minutes)
        if hours > 23 or minutes > 59:
            raise ValueError("offset")
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if sign == "-" else offset) if offset else UTC
    try:
        moment = datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)
        moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("range") from None
    return moment


def _outcome(parse: object, text: str) -> object:
    assert callable(parse)
    try:
        moment = parse(text)
    except ValueError:
        return "refused"
    return (moment, moment.utcoffset(), moment.isoformat())


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


_TIMESTAMPS = st.builds(
    lambda y, mo, d, t, h, mi, s, frac, zone: f"{y}-{mo}-{d}{t}{h}:{mi}:{s}{frac}{zone}",
    st.sampled_from(["0001", "0002", "1999", "2026", "9998", "9999"]) | _digits(4),
    st.sampled_from(["01", "02", "12", "13", "00"]) | _digits(2),
    st.sampled_from(["01", "28", "29", "30", "31", "00"]) | _digits(2),
    st.sampled_from(["T", "t", " "]),
    _digits(2),
    _digits(2),
    _digits(2),
    st.just("") | st.builds(lambda f: "." + f, st.text("0123456789", min_size=0, max_size=11)),
    st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+07:00", "-23:59", "+24:00", "+05:60"])
    | st.builds(lambda sign, h, m: f"{sign}{h}:{m}", st.sampled_from("+-"), _digits(2), _digits(2)),
)


@settings(max_examples=3000, deadline=None)
@given(_TIMESTAMPS | st.text(max_size=40))
def test_parse_rfc3339_is_the_definition(text: str) -> None:
    """Valid timestamps parse to the same instant and offset; everything else is refused."""
    assert _outcome(parse_rfc3339, text) == _outcome(reference, text)


@settings(max_examples=3000, deadline=None)
@given(_TIMESTAMPS)
def test_a_time_read_again_is_the_time_first_read(text: str) -> None:
    """`trusted_time` of a time the parser accepted, or of what `format_rfc3339` wrote of it,
    is the same instant with the same offset."""
    first = _outcome(parse_rfc3339, text)
    if first == "refused":
        return
    assert _outcome(trusted_time, text) == first
    written = format_rfc3339(parse_rfc3339(text))
    assert _outcome(trusted_time, written) == _outcome(parse_rfc3339, written)


def test_the_edges_of_the_calendar_are_refused_like_the_definition() -> None:
    """An instant that falls outside datetime's range in UTC is refused."""
    for text in (
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ):
        assert _outcome(parse_rfc3339, text) == _outcome(reference, text)


# A wall time, and the offsets (in minutes) to place it in, one after the other.
_WALL_TIMES = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31))
_OFFSETS = st.lists(
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59), min_size=1, max_size=4
)


def _placed(wall: datetime, offsets: list[int]) -> Iterator[tuple[datetime, list[datetime]]]:
    """`wall` in each offset, with the same instant in UTC and in the largest offset."""
    for minutes in offsets:
        moment = wall.replace(tzinfo=timezone(timedelta(minutes=minutes)))
        yield moment, [moment, moment.astimezone(UTC), moment.astimezone(timezone.max)]


@settings(max_examples=1000, deadline=None)
@given(_WALL_TIMES, _OFFSETS)
def test_instant_text_is_the_utc_text_whatever_was_written_before(
    wall: datetime, offsets: list[int]
) -> None:
    """`instant_text` keeps what it wrote by instant: the same instant in any offset, first or
    again, is written as its UTC time; a naive time is refused even when an aware one with the
    same wall time was written before."""
    for moment, equal in _placed(wall, offsets):
        expected = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
        for same in equal:
            assert instant_text(same) == expected
    instant_text(wall.replace(tzinfo=UTC))
    try:
        instant_text(wall)
    except ValueError:
        pass
    else:
        raise AssertionError("a naive time was written as an instant")


@settings(max_examples=1000, deadline=None)
@given(_WALL_TIMES, _OFFSETS)
def test_format_rfc3339_keeps_each_offset_whatever_was_written_before(
    wall: datetime, offsets: list[int]
) -> None:
    """`format_rfc3339` keeps what it wrote by instant and offset: the same instant written in
    other offsets before reads back as itself, in its own offset."""
    for moment, equal in _placed(wall, offsets):
        for same in [*equal, moment]:
            back = parse_rfc3339(format_rfc3339(same))
            assert back == same
            assert back.utcoffset() == same.utcoffset()


def test_format_rfc3339_writes_the_offset_of_each_side_of_a_fold() -> None:
    """In a zone whose offset changes, the two wall times of a fold compare equal as datetimes
    of one zone, yet have different offsets: each is written with its own."""
    zone = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 1, 30, tzinfo=zone)
    second = first.replace(fold=1)
    assert format_rfc3339(first) == "2026-11-01T01:30:00-04:00"
    assert format_rfc3339(second) == "2026-11-01T01:30:00-05:00"
    assert format_rfc3339(first) == "2026-11-01T01:30:00-04:00"


@given(_digits(16) | st.text(max_size=20), st.binary(min_size=16, max_size=64))
def test_the_key_gives_the_pseudonym_of_the_definition(nik: str, secret: bytes) -> None:
    """PseudonymKey.pseudonymise is pseudonymise_nik: same ref, same refusal of a bad NIK."""
    key = PseudonymKey(secret, "k7")
    try:
        expected: object = pseudonymise_nik(nik, secret, "k7")
    except ValueError:
        expected = "refused"
    try:
        got: object = key.pseudonymise(nik)
    except ValueError:
        got = "refused"
    assert got == expected
    if got != "refused":
        digest = hmac.new(secret, nik.encode(), hashlib.sha256).hexdigest()
        assert got == f"k7:{digest}"
