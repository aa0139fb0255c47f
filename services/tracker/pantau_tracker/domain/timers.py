"""The deadline timer's index: which owned cases fall due when, without scanning every case."""

from __future__ import annotations

import heapq
from datetime import datetime


class DueIndex:
    """Cases of the owned partitions by the time their next deadline or expiry falls due.

    A heap with lazy deletion: `due` holds each case's current due time; heap entries that no
    longer match it are skipped when popped. Popping a case removes it until it is indexed again
    (by handling its check), so a case is checked once per due time, not once per tick.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, bytes]] = []
        self._due: dict[bytes, tuple[float, int]] = {}

    def __len__(self) -> int:
        return len(self._due)

    def clear(self) -> None:
        self._heap.clear()
        self._due.clear()

    def set(self, key: bytes, partition: int, when: datetime | None) -> None:
        if when is None:
            self._due.pop(key, None)
            return
        stamp = when.timestamp()
        if self._due.get(key) == (stamp, partition):
            return
        self._due[key] = (stamp, partition)
        heapq.heappush(self._heap, (stamp, key))

    def earliest(self) -> float | None:
        """The earliest due timestamp indexed, or None when nothing is due later."""
        while self._heap:
            due, key = self._heap[0]
            current = self._due.get(key)
            if current is not None and current[0] == due:
                return due
            heapq.heappop(self._heap)  # superseded: drop it now
        return None

    def pop_due(self, now: datetime, limit: int) -> list[tuple[bytes, int, float]]:
        """Up to `limit` cases due at `now`: (key, partition, due timestamp)."""
        stamp = now.timestamp()
        found: list[tuple[bytes, int, float]] = []
        while self._heap and self._heap[0][0] <= stamp and len(found) < limit:
            due, key = heapq.heappop(self._heap)
            current = self._due.get(key)
            if current is None or current[0] != due:
                continue  # superseded by a later indexing of the same case
            del self._due[key]
            found.append((key, current[1], due))
        return found
