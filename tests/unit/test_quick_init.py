"""`quick_init` builds the same frozen dataclass values as the dataclass's own `__init__`,
and refuses the classes it could not build exactly."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pantau.core.durations import Duration
from pantau.core.frozen import once, quick_init
from pantau_tracker.domain.case import Assessment, AwaitedStep, CaseState, RecentAlert, StepRecord
from pantau_tracker.domain.deadlines import StepDeadline
from pantau_tracker.domain.ordering import Held, Released
from pantau_tracker.domain.rulebook.case_step import CaseStep, RunningLimit
from pantau_tracker.domain.rulebook.officers import Completion, OfficerActivity
from pantau_tracker.domain.rulebook.queue import QueueState
from pantau_tracker.domain.rulebook.speed import SpeedState
from pantau_tracker.domain.rulebook.time_limits import Passed
from pantau_tracker.domain.tracking import Observation, Outcome


def sample() -> type[Any]:
    """A fresh frozen dataclass with every kind of field quick_init takes."""

    @dataclass(frozen=True)
    class Sample:
        first: int
        second: str | None
        third: tuple[int, ...] = ()
        fourth: list[int] = field(default_factory=list, hash=False)
        fifth: dict[str, int] = field(default_factory=dict, compare=False)

    return Sample


PLAIN = sample()
QUICK = quick_init(sample())

VALUES = st.tuples(
    st.integers(),
    st.none() | st.text(max_size=5),
    st.tuples(st.integers()) | st.just(()),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@given(VALUES, st.integers(min_value=2, max_value=5))
def test_the_same_values_as_the_dataclass_init(values: tuple[Any, ...], given_count: int) -> None:
    args = values[:given_count]
    plain, quick = PLAIN(*args), QUICK(*args)
    assert dataclasses.asdict(quick) == dataclasses.asdict(plain)
    assert repr(quick).removeprefix(type(quick).__qualname__) == repr(plain).removeprefix(
        type(plain).__qualname__
    )
    assert quick == QUICK(*args)
    assert hash(quick) == hash(QUICK(*args))
    named = QUICK(**dict(zip(("first", "second", "third", "fourth", "fifth"), args, strict=False)))
    assert named == quick
    assert dataclasses.replace(quick, first=values[0] + 1).first == values[0] + 1


def test_the_same_signature_and_still_frozen() -> None:
    assert list(inspect.signature(QUICK).parameters) == list(inspect.signature(PLAIN).parameters)
    assert QUICK.__init__.__qualname__ == "sample.<locals>.Sample.__init__"
    value = QUICK(1, "a")
    assert (value.third, value.fourth, value.fifth) == ((), [], {})
    assert QUICK(1, "a").fourth is not value.fourth  # a fresh object from each factory call
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.first = 2
    with pytest.raises(TypeError):
        QUICK(1)  # a required field missing
    with pytest.raises(TypeError):
        QUICK(1, "a", (), [], {}, "sixth")


def test_refuses_what_it_cannot_build_exactly() -> None:
    @dataclass
    class Plain:
        value: int

    @dataclass(frozen=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class Slotted:
        value: int

    @dataclass(frozen=True)
    class KeywordOnly:
        value: int = field(kw_only=True)

    @dataclass(frozen=True)
    class Derived:
        value: int = field(init=False, default=0)

    @dataclass(frozen=True)
    class Clashing:
        values: int

    for cls in (Plain, Checked, Slotted, KeywordOnly, Derived, Clashing):
        with pytest.raises(TypeError):
            quick_init(cls)


@pytest.mark.parametrize(
    "cls",
    [
        Duration, AwaitedStep, CaseState, RecentAlert, StepRecord, Held, Released, CaseStep,
        RunningLimit, Completion, OfficerActivity, QueueState, SpeedState, Passed, Observation,
        Outcome, Assessment, StepDeadline,
    ],
)  # fmt: skip
def test_the_tracker_values_take_their_fields_in_order(cls: type[Any]) -> None:
    """Each value the tracker builds per event takes its fields as its dataclass declares
    them: by position, by name, and with their defaults."""
    fields = dataclasses.fields(cls)
    assert list(inspect.signature(cls).parameters) == [f.name for f in fields]
    markers = [object() for _ in fields]
    by_position = cls(*markers)
    by_name = cls(**{f.name: marker for f, marker in zip(fields, markers, strict=True)})
    for f, marker in zip(fields, markers, strict=True):
        assert getattr(by_position, f.name) is marker
        assert getattr(by_name, f.name) is marker
    required = [marker for f, marker in zip(fields, markers, strict=True) if _required(f)]
    defaulted = cls(*required)
    for f in fields:
        if f.default is not dataclasses.MISSING:
            assert getattr(defaulted, f.name) == f.default
        elif f.default_factory is not dataclasses.MISSING:
            assert getattr(defaulted, f.name) == f.default_factory()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(by_position, fields[0].name, None)


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def test_once_works_a_value_out_on_first_use_and_keeps_it() -> None:
    """`once` calls its function on the first read only; the value lives in the instance's
    dictionary, outside equality, hashing and `replace`."""
    calls: list[int] = []

    @quick_init
    @dataclass(frozen=True)
    class Point:
        x: int
        y: int

        @once
        def norm(self) -> int:
            calls.append(self.x)
            return abs(self.x) + abs(self.y)

    point = Point(3, -4)
    assert "norm" not in point.__dict__
    assert point.norm == 7
    assert point.norm == 7
    assert calls == [3]
    assert point.__dict__["norm"] == 7
    assert point == Point(3, -4)
    assert hash(point) == hash(Point(3, -4))
    moved = dataclasses.replace(point, x=1)
    assert "norm" not in moved.__dict__
    assert moved.norm == 5
    assert calls == [3, 1]
    assert isinstance(Point.__dict__["norm"], once)
    assert Point.norm.__doc__ is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 0  # type: ignore[misc]
