"""The batching rule of the sink, per table (pure: the caller passes the monotonic time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Partition = tuple[str, int]  # (topic, partition)


@dataclass
class TableBatch(Generic[Item]):
    """What one table has buffered since its last insert, and the Kafka offsets it covers.

    A batch is due when it holds `max_rows` records or its oldest record waited `max_seconds`:
    at least 1,000 rows per insert under load, at most one second of delay when quiet. Offsets
    are the next offset to consume per partition, committed only after the insert succeeded.
    Records that produce no row (invalid, duplicates) still count, so their offsets are committed.
    """

    max_rows: int
    max_seconds: float
    items: list[Item] = field(default_factory=list)
    offsets: dict[Partition, int] = field(default_factory=dict)
    records: int = 0
    opened_at: float | None = None

    def add(self, partition: Partition, offset: int, item: Item | None, now: float) -> None:
        """Take one record (its row, or None when it yields no row)."""
        if self.opened_at is None:
            self.opened_at = now
        if item is not None:
            self.items.append(item)
        self.records += 1
        self.offsets[partition] = max(self.offsets.get(partition, 0), offset + 1)

    def extend(
        self, partition: Partition, next_offset: int, items: list[Item], records: int, now: float
    ) -> None:
        """Take a run of records of one partition at once: their rows, how many records they
        were (with those that yield no row) and the offset after the last of them."""
        if self.opened_at is None:
            self.opened_at = now
        self.items.extend(items)
        self.records += records
        self.offsets[partition] = max(self.offsets.get(partition, 0), next_offset)

    def due(self, now: float, max_rows: int | None = None) -> bool:
        """True when the batch should be written now; `max_rows` overrides the row limit (the
        sink raises it while Kafka holds a backlog, for fewer and larger inserts)."""
        if self.opened_at is None:
            return False
        limit = self.max_rows if max_rows is None else max_rows
        return self.records >= limit or now - self.opened_at >= self.max_seconds

    def due_at(self) -> float | None:
        """When the batch becomes due by age; None when it is empty."""
        return None if self.opened_at is None else self.opened_at + self.max_seconds

    def followed_by(self, later: TableBatch[Item]) -> TableBatch[Item]:
        """This batch with `later`, taken after it, appended: a batch whose insert failed put
        back in front of what was buffered meanwhile, to be written again with it."""
        offsets = dict(self.offsets)
        for partition, offset in later.offsets.items():
            offsets[partition] = max(offsets.get(partition, 0), offset)
        opened_at = self.opened_at if self.opened_at is not None else later.opened_at
        return TableBatch(
            self.max_rows,
            self.max_seconds,
            [*self.items, *later.items],
            offsets,
            self.records + later.records,
            opened_at,
        )

    def emptied(self) -> TableBatch[Item]:
        """A new, empty batch with this one's limits."""
        return TableBatch(self.max_rows, self.max_seconds)

    def clear(self) -> None:
        """Forget everything, after a successful write or when partitions were taken away."""
        self.items = []
        self.offsets = {}
        self.records = 0
        self.opened_at = None
