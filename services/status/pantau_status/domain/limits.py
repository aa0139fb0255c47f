"""Per-address limits on lookups and reports: a token bucket per client address.

Time is passed in (a monotonic reading in seconds). Memory stays bounded: buckets that have
refilled completely carry no information and are dropped when the table grows past its cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["AddressLimiter"]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class AddressLimiter:
    """`per_minute` tries per address, at most `burst` at once."""

    def __init__(self, per_minute: float, burst: int, max_addresses: int = 100_000) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_addresses = max_addresses
        self._buckets: dict[str, _Bucket] = {}
        self.refused = 0

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, address: str, now: float) -> int | None:
        """None when the address may try now; else the whole seconds until it may."""
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= self.max_addresses:
                self._prune(now)
            bucket = self._buckets[address] = _Bucket(float(self.burst), now)
        bucket.tokens = min(
            float(self.burst), bucket.tokens + max(0.0, now - bucket.updated) * self.rate
        )
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        self.refused += 1
        return max(1, math.ceil((1 - bucket.tokens) / self.rate))

    def _prune(self, now: float) -> None:
        full = [
            address
            for address, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.burst
        ]
        for address in full:
            del self._buckets[address]
        if len(self._buckets) >= self.max_addresses:  # a flood of fresh addresses: oldest go
            for address in sorted(self._buckets, key=lambda a: self._buckets[a].updated)[
                : len(self._buckets) // 2
            ]:
                del self._buckets[address]
