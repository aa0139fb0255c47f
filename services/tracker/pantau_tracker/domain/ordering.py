"""Event-time order for the stateful cross-case rules: steps held behind a watermark.

The tracker applies each case's events in the order of its own partition of `pantau.events`,
and hands the applied steps to the cross-case rules, which compare cases of one service with
each other. Steps of cases on different partitions reach the rules in whatever order the tracker
happened to read them: a backlog, a burst or a slow worker puts a step of the afternoon before
one of the morning. So the rules do not judge steps as they arrive: `StepOrder` holds them, per
service, and releases them in event-time order (`occurred_at`, then receive time, then event
id) once no earlier step can still come.

What "can still come" means is the watermark. Every worker that reads `pantau.events` reports,
for each partition it owns, how far in event time that partition has come (`source_progress`):
the latest `occurred_at` it applied there, or, once it has read everything the partition holds,
its clock; less the allowed lateness either way. The reports travel on the oversight topic with
the steps (a `progress` map beside `steps`), so they are ordered with them. The watermark of an
oversight partition is the least progress over every source partition; nothing is released
before every source partition has reported once. A step at or before the watermark when it
arrives is late: it is judged on arrival, and its alerts say so (`arrived_late` in evidence).

Deterministic: the outputs depend only on the records of the oversight topic in their order,
so the same steps interleaved differently across source partitions give the same alerts, as
long as each source's steps are no later than the allowed lateness within their own partition.
At-least-once, twice over:
- A record of the oversight topic read again (a worker restarts from its last committed offset,
  which may be behind what its state holds) was applied already and is skipped whole: each
  partition's offset of the last record applied is stored with the state (`fresh`). Applying it
  again would not be harmless: its progress report is that of an earlier moment (progress can
  go back, from a source's clock to the backlog it began reading), and it would release held
  steps sooner than the first reading did, so they would be judged in another order.
- A step is held once, by its origin (partition and offset in `pantau.events`, which a source
  hands on in offset order per service); a step handed on again after a source's restart, in a
  new record, is known by that and dropped.

What is held, what was seen, the progress and the offsets applied live in one table (the adapter
persists `writes`), and are mirrored here; the mirror is rebuilt from the table after a
rebalance. The steps one record holds for one service are stored together, as one chunk (a JSON
array of their entries), rewritten with what is left when some are released and deleted when
none is: a table write costs the adapter a changelog record, and a backlog holds every step
until its end.

Pure: no clock, no I/O; the adapter passes the stored records in and takes the writes out.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from pantau.core.events import service_key, trusted_time
from pantau.core.frozen import quick_init
from pantau_tracker.domain.decoded import TablePort

HELD = b"held|"
SEEN = b"seen|"
PROGRESS = b"progress|"
APPLIED = b"applied|"
PROGRESS_KEY = b"~progress"  # the key of a record that only reports progress
HELD_MAX = 50_000  # steps one service may hold; beyond it the earliest go on regardless
# A chunk of held steps is one table write and one changelog record, which the broker refuses
# above 1 MB: a record holding more for one service than this starts another chunk.
CHUNK_BYTES = 256 * 1024

SortKey = tuple[int, int, str]


def micros(moment: datetime) -> int:
    """An instant as integer microseconds since the epoch (exact, unlike float seconds)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
END_OF_TIME = micros(datetime.fromisoformat("9999-12-31T00:00:00+00:00"))
"""The progress of a source with nothing more to come (a finished replay, a test)."""


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def source_progress(
    *,
    caught_up: bool,
    latest_occurred: datetime | None,
    now: datetime,
    lateness: timedelta,
) -> int | None:
    """How far a source partition has come in event time, in µs (None: nothing to say yet).

    A source that has read everything its partition holds has come to `now`; one still
    reading has come to the latest `occurred_at` it applied (never beyond `now`: a clock
    ahead of the tracker's does not move the watermark). Less `lateness` either way.
    """
    if caught_up:
        return micros(now - lateness)
    if latest_occurred is None:
        return None
    return micros(min(latest_occurred, now) - lateness)


# A source still reading records received longer ago than this is reading a backlog.
BACKLOG_BEHIND = timedelta(seconds=10)


