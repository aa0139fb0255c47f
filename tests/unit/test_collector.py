"""What lets the tracker and the sink make cycle collections rare (`pantau.collector`): their
per-record work leaves no reference cycles behind, so nothing waits for a collection to be freed.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from profile_hot_paths import HotPaths  # the tracker's worker and the sink's batches, no Kafka


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_the_trackers_fold_leaves_no_cycles(collector_off: None) -> None:
    paths = HotPaths(3_000)
    paths.worker(500)  # first batches: lazily built tables and caches
    gc.collect()
    folded = paths.worker(500)
    assert folded >= 2_000
    assert gc.collect() == 0


def test_the_sinks_batches_leave_no_cycles(collector_off: None) -> None:
    paths = HotPaths(3_000)
    paths.sink_taken_batches()  # as `pantau sink` takes them
    gc.collect()
    assert paths.sink_taken_batches() == 3_000
    assert gc.collect() == 0
