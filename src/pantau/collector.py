"""How the long-running processes that hold many objects tune Python's cycle collector."""

from __future__ import annotations

import gc


def quiet_collector() -> None:
    """Keep the cycle collector from walking, again and again, what the process holds.

    The sink holds a batch's thousands of rows until its insert; the tracker holds the decoded
    states of the cases it works on. With the default thresholds a collection starts every 700
    new objects and an older generation's every few of those, each walking every object of its
    generations: about a quarter of the sink's CPU, and 15 % of the tracker's fold (60-75 µs per
    event). Their per-record work makes no reference cycles (a fold of 20,000 events with the
    collector off left none to collect), so collections can be rare: everything built at start
    is frozen out of them, and a young collection waits for 100,000 new objects (a few MiB).
    Call it once the process is set up, before it takes records.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
