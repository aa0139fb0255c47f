"""Simulated and replayed traffic through a running tracker and sink, judged against known truth.

The WABO receipt log is from the CoSeLoG project (J.C.A.M. Buijs, 4TU.ResearchData,
doi:10.4121/uuid:a07386a5-7be3-4367-9535-70bc9e77dbe6, CC BY 4.0). The road-traffic-fine log is
from M. de Leoni and F. Mannhardt, "Road Traffic Fine Management Process", 4TU.ResearchData,
doi:10.4121/uuid:270fd440-1057-4fb9-89a9-b699b47990f5, as sampled in the pm4py test data.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from pantau.traffic.log_facts import deadline_facts, fine_facts
from ports import free_port
from stacks import pantau_cli, start_pantau, stop_processes

REPO = Path(__file__).resolve().parents[2]
WABO_CSV = REPO.parent / "shared" / "data" / "wabo-receipt.csv"
WABO_MAPPING = REPO / "deploy" / "replay" / "wabo" / "mapping.yaml"
CATALOG_WITH_WABO = REPO / "deploy" / "replay" / "with-wabo"
ROAD_CSV = REPO.parent / "shared" / "data" / "roadtraffic100traces.csv"
ROAD_MAPPING = REPO / "deploy" / "replay" / "roadtraffic" / "mapping.yaml"
ROAD_CATALOG = REPO / "deploy" / "replay" / "roadtraffic" / "catalog.yaml"
ROAD = "agency = 'it-police.roadtraffic'"


@pytest.fixture(scope="module")
def stack(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A tracker and a sink on a fresh prefix and database, with the WABO and the road-traffic
    services in the catalog."""
    folder = tmp_path_factory.mktemp("traffic-stack")
    catalog = folder / "catalog"
    catalog.mkdir()
    for source in [*CATALOG_WITH_WABO.glob("*.yaml"), ROAD_CATALOG]:
        name = "roadtraffic.yaml" if source == ROAD_CATALOG else source.name
        (catalog / name).write_bytes(source.read_bytes())
    env = {
        **stack_env,
        "PANTAU_CATALOG": str(catalog),
        "PANTAU_TRACKER_PORT": str(free_port()),
        "PANTAU_TRACKER_DATA_DIR": str(folder / "tracker"),
        "PANTAU_CHECKPOINT_DIR": str(folder / "checkpoints"),
        "PANTAU_LOG_LEVEL": "WARNING",
    }
    # As `make up` does: the catalog folder becomes the newest standards version.
    published = pantau_cli(env, "bootstrap", "--kafka-only")
    assert published.returncode == 0, published.stderr
    processes, logs = [], []
    for name in ("tracker", "sink"):
        logs.append((folder / f"{name}.log").open("w"))
        processes.append(start_pantau(name, env, logs[-1]))
    try:
        yield env
    finally:
        stop_processes(processes, logs)


def _closed_fines() -> dict[date, set[str]]:
    """From the CSV: the fines that reached a terminal step, by the month (UTC) of the first."""
    terminal = {"Send for Credit Collection", "Send Appeal to Prefecture"}
    ends: dict[str, datetime] = {}
    with ROAD_CSV.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["concept:name"] in terminal:
                at = datetime.fromisoformat(row["time:timestamp"]).astimezone(UTC)
                case = row["case:concept:name"]
                ends[case] = min(at, ends.get(case, at))
    months: dict[date, set[str]] = {}
    for case, at in ends.items():
        months.setdefault(date(at.year, at.month, 1), set()).add(case)
    return months


def _report_counts(env: dict[str, str], agency: str, month: date) -> list[Any]:
    """The rows `pantau report sla` tabulates for `agency` in `month`."""
    from clickhouse_driver import Client

    from pantau.history.report import CASES_QUERY
    from pantau.settings import ClickHouseTarget

    target = ClickHouseTarget.parse(env["PANTAU_CLICKHOUSE"])
    client = Client(host=target.host, port=target.port, database=target.database)
    try:
        return list(client.execute(CASES_QUERY, {"agency": agency, "month": month}))
    finally:
        client.disconnect()


def _clickhouse(env: dict[str, str]) -> Callable[[str], list[Any]]:
    from clickhouse_driver import Client

    from pantau.settings import ClickHouseTarget

    target = ClickHouseTarget.parse(env["PANTAU_CLICKHOUSE"])

    def query(sql: str) -> list[Any]:
        client = Client(host=target.host, port=target.port, database=target.database)
        try:
            return list(client.execute(sql))
        finally:
            client.disconnect()

    return query


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(2)


