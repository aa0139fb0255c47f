"""The instruction count's inner run: the worker it counts runs over both kinds of records."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from count_instructions import ROOT, inner, mixed_records, pbg_records, read_records, write_records


@pytest.mark.parametrize("traffic", ["pbg", "mixed"])
def test_the_counted_worker_runs_over_records_as_written(
    traffic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records round-trip through their file, and the counted worker folds them (the
    collector's tuning is left out: it would change the test process's)."""
    records = (pbg_records if traffic == "pbg" else mixed_records)(60)
    assert len(records) == 60
    path = tmp_path / "records.json"
    write_records(records, path)
    assert read_records(path) == records
    monkeypatch.setattr("pantau.collector.quiet_collector", lambda: None)
    inner(ROOT, path, traffic, 1)
