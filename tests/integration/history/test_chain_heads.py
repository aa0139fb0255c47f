"""The chain heads the sink reads from the ClickHouse 18.16 server on a cache miss.

The heads are what every later link of a case is chained to: a wrong position or hash forks the
chain, a missing event id chains a redelivered event twice. They are checked here against
`head_from_rows` of the rows stored, for cases the lookup cannot tell apart by case id alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from pantau.core.catalog import load_catalog
from pantau.history import store as store_module
from pantau.history.chain import CaseKey, ChainHead, head_from_rows
from pantau.history.records import EVENT_COLUMNS, chain_rows, seconds, take_event
from pantau.history.store import ClickHouseHistory, connect
from pantau.settings import SAMPLE_CATALOG, ClickHouseTarget

CATALOG = load_catalog(SAMPLE_CATALOG)
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
AGENCY = "kota-malang.disdukcapil"
OTHER_AGENCY = "kota-malang.dpmptsp"


def _event(agency: str, service: str, case_id: str, step: str, index: int) -> dict[str, Any]:
    return {
        "event_id": f"heads:{agency}:{case_id}:{index}",
        "agency": agency,
        "service": service,
        "case_id": case_id,
        "step": step,
        "occurred_at": (START + timedelta(minutes=index)).isoformat(),
        "applicant": {"ref": f"ref-{case_id}"},
    }


def _chained(documents: list[dict[str, Any]], first_offset: int) -> list[tuple[Any, ...]]:
    """The `events` rows the sink writes for `documents`, read in order from one partition."""
    taken = []
    for offset, document in enumerate(documents, first_offset):
        found = take_event(orjson.dumps(document), CATALOG, 1_764_489_600_000, 3, offset)
        assert found is not None, document
        taken.append(found)
    heads = {item.case: ChainHead.empty() for item in taken}
    rows, _, _ = chain_rows(taken, heads, seconds(datetime.now(UTC)))
    return rows


@pytest.fixture
def history(history_stack: dict[str, str]) -> Iterator[ClickHouseHistory]:
    store = ClickHouseHistory(connect(ClickHouseTarget.parse(history_stack["PANTAU_CLICKHOUSE"])))
    yield store
    store.close()


def _stored_heads(history: ClickHouseHistory, cases: list[CaseKey]) -> dict[CaseKey, ChainHead]:
    """`head_from_rows` of every stored row, case by case: what a lookup has to give."""
    found: dict[CaseKey, list[tuple[str, int, str]]] = defaultdict(list)
    for agency, case_id, event_id, position, head_hash in history.query(
        "SELECT agency, case_id, event_id, position, hash FROM events"
    ):
        found[(agency, case_id)].append((event_id, position, head_hash))
    return {case: head_from_rows(found.get(case, [])) for case in cases}


def test_heads_match_the_stored_rows_across_agencies_retries_and_chunks(
    history: ClickHouseHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    ktp = [("ktp-el", step) for step in ("submitted", "verified", "biometrics_recorded")]
    documents: list[dict[str, Any]] = []
    for number in range(40):
        case_id = f"HEADS-{number:03d}"
        # Chains of 1 to 3 events; the same case ids at a second agency, with their own chains.
        for index, (service, step) in enumerate(ktp[: 1 + number % 3]):
            documents.append(_event(AGENCY, service, case_id, step, index))
        if number % 4 == 0:
            documents.append(_event(OTHER_AGENCY, "pbg", case_id, "submitted", 0))
    rows = _chained(documents, 100)
    history.insert("events", EVENT_COLUMNS, rows)
    history.insert("events", EVENT_COLUMNS, rows[:25])  # an insert retried: rows twice
    asked: list[CaseKey] = [(AGENCY, f"HEADS-{n:03d}") for n in range(40)]
    # The second agency's cases in part: the others of its stored ones are not asked for,
    # though their case ids are (at the first agency); some asked for were never stored.
    asked += [(OTHER_AGENCY, f"HEADS-{n:03d}") for n in (0, 8, 16, 3, 5)]
    asked += [(AGENCY, "HEADS-NONE"), ("kota-batu.disdukcapil", "HEADS-001")]
    expected = _stored_heads(history, asked)
    assert expected[(AGENCY, "HEADS-002")].position == 3
    assert expected[(OTHER_AGENCY, "HEADS-008")].position == 1
    assert expected[(OTHER_AGENCY, "HEADS-003")] == ChainHead.empty()

    assert history.chain_heads(asked) == expected
    # Cases asked for in several lookups give the same heads.
    monkeypatch.setattr(store_module, "HEAD_LOOKUP_CHUNK", 7)
    assert history.chain_heads(reversed(asked)) == expected


def test_a_lookup_of_more_cases_than_a_query_could_list(history: ClickHouseHistory) -> None:
    # One lookup's worth of cases, 20,000 ids of 40 characters: as an IN list, a query of
    # about a megabyte, four times the server's limit (256 KiB). One of them is stored.
    rows = _chained([_event(AGENCY, "ktp-el", "HEADS-" + "9" * 34, "submitted", 0)], 7)
    history.insert("events", EVENT_COLUMNS, rows)
    asked = [(AGENCY, f"HEADS-{n:034d}") for n in range(20_000)] + [(AGENCY, "HEADS-" + "9" * 34)]
    heads = history.chain_heads(asked)
    assert len(heads) == 20_001
    stored = heads[(AGENCY, "HEADS-" + "9" * 34)]
    assert stored.position == 1
    assert stored.event_ids == (f"heads:{AGENCY}:HEADS-{'9' * 34}:0",)
    assert sum(1 for head in heads.values() if head.position) == 1


def test_a_case_stored_under_two_services_has_one_head_over_both(
    history: ClickHouseHistory,
) -> None:
    """The lookup reads a case's rows service by service (`case_services`); a case whose events
    name two services still has one chain, and its head counts the rows of both."""
    documents = [
        _event(AGENCY, "ktp-el", "HEADS-TWO", "submitted", 0),
        _event(AGENCY, "ktp-el", "HEADS-TWO", "verified", 1),
        _event(AGENCY, "akta-kelahiran", "HEADS-TWO", "submitted", 2),
    ]
    rows = _chained(documents, 10)
    history.insert("events", EVENT_COLUMNS, rows[:2])
    history.insert("events", EVENT_COLUMNS, rows[2:])
    asked: list[CaseKey] = [(AGENCY, "HEADS-TWO")]
    expected = _stored_heads(history, asked)
    assert expected[(AGENCY, "HEADS-TWO")].position == 3
    assert history.chain_heads(asked) == expected
    noted = history.query(
        "SELECT DISTINCT service FROM case_services WHERE case_id = 'HEADS-TWO' ORDER BY service"
    )
    assert noted == [("akta-kelahiran",), ("ktp-el",)]


def test_events_stored_without_their_case_services_are_found_after_a_catch_up(
    history: ClickHouseHistory,
) -> None:
    """Events another writer stored without `case_services` rows (a sink of an older version)
    are invisible to the lookup, which reads only the cases it finds there, until the catch-up
    the sink runs at start and whenever partitions move notes them."""
    rows = _chained([_event(AGENCY, "ktp-el", "HEADS-OLD", "submitted", 0)], 20)
    history.insert_columns("events", EVENT_COLUMNS, list(zip(*rows, strict=True)))
    asked: list[CaseKey] = [(AGENCY, "HEADS-OLD")]
    assert history.chain_heads(asked) == {(AGENCY, "HEADS-OLD"): ChainHead.empty()}
    history.catch_up_case_services()
    head = history.chain_heads(asked)[(AGENCY, "HEADS-OLD")]
    assert head.position == 1
    assert head == _stored_heads(history, asked)[(AGENCY, "HEADS-OLD")]


def test_a_lookup_reads_the_cases_rows_not_the_whole_history(
    history: ClickHouseHistory,
) -> None:
    """With many cases stored (eight services, eight months), a lookup of a few reads a few
    granules of `events`, not every stored row (the server's own count of rows read)."""
    history.query(
        "INSERT INTO events (event_id, agency, service, case_id, step, occurred_at, received_at, "
        "canonical, position, prev_hash, hash, stored_at) "
        f"SELECT concat('bulk', toString(number)), '{AGENCY}', "
        "concat('svc-', toString(number % 8)), concat('BULK-', toString(number)), 'submitted', "
        "toDateTime('2025-01-01 00:00:00') + number * 20, "
        "toDateTime('2025-01-01 00:00:00') + number * 20, '{}', 1, '', "
        "hex(SHA256(toString(number))), now() FROM numbers(1000000)"
    )
    history.catch_up_case_services()
    history.query("OPTIMIZE TABLE events FINAL")
    history.query("OPTIMIZE TABLE case_services FINAL")
    asked: list[CaseKey] = [(AGENCY, f"BULK-{n}") for n in (7, 350_000, 999_999)]
    heads = history.chain_heads(asked)
    assert all(head.position == 1 for head in heads.values())
    read = history._client.last_query.progress.rows
    assert 0 < read < 250_000, read  # of 1,000,000