def reading_backlog(*, caught_up: bool, latest_received: datetime | None, now: datetime) -> bool:
    """True when a source partition is read from a backlog: it has more to read, and the
    latest record applied was received more than `BACKLOG_BEHIND` before `now` (a replay, or
    a catch-up after an outage; a worker keeping up reads records seconds old).

    Its progress is then reported with the backlog lateness: how far the source has come is
    known from the data alone, so a step its agency sent hours out of order is still judged
    in event-time order; with the live lateness, whether such a step came after a progress
    report (and so was judged on arrival) would depend on the timing of the read.
    """
    if caught_up or latest_received is None:
        return False
    return now - latest_received > BACKLOG_BEHIND


def progress_value(progress: Mapping[int, int]) -> bytes:
    """A record of the oversight topic that only reports the progress of source partitions."""
    return orjson.dumps({"steps": [], "progress": {str(p): at for p, at in progress.items()}})


@quick_init
@dataclass(frozen=True, order=True)
class Held:
    """A step held for release: its sort key, where it was read, its entry as JSON and the key
    of the chunk it is stored in."""

    sort: SortKey
    source: int = field(compare=False)
    offset: int = field(compare=False)
    raw: bytes = field(compare=False)
    chunk: bytes = field(compare=False, default=b"")


def chunk_key(route: bytes, source: int, offset: int) -> bytes:
    """The table key of the steps one record holds for service `route`, named by the origin of
    the first of them (origins are unique). Three fields follow the route, as they did in the
    key of a single held step before chunks: `held|<route>|<source>|<offset>|chunk`."""
    return b"%s%s|%020d|%020d|chunk" % (HELD, route, source, offset)


@dataclass
class _Chunk:
    """The held steps of one stored chunk that are not yet released, by origin."""

    partition: int
    steps: dict[tuple[int, int], Held] = field(default_factory=dict)
    stored: bool = False  # in the table (or in writes not yet taken)
    size: int = 0  # bytes of the entries it was written with

    def value(self) -> bytes:
        return b"[" + b",".join(held.raw for held in self.steps.values()) + b"]"


@quick_init
@dataclass(frozen=True)
class Released:
    """A step to judge now: its entry (decoded), its route, and the watermark it arrived
    behind when it came late (None: released in order)."""

    route: bytes
    entry: dict[str, Any]
    late_behind: datetime | None = None


@dataclass
class OrderWrites:
    """What the table must store (bytes) or drop (None), by key, with the key's partition."""

    puts: dict[bytes, tuple[int, bytes | None]] = field(default_factory=dict)

    def put(self, key: bytes, partition: int, value: bytes | None) -> None:
        self.puts[key] = (partition, value)

    def apply(self, port: TablePort) -> None:
        """Store the writes in the table."""
        for key, (partition, value) in self.puts.items():
            if value is None:
                port.delete(key, partition)
            else:
                port.put(key, partition, value)


