"""The timer's index of due cases: each case once per due time, superseded entries skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pantau_tracker.domain.timers import DueIndex

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_pops_only_due_cases_in_due_order() -> None:
    """Cases come out when due, earliest first, with their partition; later ones stay."""
    index = DueIndex()
    index.set(b"a|2", 3, T0 + timedelta(seconds=2))
    index.set(b"a|1", 1, T0 + timedelta(seconds=1))
    index.set(b"a|9", 5, T0 + timedelta(hours=1))
    due = index.pop_due(T0 + timedelta(seconds=5), limit=10)
    assert [(key, partition) for key, partition, _ in due] == [(b"a|1", 1), (b"a|2", 3)]
    assert len(index) == 1


def test_a_case_is_popped_once_until_indexed_again() -> None:
    """A popped case does not come back every tick; re-indexing brings it back."""
    index = DueIndex()
    index.set(b"a|1", 0, T0)
    assert len(index.pop_due(T0, limit=10)) == 1
    assert index.pop_due(T0 + timedelta(seconds=1), limit=10) == []
    index.set(b"a|1", 0, T0 + timedelta(seconds=3))
    assert len(index.pop_due(T0 + timedelta(seconds=3), limit=10)) == 1


def test_rescheduled_and_removed_cases_are_not_popped_at_their_old_time() -> None:
    """Moving a case's due time later, or removing it, supersedes the old heap entry."""
    index = DueIndex()
    index.set(b"a|1", 0, T0)
    index.set(b"a|1", 0, T0 + timedelta(days=1))
    index.set(b"a|2", 0, T0)
    index.set(b"a|2", 0, None)
    assert index.pop_due(T0 + timedelta(seconds=1), limit=10) == []
    assert [key for key, _, _ in index.pop_due(T0 + timedelta(days=2), limit=10)] == [b"a|1"]


def test_limit_bounds_one_tick() -> None:
    """At most `limit` cases per tick; the rest wait for the next one."""
    index = DueIndex()
    for n in range(5):
        index.set(f"a|{n}".encode(), 0, T0)
    assert len(index.pop_due(T0, limit=3)) == 3
    assert len(index.pop_due(T0, limit=3)) == 2
