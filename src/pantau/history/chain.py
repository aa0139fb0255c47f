"""Per-case hash chains: the pure rules of tamper evidence (no I/O, no clock).

Each case's events form a chain in the order the sink received them. An event's link holds its
`position` (1 = first), `prev_hash` (the hash of the event before it, empty for the first) and
`hash`, SHA-256 hex over:

- version 2 (sealed receipt): the ASCII `prev_hash`, the canonical event bytes, a newline, and
  the receipt bytes (when and where the broker received the event, see `records.receipt_bytes`);
- version 1 (rows stored before receipts were sealed): the ASCII `prev_hash` followed by the
  canonical event bytes.

`prev_hash` is either empty or exactly 64 hex digits, and compact JSON never holds a raw
newline, so each concatenation is unambiguous.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

CaseKey = tuple[str, str]  # (agency, case_id): case ids are unique within an agency


SEALED = 2  # the chain version that seals the receipt
LEGACY = 1  # the chain version of rows stored before receipts were sealed


def link_hash(prev_hash: str, canonical: bytes, receipt: bytes | None = None) -> str:
    """The chain hash of an event after `prev_hash`: over its canonical form and, when given,
    its receipt (version 2); over the canonical form alone without one (version 1)."""
    sealed = b"" if receipt is None else b"\n" + receipt
    return hashlib.sha256(prev_hash.encode("ascii") + canonical + sealed).hexdigest()


@dataclass(frozen=True)
class Link:
    """An event's place in its case's chain, and the chain version its hash follows."""

    position: int
    prev_hash: str
    hash: str
    version: int = SEALED


@dataclass(frozen=True, slots=True, eq=False)
class ChainHead:
    """The end of a case's chain as stored: last position and hash, and every event_id in it.

    The event ids let the single writer of a case refuse to chain an event twice after a crash
    or a replay, when the same record arrives again. They are a tuple, each id once, in no
    particular order (heads compare them as sets): the sink caches tens of thousands of heads,
    and a tuple of five ids takes 80 bytes where a frozenset takes 728 (a cached head about 860
    bytes in all instead of 1,300).
    """

    position: int
    hash: str
    event_ids: tuple[str, ...]

    @classmethod
    def of(cls, position: int, hash: str, event_ids: Iterable[str]) -> ChainHead:
        """The head with these event ids (repeats allowed)."""
        return cls(position, hash, tuple(set(event_ids)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChainHead):
            return NotImplemented
        return (
            self.position == other.position
            and self.hash == other.hash
            and len(self.event_ids) == len(other.event_ids)
            and set(self.event_ids) == set(other.event_ids)
        )

    def __hash__(self) -> int:
        return hash((self.position, self.hash, frozenset(self.event_ids)))

    @classmethod
    def empty(cls) -> ChainHead:
        """The head of a case with no stored event."""
        return cls(0, "", ())

    def extended(
        self, event_id: str, canonical: bytes, receipt: bytes | None = None
    ) -> tuple[ChainHead, Link] | None:
        """The new head and the event's link (sealing the receipt when given), or None when the
        event is already in the chain."""
        if event_id in self.event_ids:
            return None
        version = LEGACY if receipt is None else SEALED
        link = Link(self.position + 1, self.hash, link_hash(self.hash, canonical, receipt), version)
        return ChainHead(link.position, link.hash, (*self.event_ids, event_id)), link


def head_from_rows(rows: list[tuple[str, int, str]]) -> ChainHead:
    """The head of a stored chain from its rows `(event_id, position, hash)`, in any order.

    Duplicated rows (a retried insert) are harmless: the head is the highest position.
    """
    if not rows:
        return ChainHead.empty()
    _, position, last_hash = max(rows, key=lambda row: row[1])
    return ChainHead.of(position, last_hash, (row[0] for row in rows))


class ChainHeads:
    """A bounded LRU cache of chain heads, so the writer rarely has to ask ClickHouse.

    Bounded by case count: a case that falls out is loaded again from the store when it next
    has an event, which is always correct, only slower.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._heads: OrderedDict[CaseKey, ChainHead] = OrderedDict()

    def __len__(self) -> int:
        return len(self._heads)

    def __contains__(self, key: object) -> bool:
        return key in self._heads

    def get(self, key: CaseKey) -> ChainHead | None:
        """The cached head of a case, marking it recently used; None on a miss."""
        head = self._heads.get(key)
        if head is not None:
            self._heads.move_to_end(key)
        return head

    def put(self, key: CaseKey, head: ChainHead) -> None:
        """Remember a case's head, evicting the least recently used case beyond capacity."""
        self._heads[key] = head
        self._heads.move_to_end(key)
        while len(self._heads) > self._capacity:
            self._heads.popitem(last=False)

    def discard(self, key: CaseKey) -> None:
        """Forget one case (its stored head is then read again)."""
        self._heads.pop(key, None)

    def clear(self) -> None:
        """Forget every case, e.g. when partitions move to another writer."""
        self._heads.clear()