class StepOrder:
    """The held steps, seen origins and source progress of the oversight partitions a worker
    owns, with the rule for what to release when.

    `sources` is the partition count of `pantau.events`; `load(key, partition)` reads a stored
    record (the adapter's table), used for what was seen and for progress; held steps are
    given at `rebuild`.
    """

    def __init__(
        self,
        sources: int,
        load: Any,
        held_max: int = HELD_MAX,
    ) -> None:
        self._sources = sources
        self._load = load
        self._held_max = held_max
        # Per service, a heap of (sort key, origin, step): the earliest first, compared in C.
        self._held: dict[bytes, list[tuple[SortKey, tuple[int, int], Held]]] = {}
        self._routes_on: dict[int, set[bytes]] = {}
        self._seen: dict[bytes, dict[int, int]] = {}
        self._progress: dict[int, dict[int, int]] = {}
        self._applied: dict[int, int] = {}
        self._chunks: dict[bytes, _Chunk] = {}
        self._touched: set[bytes] = set()  # chunks changed since the writes were last taken
        # The entries of the steps held since the writes were last taken (one batch), as read:
        # a step released in the batch that held it is judged without decoding it again.
        self._entries: dict[tuple[int, int], dict[str, Any]] = {}
        self.writes = OrderWrites()

    # --- the mirror -----------------------------------------------------------------------

    def forget(self) -> None:
        """Drop the mirror (a rebalance: `rebuild` it from the table before the next record)."""
        self._held.clear()
        self._routes_on.clear()
        self._seen.clear()
        self._progress.clear()
        self._applied.clear()
        self._chunks.clear()
        self._touched.clear()
        self._entries.clear()

    def rebuild(self, stored: Iterable[tuple[bytes, bytes, int]]) -> None:
        """The mirror of held steps from the table's (key, value, partition) of owned partitions:
        chunks, and single steps as stored before chunks (a one-step chunk under its own key)."""
        self.forget()
        for key, value, partition in stored:
            if not key.startswith(HELD) or value is None:
                continue
            found = orjson.loads(value)
            chunk = self._chunks[key] = _Chunk(partition, stored=True)
            for entry in found if isinstance(found, list) else [found]:
                raw = orjson.dumps(entry)
                held = _held(entry, raw, key)
                chunk.steps[held.source, held.offset] = held
                route = _route(entry)
                heapq.heappush(self._held.setdefault(route, []), _queued(held))
                self._routes_on.setdefault(partition, set()).add(route)

    def held(self) -> int:
        """Steps held now."""
        return sum(len(steps) for steps in self._held.values())

    def take_writes(self) -> OrderWrites:
        """The writes since the last call, for the adapter to store."""
        for key in self._touched:
            chunk = self._chunks[key]
            if chunk.steps:
                self.writes.put(key, chunk.partition, chunk.value())
                chunk.stored = True
                continue
            del self._chunks[key]
            if chunk.stored:
                self.writes.put(key, chunk.partition, None)
        self._touched.clear()
        self._entries.clear()
        writes, self.writes = self.writes, OrderWrites()
        return writes

    # --- records --------------------------------------------------------------------------

    def fresh(self, partition: int, offset: int) -> bool:
        """Whether the record at `offset` of `partition` is new to the state (see the module);
        a new one is noted as applied, with the writes of the batch it belongs to."""
        applied = self._applied.get(partition)
        if applied is None:
            stored = self._load(APPLIED + b"%d" % partition, partition)
            applied = -1 if stored is None else int(stored)
        if offset <= applied:
            self._applied[partition] = applied
            return False
        self._applied[partition] = offset
        self.writes.put(APPLIED + b"%d" % partition, partition, b"%d" % offset)
        return True

    def record(self, document: Mapping[str, Any], partition: int) -> Iterator[Released]:
        """Take one record of the oversight topic read from `partition` (its steps and progress)
        and give the steps to judge now, in order: late ones first, as they arrived, then what
        the watermark releases. Raises ValueError, KeyError or TypeError on a malformed record,
        before anything was taken in."""
        entries = document.get("steps", [document] if "step" in document else [])
        progress = {int(p): int(at) for p, at in (document.get("progress") or {}).items()}
        parsed = [(entry, _route(entry), *_placed(entry)) for entry in entries]
        watermark = self.watermark(partition)
        chunks: dict[bytes, bytes] = {}  # the keys of this record's chunks, by route
        # What was seen of each service, stored once the record is taken in; also for a step
        # handed on again (held or judged already), in case only the local store had it when
        # the process died.
        seen_of: dict[bytes, dict[int, int]] = {}
        for entry, route, sort, source, offset in parsed:
            seen = seen_of[route] = self._seen_of(route, partition)
            if offset <= seen.get(source, -1):
                continue  # handed on again (a restart of the source)
            seen[source] = offset
            if watermark is not None and sort[0] <= watermark:
                yield Released(route, entry, from_micros(watermark))
                continue
            raw = orjson.dumps(entry)
            key = chunks.get(route)
            if key is None or self._chunks[key].size + len(raw) > CHUNK_BYTES:
                key = chunks[route] = chunk_key(route, source, offset)
                self._chunks[key] = _Chunk(partition)
                self._touched.add(key)
            chunk = self._chunks[key]
            held = Held(sort, source, offset, raw, key)
            chunk.steps[source, offset] = held
            chunk.size += len(raw) + 1
            self._entries[source, offset] = entry
            steps = self._held.setdefault(route, [])
            heapq.heappush(steps, _queued(held))
            self._routes_on.setdefault(partition, set()).add(route)
            if len(steps) > self._held_max:
                # Bounded: the earliest step goes on now, in order, without waiting longer.
                yield self._release_first(route)
        for route, seen in seen_of.items():
            self.writes.put(SEEN + route, partition, orjson.dumps(_text_keys(seen)))
        if progress:
            known = self._progress_of(partition)
            changed = {p: at for p, at in progress.items() if known.get(p) != at}
            if changed:
                known.update(changed)
                self.writes.put(
                    PROGRESS + b"%d" % partition, partition, orjson.dumps(_text_keys(known))
                )
        yield from self.release(partition)

    def watermark(self, partition: int) -> int | None:
        """The watermark of an oversight partition in µs: the least progress of every source
        partition (None until all have reported)."""
        known = self._progress_of(partition)
        if len(known) < self._sources:
            return None
        return min(known.values())

    def release(self, partition: int) -> Iterator[Released]:
        """Every held step of the partition's services at or before its watermark, each
        service's in event-time order."""
        watermark = self.watermark(partition)
        routes = self._routes_on.get(partition)
        if watermark is None or not routes:
            return
        for route in sorted(routes):
            steps = self._held[route]
            while steps and steps[0][0][0] <= watermark:
                yield self._release_first(route)
            if not steps:
                del self._held[route]
                routes.discard(route)

    def _release_first(self, route: bytes) -> Released:
        held = heapq.heappop(self._held[route])[2]
        del self._chunks[held.chunk].steps[held.source, held.offset]
        self._touched.add(held.chunk)
        entry = self._entries.pop((held.source, held.offset), None)
        return Released(route, orjson.loads(held.raw) if entry is None else entry)

    def _seen_of(self, route: bytes, partition: int) -> dict[int, int]:
        seen = self._seen.get(route)
        if seen is None:
            seen = _int_map(self._load(SEEN + route, partition))
            self._seen[route] = seen
        return seen

    def _progress_of(self, partition: int) -> dict[int, int]:
        known = self._progress.get(partition)
        if known is None:
            known = _int_map(self._load(PROGRESS + b"%d" % partition, partition))
            self._progress[partition] = known
        return known


