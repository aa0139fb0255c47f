"""ClickHouse as the history store: batched inserts, chain heads and rows for verification.

clickhouse-driver is blocking; the sink calls it from its own consumer thread, never from an
asyncio loop. A failed call leaves the client disconnected, and the next call connects again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from clickhouse_driver import Client

from pantau.history.chain import CaseKey, ChainHead
from pantau.history.verification import STORED_COLUMNS, StoredEvent
from pantau.settings import ClickHouseTarget

# How many cases one chain-head lookup asks for: a sink batch's misses in one query. The case
# ids go to the server as a temporary table (no IN list in the query text, so no escaping of
# each id and no limit from the query's size), and the server sends one row per case, not one
# per event.
HEAD_LOOKUP_CHUNK = 20_000
HEAD_LOOKUP_TABLE = "pantau_wanted_cases"
# `events` is ordered by agency, service and case, and a lookup knows a case by agency and case
# id: asked directly, the server would read the case id of every stored row of the agency (the
# cost would grow with the history: 50 cases in 19 ms over 200,000 rows, 188 ms over 6,000,000,
# `make bench-lookup`). So the cases' services come first from `case_services`, ordered by case,
# and then only the cases' own rows of `events` are read, by the table's key.
HEAD_LOOKUP_QUERY = (
    "SELECT agency, case_id, max(position), argMax(hash, position), groupUniqArray(event_id) "
    "FROM events WHERE (agency, service, case_id) IN ("
    "SELECT agency, service, case_id FROM case_services "
    f"WHERE agency IN %(agencies)s AND case_id IN {HEAD_LOOKUP_TABLE}) "
    "GROUP BY agency, case_id"
)
# Every stored event's agency, case and service has a row in `case_services`, written before
# the event (`ClickHouseHistory.insert`). Those already written are remembered (a bounded set,
# emptied when full) so that a case's later events do not write them again.
CASE_SERVICE_COLUMNS = ("agency", "case_id", "service", "noted_at")
_CASE_SERVICES_REMEMBERED = 100_000
# Events that another writer may have stored without their `case_services` rows (a sink of a
# version before them, still running while the new ones start) are noted again at start and
# whenever partitions move: those stored within this many hours.
CASE_SERVICES_CATCH_UP_HOURS = 24

# `DateTime` columns the sink writes in bulk, handed to the driver as seconds since the epoch:
# what the column stores, and for a naive UTC datetime the driver would otherwise localise each
# value to the server's time zone one by one (several microseconds a value).
EPOCH_COLUMNS = {"events": frozenset(("occurred_at", "received_at", "stored_at"))}
UTC_ZONES = frozenset(("UTC", "Etc/UTC", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"))
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 (naive UTC, as the rows hold it)
_SECOND = timedelta(seconds=1)


def epoch_seconds(values: Sequence[datetime]) -> list[int]:
    """Naive UTC datetimes as whole seconds since the epoch (what a `DateTime` column holds).

    A batch's `stored_at` is one value and its receive times come in runs of one second (the
    same object each, see `records.receive_columns`): a value equal to the one before is not
    converted again."""
    out: list[int] = []
    append = out.append
    last: datetime | None = None
    seconds = 0
    for value in values:
        if value is not last and value != last:
            seconds = (value - _EPOCH) // _SECOND
            last = value
        append(seconds)
    return out


# How long an insert waits for the quorum of replicas before it fails (and is retried).
QUORUM_TIMEOUT_MS = 15_000


def connect(
    target: ClickHouseTarget,
    *,
    timeout: float = 10.0,
    server: tuple[str, int] | None = None,
    send_receive_timeout: float = 30.0,
) -> Client:
    """A native-protocol client for the target's database.

    On replicas, the client moves to the next replica when one cannot be reached; an insert is
    acknowledged only once a majority of the replicas hold it, and a read sees every insert so
    acknowledged (or fails): after a failover the chain heads read are never stale, so no chain
    forks when the other replica comes back.
    """
    if server is not None:
        # One server as itself, outside any database (the schema migrations, per replica).
        host, port = server
        return Client(
            host=host,
            port=port,
            user=target.user,
            password=target.password,
            connect_timeout=timeout,
            send_receive_timeout=max(timeout, send_receive_timeout),
        )
    replicated: dict[str, Any] = {}
    if target.replicated:
        replicated = {
            "alt_hosts": ",".join(f"{host}:{port}" for host, port in target.replicas[1:]),
            "settings": {
                "insert_quorum": target.insert_quorum,
                "insert_quorum_timeout": QUORUM_TIMEOUT_MS,
                "select_sequential_consistency": 1,
            },
        }
    return Client(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password,
        database=target.database,
        connect_timeout=timeout,
        send_receive_timeout=max(timeout, send_receive_timeout),
        sync_request_timeout=timeout,
        **replicated,
    )


class ClickHouseHistory:
    """The `events`, `alerts`, `alert_actions` and `case_states` tables of one database."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._noted: set[tuple[str, str, str]] = set()  # case_services rows known stored

    def close(self) -> None:
        self._client.disconnect()

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows in one block; raises on any failure (nothing is known to be stored).
        Events are preceded by the `case_services` rows of their cases."""
        if not rows:
            return
        # Tuples: the driver copies each column into lists of its own as it slices blocks.
        values: list[Sequence[Any]] = list(zip(*rows, strict=True))
        if table == "events":
            self._note_case_services(columns, values)
        epoch = EPOCH_COLUMNS.get(table)
        if epoch and self._server_in_utc():
            for index, name in enumerate(columns):
                if name in epoch:
                    values[index] = epoch_seconds(values[index])
        self.insert_columns(table, columns, values)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """The rows of one query; raises on any failure."""
        try:
            rows: list[tuple[Any, ...]] = self._client.execute(sql, params)
        except BaseException:
            self._client.disconnect()
            raise
        return rows

    def _server_in_utc(self) -> bool:
        """True once connected to a server whose time zone is UTC, where a naive UTC datetime
        and its seconds since the epoch are the same `DateTime` (elsewhere the driver's own
        conversion is kept, value for value as before)."""
        info = getattr(self._client.connection, "server_info", None)
        return info is not None and getattr(info, "timezone", None) in UTC_ZONES

    def insert_columns(
        self, table: str, columns: Sequence[str], values: Sequence[Sequence[Any]]
    ) -> None:
        """Insert one block given column by column (`values[i]` holds column i of every row);
        raises on any failure (nothing is known to be stored)."""
        if not values or not values[0]:
            return
        try:
            self._client.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES",
                values,
                types_check=False,
                columnar=True,
            )
        except BaseException:
            self._client.disconnect()
            raise

    def _note_case_services(self, columns: Sequence[str], values: Sequence[Sequence[Any]]) -> None:
        """Store the `case_services` rows of events about to be inserted (those not known to be
        stored already), before the events: a failure between the two leaves rows for events
        not stored, which cost nothing but a lookup that finds no rows for them."""
        agencies, cases, services = (
            values[columns.index(name)] for name in ("agency", "case_id", "service")
        )
        noted = self._noted
        new = {row for row in zip(agencies, cases, services, strict=True) if row not in noted}
        if not new:
            return
        now = int(time.time())  # seconds since the epoch: what the DateTime column holds
        self.insert_columns(
            "case_services",
            CASE_SERVICE_COLUMNS,
            [*zip(*sorted(new), strict=True), [now] * len(new)],
        )
        if len(noted) + len(new) > _CASE_SERVICES_REMEMBERED:
            noted.clear()
        noted.update(new)

    def catch_up_case_services(self, hours: float = CASE_SERVICES_CATCH_UP_HOURS) -> None:
        """Note the cases of the events stored within `hours` (by any writer) in
        `case_services`; raises on any failure."""
        try:
            self._client.execute(
                "INSERT INTO case_services (agency, case_id, service, noted_at) "
                "SELECT DISTINCT agency, case_id, service, now() FROM events "
                "WHERE stored_at >= now() - %(seconds)s",
                {"seconds": int(hours * 3600)},
            )
        except BaseException:
            self._client.disconnect()
            raise

    def chain_heads(self, cases: Iterable[CaseKey]) -> dict[CaseKey, ChainHead]:
        """The stored head of each case (an empty head for a case with no stored event):
        `head_from_rows` of its stored rows, the highest position and every event id."""
        wanted = sorted(set(cases))
        # One empty head for every case not found (a frozen value: sharing it is safe, and
        # 10,000 of them cost 6 ms to make one by one).
        heads = dict.fromkeys(wanted, ChainHead.empty())
        for start in range(0, len(wanted), HEAD_LOOKUP_CHUNK):
            chunk = wanted[start : start + HEAD_LOOKUP_CHUNK]
            try:
                found = self._client.execute(
                    HEAD_LOOKUP_QUERY,
                    {"agencies": tuple(sorted({agency for agency, _ in chunk}))},
                    external_tables=[
                        {
                            "name": HEAD_LOOKUP_TABLE,
                            "structure": [("case_id", "String")],
                            "data": [(case_id,) for _, case_id in chunk],
                        }
                    ],
                )
            except BaseException:
                self._client.disconnect()
                raise
            for agency, case_id, position, head_hash, event_ids in found:
                case = (agency, case_id)
                if case in heads:  # not a case of another of the agencies asked for
                    heads[case] = ChainHead.of(position, head_hash, event_ids)
        return heads

    def stored_chains(
        self, agency: str | None = None, case_id: str | None = None
    ) -> Iterator[tuple[CaseKey, list[StoredEvent]]]:
        """Every stored chain (of one agency, or one case) with its rows, case by case."""
        conditions, params = [], {}
        if agency is not None:
            conditions.append("agency = %(agency)s")
            params["agency"] = agency
        if case_id is not None:
            conditions.append("case_id = %(case_id)s")
            params["case_id"] = case_id
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        query = (
            f"SELECT agency, case_id, {', '.join(STORED_COLUMNS)} FROM events {where} "
            "ORDER BY agency, case_id, position"
        )
        current: CaseKey | None = None
        rows: list[StoredEvent] = []
        for row in self._client.execute_iter(query, params, settings={"max_block_size": 10000}):
            case = (row[0], row[1])
            if case != current:
                if current is not None:
                    yield current, rows
                current, rows = case, []
            rows.append(StoredEvent.from_row(row[2:]))
        if current is not None:
            yield current, rows
