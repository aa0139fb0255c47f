"""Exact verification: every event the contract accepts, stored by the real sink in the real
ClickHouse server, verifies clean; one altered row per column is found and located.

One `pantau sink` process serves the module. Each test (and each hypothesis example) uses case
ids of its own, and verifies only those cases, so alterations made by one never touch another.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from integration.history.sink_process import SinkProcess, publish_events, wait_for
from pantau.core.catalog import load_catalog
from pantau.core.events import Event
from pantau.history.chain import CaseKey
from pantau.history.records import EVENT_COLUMNS
from pantau.history.store import ClickHouseHistory
from pantau.history.verification import Finding
from pantau.history.verify import verify_store
from pantau.settings import SAMPLE_CATALOG, ClickHouseTarget
from stacks import stack_settings
from strategies import rfc3339_texts

KM = "kota-malang.dpmptsp"
CATALOG = load_catalog(SAMPLE_CATALOG)
# (agency, service, step) of every step in the sample catalog
STEPS = sorted(
    (service.agency, service.code, step.code)
    for service in CATALOG.services.values()
    for step in service.steps
)


class Stack:
    """The module's private stack with its sink running."""

    def __init__(self, env: dict[str, str], client: Client, log: Path) -> None:
        self.env = env
        self.client = client
        self.settings = stack_settings(env)
        self.log = log

    def store(self, events: list[Event]) -> None:
        """Publish the events and wait until the sink stored a row for each."""
        publish_events(self.env["PANTAU_KAFKA"], self.settings.topics.events, events)
        ids = sorted({e.event_id for e in events})
        wait_for(
            lambda: (
                self.client.execute(
                    "SELECT uniqExact(event_id) FROM events WHERE event_id IN %(ids)s",
                    {"ids": tuple(ids)},
                )[0][0]
                == len(ids)
            ),
            timeout=120,
        )

    def verify(self, cases: set[CaseKey]) -> list[Finding]:
        """The findings of `pantau verify` over these cases (no checkpoints)."""
        store = ClickHouseHistory(self.client)
        findings: list[Finding] = []
        for agency, case_id in sorted(cases):
            findings += verify_store(store, {}, agency, case_id).findings
        return findings

    def mutate(self, statement: str, params: dict[str, Any] | None = None) -> None:
        """An ALTER ... DELETE/UPDATE as an admin would run it, waited for until done."""
        self.client.execute(statement, params)
        wait_for(
            lambda: (
                self.client.execute(
                    "SELECT count() FROM system.mutations WHERE database = currentDatabase() "
                    "AND table = 'events' AND is_done = 0"
                )[0][0]
                == 0
            ),
            timeout=60,
        )