def _int_map(stored: bytes | None) -> dict[int, int]:
    """A stored map of partitions to numbers (None: empty)."""
    if stored is None:
        return {}
    return {int(key): int(value) for key, value in orjson.loads(stored).items()}


def _text_keys(mapping: Mapping[int, int]) -> dict[str, int]:
    return {str(key): value for key, value in mapping.items()}


def _route(entry: Mapping[str, Any]) -> bytes:
    event = entry["step"]["event"]
    if isinstance(event, str | bytes):
        event = orjson.loads(event)
    return service_key(event["agency"], event["service"]).encode()


def _queued(held: Held) -> tuple[SortKey, tuple[int, int], Held]:
    """A held step as its service's heap keeps it (origins are unique: steps are never compared,
    and list.pop(0) of a backlog's 50,000 steps per release would be quadratic)."""
    return held.sort, (held.source, held.offset), held


def _held(entry: Mapping[str, Any], raw: bytes, chunk: bytes) -> Held:
    return Held(*_placed(entry), raw, chunk)


def _placed(entry: Mapping[str, Any]) -> tuple[SortKey, int, int]:
    """Where a step's entry goes in its service's order, and where its event was read: its
    sort key, the events partition and the offset."""
    event = entry["step"]["event"]
    if isinstance(event, str | bytes):
        event = orjson.loads(event)
    # Both times were validated (or written) by the tracker before it handed the step on.
    received = micros(trusted_time(str(entry["received_at"])))
    # Nothing happens after it was received: a step dated ahead of its receipt (a source's
    # clock ahead, `time.future`) is placed at its receipt rather than held until its date.
    occurred = min(micros(trusted_time(str(event["occurred_at"]))), received)
    source, offset = entry["origin"]
    return (occurred, received, str(event["event_id"])), int(source), int(offset)
