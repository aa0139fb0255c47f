"""`make bench` reads the tracker bench's table by its rows' whole labels: each figure lands
under its own key (a new row once starting like another was read as the all-rules rate)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_stack import TRACKER_ROWS, keeps_up, tracker_figures

OUTPUT = """\
pantau tracker, contract rules only: 19.84 s from the first case state, steady window 19.84 s
steady: events handled after every worker is ready and its group stable, over the seconds
consumer                                           events   seconds   events/s   whole/s
bare aiokafka + Event.from_json_bytes               50000      0.83      60003
pantau tracker, contract rules only                 49821     19.84       2511      2475
pantau tracker (Faust, RocksDB, all rules)          49818     41.60       1197      1196
pantau tracker, cases + rules workers               49908     33.05       1510      1509
pantau tracker, two workers on 12 partitions        44452     28.90       1538      1470
pantau tracker, contract rules, two workers         44239     12.77       3465      2791
quix streams peer, same core, contract rules        50000     16.82       2973
two workers against one, every rule: 1.28x steady, 1.23x whole
"""


def test_every_row_of_the_tracker_bench_is_read_under_its_own_key() -> None:
    figures = tracker_figures(OUTPUT)
    assert figures == {
        "bare_consumer_events_per_s": 60003,
        "tracker_contract_rules_only_events_per_s": 2511,
        "tracker_contract_rules_only_whole_events_per_s": 2475,
        "tracker_events_per_s": 1197,
        "tracker_whole_events_per_s": 1196,
        "tracker_split_workers_events_per_s": 1510,
        "tracker_split_workers_whole_events_per_s": 1509,
        "tracker_two_workers_events_per_s": 1538,
        "tracker_two_workers_whole_events_per_s": 1470,
        "tracker_contract_rules_two_workers_events_per_s": 3465,
        "tracker_contract_rules_two_workers_whole_events_per_s": 2791,
    }
    assert set(TRACKER_ROWS.values()) <= set(figures)


def _run(sent: int, alerts: int, accepted_per_s: float, alerts_per_s: float) -> dict[str, float]:
    return {
        "offered_events_per_s": 400.0,
        "sent": sent,
        "alerts": alerts,
        "accepted_events_per_s": accepted_per_s,
        "alerts_per_s": alerts_per_s,
    }


def test_a_load_is_kept_up_with_only_when_every_alert_came_at_about_the_offered_rate() -> None:
    assert keeps_up(_run(4000, 4000, 399.0, 385.0))
    assert not keeps_up(_run(4000, 3999, 399.0, 385.0))  # an alert missing
    assert not keeps_up(_run(4000, 4000, 399.0, 370.0))  # a backlog grew through the run
    assert not keeps_up(_run(4000, 4000, 300.0, 385.0))  # the requests themselves fell behind
