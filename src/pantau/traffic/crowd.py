"""What the simulation remembers across cases, so that honest traffic stays honest as a whole.

The cross-case rules judge a case against others: an officer's other completions, a
representative's other filings, the cases waiting in the same queue, the durations of peers. The
simulator plans each case whole when it arrives, so everything an earlier case will do is known
when a later one is planned. This bookkeeping keeps what later plans must respect, and forgets
it once no later plan can meet it (every later plan happens after its own arrival), so memory
stays bounded by the cases in flight however long the run.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta

OfficerKind = tuple[str, str, str]  # (agency, officer id, "<service>/<step>")
QueueKey = tuple[str, str, str]  # (agency, service, step waited at)
PeerKey = tuple[str, str, str]  # (agency, service, "step:<code>" or "case")
PRUNE_EVERY = timedelta(hours=6)  # forgetting is a sweep over everything: not at every arrival


@dataclass(frozen=True)
class Wait:
    """A case waiting at a step: from `since` to `leave`, submitted at `submitted`; `ripe` is
    when it has waited `queue_jump.min_wait` (None while not known)."""

    case_id: str
    since: datetime
    leave: datetime
    submitted: datetime
    ripe: datetime | None = None


@dataclass
class Crowd:
    """Officers' completions, representatives' filings, long waits and peer counts."""

    completions: dict[OfficerKind, list[datetime]] = field(default_factory=dict)
    filings: dict[tuple[str, str], dict[str, list[datetime]]] = field(default_factory=dict)
    long_waits: dict[QueueKey, list[Wait]] = field(default_factory=dict)
    peers: dict[PeerKey, int] = field(default_factory=dict)
    _upcoming: list[tuple[datetime, PeerKey]] = field(default_factory=list)
    # How far back a plan arriving now can look: the longest officer_burst and
    # applicant_broker windows of the catalog (the simulation sets them).
    officer_horizon: timedelta = timedelta(days=1)
    filing_horizon: timedelta = timedelta(days=31)
    _pruned: datetime | None = None

    # --- officers ------------------------------------------------------------------------

    def officer_load(self, kind: OfficerKind, start: datetime, end: datetime) -> int:
        """How many completions of `kind` fall in [start, end]."""
        times = self.completions.get(kind, [])
        return bisect.bisect_right(times, end) - bisect.bisect_left(times, start)

    def add_completion(self, kind: OfficerKind, at: datetime) -> None:
        bisect.insort(self.completions.setdefault(kind, []), at)

    # --- representatives -----------------------------------------------------------------

    def representatives(self, agency: str, service: str) -> dict[str, list[datetime]]:
        """Representatives still active at the service, with their filing times."""
        return self.filings.setdefault((agency, service), {})

    def add_filing(self, agency: str, service: str, ref: str, at: datetime) -> None:
        bisect.insort(self.representatives(agency, service).setdefault(ref, []), at)

    # --- queues --------------------------------------------------------------------------

    def waits(self, key: QueueKey) -> list[Wait]:
        return self.long_waits.get(key, [])

    def add_long_wait(self, key: QueueKey, wait: Wait) -> None:
        self.long_waits.setdefault(key, []).append(wait)

    # --- peers ---------------------------------------------------------------------------

    def peers_by(self, key: PeerKey) -> int:
        """Durations of `key` measured by the latest arrival (planned ones not yet counted)."""
        return self.peers.get(key, 0)

    def add_peer(self, key: PeerKey, at: datetime) -> None:
        heapq.heappush(self._upcoming, (at, key))

    # --- forgetting ----------------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Count durations measured by `now`; forget what no plan arriving after `now` can meet."""
        while self._upcoming and self._upcoming[0][0] <= now:
            _, key = heapq.heappop(self._upcoming)
            self.peers[key] = self.peers.get(key, 0) + 1
        if self._pruned is not None and now - self._pruned < PRUNE_EVERY:
            return
        self._pruned = now
        before = now - self.officer_horizon
        for kind in list(self.completions):
            times = self.completions[kind]
            del times[: bisect.bisect_left(times, before)]
            if not times:
                del self.completions[kind]
        before = now - self.filing_horizon
        for reps in self.filings.values():
            for ref in list(reps):
                if reps[ref][-1] < before:
                    del reps[ref]
                else:
                    del reps[ref][: bisect.bisect_left(reps[ref], before)]
        for key in list(self.long_waits):
            kept = [w for w in self.long_waits[key] if w.leave >= now]
            if kept:
                self.long_waits[key] = kept
            else:
                del self.long_waits[key]