def test_simulated_anomalies_are_found_exactly(stack: dict[str, str], tmp_path: Path) -> None:
    """A simulation with every rule planted scores precision and recall 1.0 per contract rule
    (the cross-case rules are judged by their own tests)."""
    truth = tmp_path / "truth.jsonl"
    # The sample catalog only: the stack's catalog also has the WABO service, kept for the replay.
    sample = {**stack, "PANTAU_CATALOG": str(REPO / "catalog")}
    sent = pantau_cli(
        sample, "simulate", "--cases", "300", "--seed", "5", "--anomaly-rate", "0.5",
        "--truth", str(truth), "--via", "kafka",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert len(truth.read_text().splitlines()) == 300
    query = _clickhouse(stack)
    _until(
        lambda: query("SELECT count() FROM v_cases WHERE case_id LIKE '%-S5-%'")[0][0] == 300,
        150,
        "the tracker and sink to take in the simulated cases",
    )
    judged = pantau_cli(
        stack, "evaluate", "--truth", str(truth), "--idle", "10", "--rules", "contract",
        "--min-precision", "1", "--min-recall", "1",
    )  # fmt: skip
    assert judged.returncode == 0, judged.stdout + judged.stderr
    assert "time.future" in judged.stdout


@pytest.mark.timeout(420)
def test_wabo_replay_stores_every_event_and_its_deadline_facts(stack: dict[str, str]) -> None:
    """All WABO events reach ClickHouse; cases closed past case:deadline match the CSV's count."""
    replayed = pantau_cli(stack, "replay", str(WABO_CSV), "--mapping", str(WABO_MAPPING))
    assert replayed.returncode == 0, replayed.stderr
    query = _clickhouse(stack)
    agency = "agency = 'coselog.wabo'"
    _until(
        lambda: query(f"SELECT count() FROM v_cases WHERE {agency}")[0][0] == 1434,
        330,
        "the 1,434 WABO cases in v_cases",
    )
    _until(
        lambda: query(f"SELECT count() FROM v_events WHERE {agency}")[0][0] == 8577 + 1329,
        60,
        "the WABO events in v_events",
    )
    facts = deadline_facts(WABO_CSV)
    rows = query(f"SELECT count(), countIf(step = 'closed') FROM v_events WHERE {agency}")
    assert rows == [(facts.rows + facts.closed, facts.closed)]
    _until(
        lambda: (
            query(f"SELECT count() FROM v_cases WHERE {agency} AND status = 'closed'")[0][0]
            == facts.closed
        ),
        60,
        "every case with an end date to be closed",
    )
    # v_cases stores whole seconds; the deadline each case carries is its case:deadline.
    by_second = query(
        f"""
        SELECT count()
        FROM v_cases AS c
        ANY INNER JOIN
        (
            SELECT case_id, any(visitParamExtractString(attributes, 'due_at')) AS due
            FROM v_events WHERE {agency} GROUP BY case_id
        ) AS d USING case_id
        WHERE c.{agency} AND c.status = 'closed' AND c.closed_at > parseDateTimeBestEffort(d.due)
        """
    )[0][0]
    assert by_second == facts.closed_after_deadline_by_second
    # To the microsecond, from the closing events themselves.
    assert _closed_after_deadline(query) == facts.closed_after_deadline == 377


def _closed_after_deadline(query: Callable[[str], list[Any]]) -> int:
    """WABO cases whose closing event is later than the due_at it carries, to the microsecond
    (due_at is written with six decimals by the mapping: 2011-12-06T13:41:31.788000+01:00)."""
    rows = query(
        """
        SELECT count()
        FROM
        (
            SELECT toUInt64(occurred_at) * 1000000 + occurred_at_us AS closed_us,
                   visitParamExtractString(attributes, 'due_at') AS due
            FROM v_events WHERE agency = 'coselog.wabo' AND step = 'closed'
        )
        WHERE closed_us > toUInt64(parseDateTimeBestEffort(due)) * 1000000
                          + toUInt64(substring(due, 21, 6))
        """
    )
    return int(rows[0][0])


def _sink_lag(env: dict[str, str]) -> int:
    """Events the sink has not yet committed."""
    from kafka import KafkaConsumer, TopicPartition

    from pantau.settings import TopicNames

    topics = TopicNames(env["PANTAU_TOPIC_PREFIX"])
    consumer = KafkaConsumer(
        bootstrap_servers=env["PANTAU_KAFKA"], group_id=topics.group("sink"),
        enable_auto_commit=False,
    )  # fmt: skip
    try:
        partitions = [
            TopicPartition(topics.events, p)
            for p in consumer.partitions_for_topic(topics.events) or set()
        ]
        ends = consumer.end_offsets(partitions)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in partitions)
    finally:
        consumer.close()


