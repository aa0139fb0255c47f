"""Chain-head lookups against the stored history's size: what a sink cache miss costs.

When a case's chain head is not in the sink's cache (`PANTAU_SINK_CHAIN_CACHE_CASES`, an LRU),
the sink reads it from ClickHouse (`ClickHouseHistory.chain_heads`): one query per batch for
every case it misses. `events` is ordered by agency, service and case, while the sink knows a
case by agency and case id; it finds the case's services in `case_services` first, then reads
only the case's rows of `events`.

This creates a database of its own on the local ClickHouse server (the real schema), fills
`events` with synthetic chains (five events per case, eight services, received over about two
years) up to each size given, notes their cases in `case_services` as the store does, merges
both, and times the sink's lookup of 50, 2,000 and 10,000 stored cases spread over the history
(best of three). Two references in the same run: the same aggregation over the cases asked by
agency and case id alone (the lookup before `case_services`: the server reads the case id of
every stored row of the agency), and over the same cases found by the table's key (agency,
service and case id, as if the sink knew each case's service), their rows made into heads as
the sink makes them. Prints milliseconds and rows read; nothing is asserted. Removes its
database afterwards.

    .venv/bin/python benchmarks/bench_head_lookup.py [--rows 200000,2000000,6000000]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from clickhouse_driver import Client

from pantau.adapters.clickhouse_schema import apply_migrations, load_migrations
from pantau.history.chain import ChainHead
from pantau.history.store import ClickHouseHistory

AGENCY = "kota-malang.disdukcapil"
SERVICES = 8
EVENTS_PER_CASE = 5
# The stored chains' services, case by case in turn: the agency's catalog services first (live
# traffic can continue their cases, see bench_sink_history.py), then others.
STORED_SERVICES = ["ktp-el", "akta-kelahiran", *(f"other-{n}" for n in range(SERVICES - 2))]
CASES = (50, 2_000, 10_000)
# The references: the sink's aggregation over the cases asked by agency and case id alone, and
# over the cases found by the table's key.
SCAN_QUERY = (
    "SELECT agency, case_id, max(position), argMax(hash, position), groupUniqArray(event_id) "
    "FROM events WHERE agency IN %(agencies)s AND case_id IN wanted GROUP BY agency, case_id"
)
KEYED_QUERY = (
    "SELECT agency, case_id, max(position), argMax(hash, position), groupUniqArray(event_id) "
    "FROM events WHERE (agency, service, case_id) IN wanted GROUP BY agency, case_id"
)


def fill(client: Client, start: int, stop: int) -> None:
    """Rows `start` to `stop` of the synthetic history, made by the server and stored long ago,
    with their cases noted in `case_services` as the store notes them; then both merged."""
    services = "['" + "','".join(STORED_SERVICES) + "']"
    client.execute(
        "INSERT INTO events (event_id, agency, service, case_id, step, occurred_at, received_at, "
        "canonical, position, prev_hash, hash, stored_at) "
        f"SELECT concat('e', toString(number)), '{AGENCY}', "
        f"arrayElement({services}, toUInt32(intDiv(number, {EVENTS_PER_CASE}) % {SERVICES}) + 1), "
        f"concat('C-', toString(intDiv(number, {EVENTS_PER_CASE}))), 'submitted', "
        "toDateTime('2025-01-01 00:00:00') + number * 10, "
        "toDateTime('2025-01-01 00:00:00') + number * 10, "
        "concat(hex(SHA256(toString(number))), hex(SHA256(toString(number + 1)))), "
        f"number % {EVENTS_PER_CASE} + 1, hex(SHA256(toString(number))), "
        "hex(SHA256(toString(number + 2))), toDateTime('2025-06-01 00:00:00') "
        f"FROM numbers({start}, {stop - start})"
    )
    client.execute(
        "INSERT INTO case_services (agency, case_id, service, noted_at) "
        "SELECT DISTINCT agency, case_id, service, now() FROM events "
        f"WHERE toUInt64(substring(event_id, 2)) >= {start}"
    )
    client.execute("OPTIMIZE TABLE events FINAL")
    client.execute("OPTIMIZE TABLE case_services FINAL")


def as_heads(query: Callable[[], Any], wanted: list[tuple[str, str]]) -> dict[Any, ChainHead]:
    """A reference query's rows made into heads as `chain_heads` makes them (so that every
    column of the table includes the same work in Python)."""
    heads = {case: ChainHead.empty() for case in sorted(set(wanted))}
    for agency, case_id, position, head_hash, event_ids in query():
        heads[(agency, case_id)] = ChainHead.of(position, head_hash, event_ids)
    return heads


def best_of_three(lookup: Callable[[], object], client: Client) -> tuple[float, int]:
    """The fastest of three runs in milliseconds, and the rows the server read for it."""
    best, rows = float("inf"), 0
    for _ in range(3):
        started = time.monotonic()
        lookup()
        seconds = time.monotonic() - started
        if seconds < best:
            best, rows = seconds, client.last_query.progress.rows
    return best * 1000, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows",
        default="200000,2000000,6000000",
        help="stored history sizes, comma-separated, ascending (default 200000,2000000,6000000)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    try:
        sizes = [int(part) for part in args.rows.split(",")]
    except ValueError:
        parser.error("--rows takes whole numbers separated by commas")
    if not sizes or sizes != sorted(sizes) or sizes[0] < EVENTS_PER_CASE * max(CASES):
        parser.error(f"--rows must ascend and start at {EVENTS_PER_CASE * max(CASES)} or more")

    database = f"pantau_bench_lookup_{uuid.uuid4().hex[:8]}"
    admin = Client(host=args.host, port=args.port)
    try:
        apply_migrations(admin, database, load_migrations(), report=lambda _: None)
        client = Client(host=args.host, port=args.port, database=database)
        lookups = Client(host=args.host, port=args.port, database=database)
        history = ClickHouseHistory(lookups)
        print(
            "chain-head lookup of stored cases (the sink's cache miss) against the history's "
            "size; references: by agency and case id alone, and by the table's key"
        )
        print(
            f"{'stored rows':>12} {'cases':>7} {'lookup ms':>10} {'rows read':>11} "
            f"{'by id ms':>9} {'rows read':>11} {'by key ms':>10} {'rows read':>11}"
        )
        stored = 0
        for size in sizes:
            started = time.monotonic()
            fill(client, stored, size)
            stored = size
            print(f"  (filled and merged to {size:,} rows in {time.monotonic() - started:.1f} s)")
            cases_stored = stored // EVENTS_PER_CASE
            for count in CASES:
                numbers = [i * cases_stored // count for i in range(count)]
                wanted = [(AGENCY, f"C-{n}") for n in numbers]
                keyed = [(AGENCY, STORED_SERVICES[n % SERVICES], f"C-{n}") for n in numbers]
                found = history.chain_heads(wanted)
                assert all(head.position == EVENTS_PER_CASE for head in found.values())
                lookup = best_of_three(partial(history.chain_heads, wanted), lookups)
                ids = {
                    "name": "wanted",
                    "structure": [("case_id", "String")],
                    "data": [(case_id,) for _, case_id in wanted],
                }
                scan = best_of_three(
                    partial(
                        as_heads,
                        partial(
                            client.execute,
                            SCAN_QUERY,
                            {"agencies": (AGENCY,)},
                            external_tables=[ids],
                        ),
                        wanted,
                    ),
                    client,
                )
                table = {
                    "name": "wanted",
                    "structure": [
                        ("agency", "String"),
                        ("service", "String"),
                        ("case_id", "String"),
                    ],
                    "data": keyed,
                }
                keyed_run = best_of_three(
                    partial(
                        as_heads,
                        partial(client.execute, KEYED_QUERY, external_tables=[table]),
                        wanted,
                    ),
                    client,
                )
                print(
                    f"{stored:>12,} {count:>7,} {lookup[0]:>10.1f} {lookup[1]:>11,} "
                    f"{scan[0]:>9.1f} {scan[1]:>11,} {keyed_run[0]:>10.1f} {keyed_run[1]:>11,}"
                )
        history.close()
        client.disconnect()
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
