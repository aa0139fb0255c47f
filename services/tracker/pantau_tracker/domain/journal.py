"""A batch of table writes that survives a crash whole: the batch is written ahead as an intent.

The cross-case rules change several things per batch of hand-overs: what is held and what was
seen (the event-time order) and the states of the rules. They must change together. A step whose
`seen` mark was stored without the rule states it changed is never judged (a hand-over read
again is dropped as seen); a rule state stored without the `held` delete that released the step
judges the step twice. A table write reaches the changelog topic asynchronously, and a process
killed mid-batch leaves some of a batch's writes there and not others.

`Journal` makes a batch's writes to one partition all-or-nothing, over one table whose changelog
keeps each partition's writes in the order they were made (one changelog partition, written by
one producer in order). Per partition with writes, `commit` writes:

1. the intent: every write of the batch (key, and value or deletion), in chunks
   `intent|<partition>|<k>`, each tagged with the batch's number;
2. the intent's head `intent|<partition>`: the batch number and the chunk count;
3. the writes themselves.

Whatever prefix of that the changelog holds after a crash, `recover` (run once a partition is
assigned, before its first record is handled) gives the table the state after a whole batch: a
head whose chunks all carry its number names a batch that may be cut short, and its writes are
made again (they are the latest values of their keys, so making them twice changes nothing); a
head with a chunk of a newer batch beside it names a batch completed before that newer intent
was written, and the newer batch wrote nothing else yet.

Pure: the adapter gives the table (`TablePort`); no clock, no I/O of its own.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import orjson

from pantau_tracker.domain.decoded import TablePort

INTENT = b"intent|"
CHUNK_BYTES = 256 * 1024  # an intent chunk stays well below a Kafka record's size limit

_ENTRY = struct.Struct(">Ii")  # key length, value length (-1: a deletion)
_BATCH = struct.Struct(">Q")  # the batch number heading every chunk


class Journal:
    """A `TablePort` whose writes are kept until `commit`, then made as one recoverable batch."""

    def __init__(self, port: TablePort) -> None:
        self._port = port
        self._pending: dict[int, dict[bytes, bytes | None]] = {}
        self._batches: dict[int, int] = {}  # per partition, the latest batch number used

    # --- TablePort ------------------------------------------------------------------------

    def get(self, key: bytes, partition: int) -> bytes | None:
        pending = self._pending.get(partition)
        if pending is not None and key in pending:
            return pending[key]
        return self._port.get(key, partition)

    def put(self, key: bytes, partition: int, value: bytes) -> None:
        if key.startswith(INTENT):
            raise ValueError("keys starting with intent| are the journal's own")
        self._pending.setdefault(partition, {})[key] = value

    def delete(self, key: bytes, partition: int) -> None:
        pending = self._pending.setdefault(partition, {})
        if key in pending and self._port.get(key, partition) is None:
            del pending[key]  # put and deleted within the batch: never stored
            return
        pending[key] = None

    # --- batches --------------------------------------------------------------------------

    def pending(self) -> int:
        """Writes kept for the next commit."""
        return sum(len(writes) for writes in self._pending.values())

    def discard(self) -> None:
        """Drop the writes not committed (a batch that failed: it is handled again) and what is
        known of the table (a rebalance)."""
        self._pending.clear()
        self._batches.clear()

    def commit(self) -> None:
        """Make the kept writes, each partition's as one batch: its intent, then the writes."""
        pending, self._pending = self._pending, {}
        for partition, writes in pending.items():
            batch = self._batch_after(partition)
            chunks = list(_chunks(batch, writes))
            for index, chunk in enumerate(chunks):
                self._port.put(INTENT + b"%d|%d" % (partition, index), partition, chunk)
            head = orjson.dumps({"batch": batch, "chunks": len(chunks)})
            self._port.put(INTENT + b"%d" % partition, partition, head)
            for key, value in writes.items():
                if value is None:
                    self._port.delete(key, partition)
                else:
                    self._port.put(key, partition, value)
            self._batches[partition] = batch

    def recover(self, partition: int) -> int:
        """Make again the writes of the partition's latest batch when it may have been cut short
        (see the module). Only the keys that differ are written. Gives how many were (0: the
        batch was whole)."""
        head = self._port.get(INTENT + b"%d" % partition, partition)
        if head is None:
            return 0
        document = orjson.loads(head)
        batch, count = int(document["batch"]), int(document["chunks"])
        self._batches[partition] = batch
        writes: list[tuple[bytes, bytes | None]] = []
        for index in range(count):
            chunk = self._port.get(INTENT + b"%d|%d" % (partition, index), partition)
            if chunk is None:
                return 0
            (tagged,) = _BATCH.unpack_from(chunk)
            if tagged != batch:
                # A newer batch began its intent: this one was whole before it.
                self._batches[partition] = max(batch, tagged)
                return 0
            writes.extend(_entries(chunk))
        made = 0
        for key, value in writes:
            stored = self._port.get(key, partition)
            if stored == value:
                continue
            if value is None:
                self._port.delete(key, partition)
            else:
                self._port.put(key, partition, value)
            made += 1
        return made

    def _batch_after(self, partition: int) -> int:
        known = self._batches.get(partition)
        if known is None:
            head = self._port.get(INTENT + b"%d" % partition, partition)
            known = 0 if head is None else int(orjson.loads(head)["batch"])
        return known + 1


def _chunks(batch: int, writes: dict[bytes, bytes | None]) -> Iterator[bytes]:
    """The writes as intent chunks of about `CHUNK_BYTES` (one write per chunk at least)."""
    parts: list[bytes] = [_BATCH.pack(batch)]
    size = 0
    for key, value in writes.items():
        if size and size + len(key) + len(value or b"") > CHUNK_BYTES:
            yield b"".join(parts)
            parts, size = [_BATCH.pack(batch)], 0
        parts.append(_ENTRY.pack(len(key), -1 if value is None else len(value)))
        parts.append(key)
        if value is not None:
            parts.append(value)
        size += _ENTRY.size + len(key) + len(value or b"")
    yield b"".join(parts)


def _entries(chunk: bytes) -> Iterator[tuple[bytes, bytes | None]]:
    at = _BATCH.size
    while at < len(chunk):
        key_length, value_length = _ENTRY.unpack_from(chunk, at)
        at += _ENTRY.size
        key = chunk[at : at + key_length]
        at += key_length
        if value_length < 0:
            yield key, None
            continue
        yield key, chunk[at : at + value_length]
        at += value_length


class PrefixedPort:
    """A `TablePort` whose keys live under `prefix` in another (several key spaces, one table)."""

    def __init__(self, port: TablePort, prefix: bytes) -> None:
        self._port = port
        self._prefix = prefix

    def get(self, key: bytes, partition: int) -> bytes | None:
        return self._port.get(self._prefix + key, partition)

    def put(self, key: bytes, partition: int, value: bytes) -> None:
        self._port.put(self._prefix + key, partition, value)

    def delete(self, key: bytes, partition: int) -> None:
        self._port.delete(self._prefix + key, partition)