@pytest.mark.timeout(420)
def test_the_wabo_xes_form_replays_to_the_same_events(
    stack: dict[str, str], tmp_path: Path
) -> None:
    """The log's XES form (written by pm4py, tests/xes_logs.py) through the same mapping: the
    same 9,906 events, so after the CSV nothing new is stored (not even in the raw table), and
    the 377 cases closed after their deadline hold from it."""
    from xes_logs import csv_rows, event_log, write_xes

    dates = ("time:timestamp", "case:deadline", "case:enddate", "case:enddate_planned")
    xes = write_xes(
        event_log(csv_rows(WABO_CSV), dates=(*dates, "case:startdate")),
        tmp_path / "wabo-receipt.xes",
    )
    replayed = pantau_cli(stack, "replay", str(xes), "--mapping", str(WABO_MAPPING))
    assert replayed.returncode == 0, replayed.stderr
    assert "8,577 rows, 8,577 mapped, 1,329 closing events, 1,434 cases" in replayed.stderr
    query = _clickhouse(stack)
    agency = "agency = 'coselog.wabo'"
    _until(lambda: _sink_lag(stack) == 0, 330, "the sink to take in the XES replay")
    _until(
        lambda: query(f"SELECT count() FROM v_events WHERE {agency}")[0][0] == 8577 + 1329,
        60,
        "the WABO events in v_events",
    )
    assert query(f"SELECT count() FROM events WHERE {agency}") == [(8577 + 1329,)]
    assert _closed_after_deadline(query) == deadline_facts(WABO_CSV).closed_after_deadline == 377


@pytest.mark.timeout(300)
def test_roadtraffic_replay_stores_the_log_its_payments_and_officers(
    stack: dict[str, str],
) -> None:
    """All 374 events of the 100 fines reach ClickHouse, with the 56 payments (their amounts
    add up to the CSV's) and the officers who created the fines; the catalog allows every
    transition of the log."""
    facts = fine_facts(ROAD_CSV)
    replayed = pantau_cli(stack, "replay", str(ROAD_CSV), "--mapping", str(ROAD_MAPPING))
    assert replayed.returncode == 0, replayed.stderr
    assert "374 rows, 374 mapped, 0 closing events, 100 cases; dropped: none" in replayed.stderr
    query = _clickhouse(stack)
    _until(
        lambda: query(f"SELECT count() FROM v_events WHERE {ROAD}")[0][0] == facts.rows,
        150,
        "the 374 road-traffic events in v_events",
    )
    _until(
        lambda: query(f"SELECT count() FROM v_cases WHERE {ROAD}")[0][0] == facts.cases,
        60,
        "the 100 fines in v_cases",
    )
    paid = query(
        f"SELECT count(), sum(assumeNotNull(payment_amount)) FROM v_events "
        f"WHERE {ROAD} AND payment_amount IS NOT NULL"
    )
    assert paid == [(facts.payments, facts.paid_total)]
    officers = query(
        f"SELECT uniqExact(officer_id) FROM v_events WHERE {ROAD} AND step = 'create_fine'"
    )
    assert officers == [(facts.officers,)]
    invalid = query(
        f"SELECT count() FROM v_alerts WHERE {ROAD} AND rule = 'process.invalid_transition'"
    )
    assert invalid == [(0,)]


@pytest.mark.timeout(300)
def test_roadtraffic_overdue_fines_are_exactly_those_of_the_csv(stack: dict[str, str]) -> None:
    """The fines sent more than 90 days after creation, or never sent and not paid within 90
    days (35, computed from the CSV), are the cases with sla.step_overdue on send_fine;
    v_step_durations marks late exactly the 34 sendings after 90 days; and `pantau report sla`
    counts, month by month, the closed ones among the 35 as past a step limit."""
    facts = fine_facts(ROAD_CSV)
    query = _clickhouse(stack)
    _until(
        lambda: query(f"SELECT count() FROM v_events WHERE {ROAD}")[0][0] == facts.rows,
        150,
        "the road-traffic events (replayed by the test before)",
    )

    def alerted() -> list[str]:
        rows = query(
            f"SELECT DISTINCT case_id FROM v_alerts WHERE {ROAD} AND rule = 'sla.step_overdue' "
            "AND step = 'send_fine' ORDER BY case_id"
        )
        return [case for (case,) in rows]

    # Deadline timers of backfilled cases wait for the backlog to settle (60 s by default).
    deadline = time.monotonic() + 120
    while alerted() != list(facts.overdue) and time.monotonic() < deadline:
        time.sleep(5)
    assert alerted() == list(facts.overdue)
    late = query(
        f"SELECT DISTINCT case_id FROM v_step_durations WHERE {ROAD} AND step = 'send_fine' "
        "AND overdue = 1 ORDER BY case_id"
    )
    assert [case for (case,) in late] == list(facts.sent_late)

    # `pantau report sla` judges the fines closed in a month (sent for credit collection or
    # appealed at the prefecture; no limit for the whole case): past a step limit are exactly
    # those of the 35 among them.
    closed = _closed_fines()
    expected = {
        month: (len(cases), len(cases - set(facts.overdue)), len(cases & set(facts.overdue)))
        for month, cases in closed.items()
    }
    reported = {}
    for month in closed:
        [(service, count, within, past_service, past_step)] = _report_counts(
            stack, "it-police.roadtraffic", month
        )
        assert (service, past_service) == ("fine", 0)
        reported[month] = (count, within, past_step)
    assert reported == expected