@pytest.fixture(scope="module")
def stack(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    target = ClickHouseTarget.parse(stack_env["PANTAU_CLICKHOUSE"])
    client = Client(host=target.host, port=target.port, database=target.database)
    log = tmp_path_factory.mktemp("sink") / "sink.log"
    sink = SinkProcess({**stack_env, "PANTAU_SINK_LOAD_STANDARDS": "false"}, log)
    try:
        yield Stack(stack_env, client, log)
    finally:
        assert sink.stop() == 0, log.read_text()
        client.disconnect()


def _event(case_id: str, n: int, occurred_at: str, **fields: Any) -> Event:
    return Event.model_validate(
        {
            "event_id": f"{case_id}:{n}",
            "agency": "kota-malang.dpmptsp",
            "service": "pbg",
            "case_id": case_id,
            "step": "verified" if n > 1 else "submitted",
            "occurred_at": occurred_at,
            **fields,
        }
    )


def test_sub_second_times_any_offset_unicode_and_nested_attributes_verify_clean(
    stack: Stack,
) -> None:
    """The issue's two events (whole seconds and .250 at +07:00) and their harder cousins."""
    tag = uuid.uuid4().hex[:8]
    times = [
        "2026-12-02T09:15:00+07:00",
        "2026-12-02T09:15:00.250+07:00",
        "2026-12-02T09:15:00.123456+07:00",
        "2026-12-02T09:15:00.5Z",
        "2026-12-01T23:59:59.999999-05:30",
        "2026-12-02T09:15:00.000001+14:00",
        "2026-12-02T09:15:00.987654321-23:59",  # nanoseconds: truncated to microseconds
        "1969-12-31T23:59:59.75Z",  # before DateTime's range
        "2200-01-01T00:00:00.5+07:00",  # after it
    ]
    events = []
    for i, moment in enumerate(times):
        case_id = f"EXACT-{tag}-{i}"
        events.append(_event(case_id, 1, moment))
        events.append(
            _event(
                case_id,
                2,
                moment,
                seq=2**63 - 1,
                officer={"id": "199001012020121001", "role": "verifier"},
                applicant={"ref": "k1:ä-ref-✓"},
                payment={"amount": "999999999999999.99", "receipt": "KW/ß/1"},
                reason="Berkas kurang — tanda tangan ✍️\nbaris dua\tdengan tab\r",
                channel="mobile",
                mode="backfill",
                attributes={
                    "nested": {"list": [1, 2.5, -0.0, 1e300, None, True, "ünï"], "deep": {}},
                    "emoji": "🏛️",
                    "big": 2**70,
                    'quote"key': "back\\slash",
                    "z": [{"a": [[[]]]}],
                },
            )
        )
    deep: dict[str, Any] = {"leaf": "ü"}
    for level in range(40):
        deep = {f"l{level}": [deep]}
    large = Event.model_validate(
        {
            **_event(f"EXACT-{tag}-large", 1, "2026-12-02T09:15:00.250+07:00").model_dump(
                mode="json", exclude_none=True
            ),
            # close to the contract's 8 KiB, in multi-byte characters
            "attributes": {"deep": deep, "text": "Ř" * 3500, "n": list(range(50))},
        }
    )
    assert len(large.to_json_bytes()) > 7000
    events.append(large)
    stack.store(events)
    cases = {(e.agency, e.case_id) for e in events}
    assert stack.verify(cases) == []

    # The same through the command an auditor runs, for the issue's own case.
    env = {**os.environ, **stack.env}
    env.pop("PANTAU_CHECKPOINT_KEY", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pantau.cli",
            "verify",
            "--case",
            f"kota-malang.dpmptsp/EXACT-{tag}-1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "intact: 1 cases, 2 events" in done.stdout


# --- the property test -------------------------------------------------------------------------

_PRINTABLE = st.characters(
    blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Cf", "Zs", "Co", "Cn")
) | st.sampled_from(" ")
_TEXT = st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\t\n\r")
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_TEXT, max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(_TEXT, max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _timestamps() -> st.SearchStrategy[str]:
    return rfc3339_texts(datetime(1960, 1, 1), datetime(2150, 12, 31))


rejected: list[dict[str, Any]] = []


@st.composite
def _case_events(draw: st.DrawFn, case_id: str, id_prefix: str) -> list[Event]:
    agency, service, _ = draw(st.sampled_from(STEPS))
    steps = [code for a, s, code in STEPS if a == agency and s == service]
    out = []
    for n in range(1, draw(st.integers(min_value=1, max_value=8)) + 1):
        document: dict[str, Any] = {
            "event_id": f"{id_prefix}:{n}"
            + draw(st.from_regex(r"[A-Za-z0-9._:-]{0,20}", fullmatch=True)),
            "agency": agency,
            "service": service,
            "case_id": case_id,
            "step": draw(st.sampled_from(steps)),
            "occurred_at": draw(_timestamps()),
        }
        if draw(st.booleans()):
            document["seq"] = draw(st.integers(min_value=1, max_value=2**63 - 1))
        if draw(st.booleans()):
            document["officer"] = {
                "id": draw(st.from_regex(r"[A-Za-z0-9._:@-]{1,64}", fullmatch=True)),
                "role": draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True)),
            }
        if draw(st.booleans()):
            document["applicant"] = {
                "ref": "r:" + draw(st.text(_PRINTABLE, min_size=1, max_size=40))
            }
        if draw(st.booleans()):
            whole = draw(st.integers(min_value=0, max_value=10**15 - 1))
            cents = draw(st.sampled_from(["", ".5", ".05", ".99"]))
            document["payment"] = {"amount": f"{whole}{cents}"}
            if draw(st.booleans()):
                document["payment"]["receipt"] = draw(st.text(_PRINTABLE, min_size=1, max_size=30))
        if draw(st.booleans()):
            document["reason"] = draw(st.text(_TEXT, min_size=1, max_size=200))
        if draw(st.booleans()):
            document["channel"] = draw(st.sampled_from(["online", "counter", "mobile", "other"]))
        if draw(st.booleans()):
            document["mode"] = draw(st.sampled_from(["live", "backfill"]))
        if draw(st.booleans()):
            document["attributes"] = draw(
                st.dictionaries(st.text(_TEXT, max_size=10), _JSON, max_size=6)
            )
        try:
            out.append(Event.model_validate(document))
        except ValueError:
            # e.g. a 16-digit run in a reference (a probable raw NIK): not a valid event
            rejected.append(document)
            continue
    return out


# Columns an alteration of which verify must find: everything but the sink's own stored_at.
# Generated cases per run: about 4.5 events each, so some 1,800 events in all.
CASES = int(os.environ.get("PANTAU_TEST_GENERATED_CASES", "400"))
ALTERED = [c for c in EVENT_COLUMNS if c != "stored_at"]


def _altered(value: Any, column: str) -> Any:
    if column == "mode":
        return "backfill" if value == "live" else "live"
    if column == "seq":
        return 1 if value is None or value > 1 else 2
    if column == "payment_amount":
        return Decimal("1.00") if value is None else value + Decimal("0.01")
    if isinstance(value, datetime):
        return value + timedelta(seconds=1) if value.year < 2100 else value - timedelta(seconds=1)
    if isinstance(value, int):
        return value + 1 if column != "occurred_at_us" or value < 999_999 else value - 1
    if column == "canonical":
        return value + " "  # still parses to the same event: only the hash tells
    if column in ("hash", "prev_hash"):
        return ("0" * 64) if value != "0" * 64 else "1" * 64
    return value + "x"


def generated_events(tag: str, cases: int) -> list[Event]:
    """Contract-valid events of `cases` generated cases (hypothesis draws, no I/O per draw)."""
    out: list[Event] = []
    numbers = itertools.count()

    @settings(
        max_examples=cases,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(suffix=st.text(_PRINTABLE, max_size=12), data=st.data())
    def draw_case(suffix: str, data: st.DataObject) -> None:
        number = next(numbers)
        case_id = f"P-{tag}-{number:05d}-{suffix}".strip()
        out.extend(data.draw(_case_events(case_id, f"{tag}:{number}")))

    draw_case()
    return out


def test_generated_events_verify_clean_and_every_altered_column_is_located(stack: Stack) -> None:
    """Hundreds of generated cases through the sink verify clean; then one row per column is
    altered, each in a case of its own, and verify names every one by case, position, column."""
    tag = uuid.uuid4().hex[:8]
    events = generated_events(tag, CASES)
    cases = sorted({(e.agency, e.case_id) for e in events})
    assert len(cases) >= len(ALTERED)
    stack.store(events)
    assert stack.verify(set(cases)) == []

    # One row per column, each in a case of its own, chosen reproducibly.
    chooser = random.Random(tag)
    targets = chooser.sample(cases, len(ALTERED))
    client = stack.client
    chosen: list[tuple[str, CaseKey, dict[str, Any]]] = []
    for column, case in zip(ALTERED, targets, strict=True):
        rows = client.execute(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM events "
            "WHERE agency = %(a)s AND case_id = %(c)s ORDER BY position",
            {"a": case[0], "c": case[1]},
        )
        row = dict(zip(EVENT_COLUMNS, chooser.choice(rows), strict=True))
        chosen.append((column, case, row))

    def same_row(row: dict[str, Any]) -> str:
        return (
            f"(agency = {_literal(row['agency'])} AND case_id = {_literal(row['case_id'])} "
            f"AND position = {row['position']} AND event_id = {_literal(row['event_id'])})"
        )

    # Each row is replaced by its altered copy, as an insider with ALTER rights could do (key
    # columns cannot be UPDATEd in place, and one mutation is cheaper than one per column).
    stack.mutate(
        f"ALTER TABLE events DELETE WHERE {' OR '.join(same_row(r) for _, _, r in chosen)}"
    )
    copies = [
        tuple(_altered(row[c], c) if c == column else row[c] for c in EVENT_COLUMNS)
        for column, _, row in chosen
    ]
    client.execute(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES", copies)

    def where_now(column: str, row: dict[str, Any]) -> CaseKey:
        """The case an altered row belongs to now."""
        agency, case_id = row["agency"], row["case_id"]
        if column == "agency":
            return _altered(agency, column), case_id
        if column == "case_id":
            return agency, _altered(case_id, column)
        return agency, case_id

    moved = {where_now(column, row) for column, _, row in chosen}
    findings = stack.verify(set(cases) | moved)
    untouched = set(cases) - set(targets)
    assert not [f for f in findings if (f.agency, f.case_id) in untouched], findings
    for column, _, row in chosen:
        case = where_now(column, row)
        position = row["position"]
        here = [f for f in findings if (f.agency, f.case_id) == case and f.position == position]
        assert here, (column, case, position, findings)
        if column not in ("canonical", "receipt", "chain_version", "hash", "prev_hash", "position"):
            named = [f for f in here if column in _named_columns(f.problem)]
            assert named, (column, here)


def _named_columns(problem: str) -> list[str]:
    """The columns a finding names (`column a, b differs ...`)."""
    if not problem.startswith("column "):
        return []
    return problem.removeprefix("column ").split(" differs")[0].split(", ")


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def test_rows_stored_before_receipts_were_sealed_verify_as_legacy(local_servers: None) -> None:
    """A store filled before migration 0003: after it, its rows are legacy (version 1), verify
    finds them intact and counts them, and still names an edited column in one of them."""
    from integration.history.engines import ServerEngine
    from pantau.adapters.clickhouse_schema import apply_migrations, load_migrations
    from pantau.core.events import canonical_bytes
    from pantau.history.chain import ChainHead
    from pantau.history.records import AcceptedEvent, event_row
    from stacks import CLICKHOUSE_PORT

    engine = ServerEngine("127.0.0.1", CLICKHOUSE_PORT, f"pantau_legacy_{uuid.uuid4().hex[:8]}")
    try:
        before = [m for m in load_migrations() if m.version < "0003"]
        apply_migrations(engine, engine.database, before, report=lambda _: None)
        old_columns = EVENT_COLUMNS[: EVENT_COLUMNS.index("chain_version")]
        head, rows = ChainHead.empty(), []
        for n, moment in enumerate(["2026-12-02T09:15:00.250+07:00", "2026-12-02T10:00:00Z"], 1):
            event = _event("LEGACY-1", n, moment)
            received = event.occurred_at + timedelta(seconds=3)
            accepted = AcceptedEvent(event, canonical_bytes(event), received, 0, n)
            extended = head.extended(event.event_id, accepted.canonical)  # the old rule
            assert extended is not None
            head, link = extended
            rows.append(event_row(accepted, link, received)[: len(old_columns)])
        engine.insert("events", old_columns, rows)
        apply_migrations(engine, engine.database, load_migrations(), report=lambda _: None)

        store = ClickHouseHistory(engine.client)
        result = verify_store(store, {}, KM, "LEGACY-1")
        assert (result.findings, result.events, result.legacy) == ([], 2, 2)

        engine.client.execute(
            "ALTER TABLE events UPDATE officer_id = 'X9' WHERE case_id = 'LEGACY-1' "
            "AND position = 2"
        )
        wait_for(
            lambda: verify_store(store, {}, KM, "LEGACY-1").findings,
            timeout=60,
        )
        [finding] = verify_store(store, {}, KM, "LEGACY-1").findings
        assert (finding.position, _named_columns(finding.problem)) == (2, ["officer_id"])
    finally:
        engine.drop()
