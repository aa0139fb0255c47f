"""The tracker load bench's figures: cores, CPU per event, and when a rate was not kept up with."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_tracker_load import Load


def test_figures_of_a_window() -> None:
    load = Load("steady 50 events/s", 50, seconds=20, events=1000, cpu=7.0, publisher_cpu=2.0)
    assert load.cores == pytest.approx(0.35)
    assert load.handled_per_s == pytest.approx(50)
    assert load.ms_per_event == pytest.approx(7.0)
    assert load.kept_up
    assert load.row().split() == ["steady", "50", "events/s", "50", "50", "0.35", "7.00", "2.00"]


def test_a_rate_handled_below_95_percent_fell_behind() -> None:
    load = Load("steady 400 events/s", 400, seconds=20, events=7500, cpu=17.0, publisher_cpu=3.0)
    assert not load.kept_up
    assert load.row().endswith("fell behind")
    assert Load("steady 400 events/s", 400, 20, 7600, 17.0, 3.0).kept_up


def test_idle_has_no_cost_per_event() -> None:
    idle = Load("idle (ready, nothing sent)", None, seconds=10, events=0, cpu=0.3, publisher_cpu=0)
    assert idle.ms_per_event is None
    assert idle.kept_up
    assert idle.row().split()[-5:] == ["-", "0", "0.03", "-", "-"]
