"""Decoded values over a partitioned key-value table: the tracker's state port.

The tracker keeps its states (cases, cross-case rule records) as bytes in partitioned tables.
`TablePort` is all the core needs of such a table; the Faust adapter implements it over a
Faust table (the partition chooses the changelog partition and the local store), a unit test
over a dict. `DecodedTable` keeps recently used values decoded, so a hot key is decoded once
and not once per record. Only one agent writes the keys of the partitions a worker owns, so the
cache is exact until a rebalance, which clears it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from cachetools import LRUCache

ValueT = TypeVar("ValueT")


class TablePort(Protocol):
    """A partitioned table of bytes: every key lives on one partition."""

    def get(self, key: bytes, partition: int) -> bytes | None:
        """The stored value of `key` (on `partition`), or None."""

    def put(self, key: bytes, partition: int, value: bytes) -> None:
        """Store `value` under `key` on `partition` (and its changelog)."""

    def delete(self, key: bytes, partition: int) -> None:
        """Remove `key` from `partition` (and its changelog)."""


class DecodedTable(Generic[ValueT]):
    """A `TablePort` seen as decoded values, with an LRU cache of the latest `size` keys.

    `decode` turns stored bytes into a value (raising ValueError/KeyError/TypeError on bad
    bytes); `encode` is its inverse. `load` gives None for a key never stored.
    """

    def __init__(
        self,
        port: TablePort,
        decode: Callable[[bytes], ValueT],
        encode: Callable[[ValueT, int], bytes],
        size: int,
    ) -> None:
        self._port = port
        self._decode = decode
        self._encode = encode
        self._cache: LRUCache[bytes, ValueT | None] = LRUCache(maxsize=size)

    def __len__(self) -> int:
        return len(self._cache)

    def load(self, key: bytes, partition: int) -> ValueT | None:
        try:
            return self._cache[key]
        except KeyError:
            pass
        stored = self._port.get(key, partition)
        value = None if stored is None else self._decode(stored)
        self._cache[key] = value
        return value

    def save(self, key: bytes, partition: int, value: ValueT, encoded: bytes | None = None) -> None:
        """Store `value`; `encoded`, when given, is its encoding, made already."""
        self._port.put(
            key, partition, self._encode(value, partition) if encoded is None else encoded
        )
        self._cache[key] = value

    def drop(self, key: bytes, partition: int) -> bool:
        """Remove `key`; True when it was stored."""
        existed = self.load(key, partition) is not None
        if existed:
            self._port.delete(key, partition)
        self._cache[key] = None
        return existed

    def forget(self) -> None:
        """Empty the cache (after a rebalance: another worker may have written these keys)."""
        self._cache.clear()
