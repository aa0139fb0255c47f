"""Per-agency rate limits: a token bucket of events, refilled at a steady rate.

Time is passed in (a monotonic clock reading in seconds), so the limiter is tested without waiting.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class RateDecision:
    """Whether the events may go now, and if not, how many seconds until they could."""

    allowed: bool
    retry_after: float = 0.0
    never: bool = False  # the request is larger than the bucket: it can never go at once

    @property
    def retry_after_header(self) -> str:
        """`Retry-After` in whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after)))


class AgencyRateLimiter:
    """One token bucket per agency: `rate` events per second, at most `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        # Large bodies are checked on worker threads, so buckets are shared across threads.
        self._lock = threading.Lock()

    def take(self, agency: str, events: int, now: float) -> RateDecision:
        """Take `events` tokens from the agency's bucket when it holds that many."""
        with self._lock:
            return self._take(agency, events, now)

    def _take(self, agency: str, events: int, now: float) -> RateDecision:
        bucket = self._buckets.get(agency)
        if bucket is None:
            bucket = self._buckets[agency] = _Bucket(float(self.burst), now)
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
        bucket.updated = now
        if events > self.burst:
            return RateDecision(False, retry_after=self.burst / self.rate, never=True)
        if bucket.tokens >= events:
            bucket.tokens -= events
            return RateDecision(True)
        return RateDecision(False, retry_after=(events - bucket.tokens) / self.rate)
