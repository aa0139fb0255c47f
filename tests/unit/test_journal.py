"""The journal makes a batch of table writes whole, wherever a crash cuts the changelog."""

from __future__ import annotations

import random

import pytest

from pantau_tracker.domain import journal as journal_module
from pantau_tracker.domain.journal import INTENT, Journal, PrefixedPort

Op = tuple[bytes, int, bytes | None]


class LoggedTable:
    """A `TablePort` over a dict that also keeps every write in order, as a changelog does."""

    def __init__(self, data: dict[tuple[int, bytes], bytes] | None = None) -> None:
        self.data = dict(data or {})
        self.log: list[Op] = []

    def get(self, key: bytes, partition: int) -> bytes | None:
        return self.data.get((partition, key))

    def put(self, key: bytes, partition: int, value: bytes) -> None:
        self.data[partition, key] = value
        self.log.append((key, partition, value))

    def delete(self, key: bytes, partition: int) -> None:
        assert (partition, key) in self.data, "a key deleted that is not stored"
        del self.data[partition, key]
        self.log.append((key, partition, None))


def restored(log: list[Op]) -> LoggedTable:
    """The table a worker restores from a changelog holding `log`."""
    table = LoggedTable()
    for key, partition, value in log:
        if value is None:
            table.data.pop((partition, key), None)
        else:
            table.data[partition, key] = value
    return table


def user_data(table: LoggedTable) -> dict[tuple[int, bytes], bytes]:
    return {k: v for k, v in table.data.items() if not k[1].startswith(INTENT)}


def test_a_commit_writes_the_intent_before_the_writes() -> None:
    table = LoggedTable()
    journal = Journal(table)
    journal.put(b"a", 3, b"1")
    journal.put(b"b", 3, b"2")
    assert journal.get(b"a", 3) == b"1"  # read back before the commit
    assert table.data == {}
    journal.commit()
    assert [key for key, _, _ in table.log] == [b"intent|3|0", b"intent|3", b"a", b"b"]
    assert user_data(table) == {(3, b"a"): b"1", (3, b"b"): b"2"}
    assert journal.pending() == 0


def test_the_journals_own_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="intent"):
        Journal(LoggedTable()).put(b"intent|0", 0, b"x")


def test_a_prefixed_port_keeps_its_keys_apart() -> None:
    table = LoggedTable()
    journal = Journal(table)
    PrefixedPort(journal, b"rule|burst|").put(b"k", 1, b"v")
    PrefixedPort(journal, b"rule|queue|").put(b"k", 1, b"w")
    journal.commit()
    assert PrefixedPort(table, b"rule|burst|").get(b"k", 1) == b"v"
    assert user_data(table) == {(1, b"rule|burst|k"): b"v", (1, b"rule|queue|k"): b"w"}


@pytest.mark.parametrize("seed", range(12))
def test_a_changelog_cut_anywhere_recovers_to_a_whole_batch(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of random puts and deletes on two partitions; the changelog cut after every one
    of its records: recovery gives each partition the state after the batch whose head is the
    last one the changelog holds (or the state before any batch), never a part of a batch."""
    monkeypatch.setattr(journal_module, "CHUNK_BYTES", 40)  # several chunks per batch
    chance = random.Random(seed)
    table = LoggedTable()
    journal = Journal(table)
    # The state of each partition after each batch, by the batch number of its head.
    after: dict[int, dict[int, dict[bytes, bytes]]] = {0: {0: {}}, 1: {0: {}}}
    batches = {0: 0, 1: 0}
    for _ in range(25):
        touched = set()
        for _ in range(chance.randint(1, 8)):
            partition = chance.randint(0, 1)
            key = b"k%d" % chance.randint(0, 9)
            if chance.random() < 0.3 and journal.get(key, partition) is not None:
                journal.delete(key, partition)
            else:
                journal.put(key, partition, b"v%d" % chance.randint(0, 10**9))
            touched.add(partition)
        journal.commit()
        for partition in touched:
            batches[partition] += 1
            after[partition][batches[partition]] = {
                key: value for (p, key), value in user_data(table).items() if p == partition
            }
    log = table.log
    for cut in range(len(log) + 1):
        prefix = log[:cut]
        crashed = restored(prefix)
        recovering = Journal(crashed)
        for partition in (0, 1):
            recovering.recover(partition)
        for partition in (0, 1):
            heads = [
                int(value.split(b'"batch":')[1].split(b",")[0])
                for key, p, value in prefix
                if p == partition and key == INTENT + b"%d" % partition and value is not None
            ]
            whole = heads[-1] if heads else 0
            state = {key: v for (p, key), v in user_data(crashed).items() if p == partition}
            assert state == after[partition][whole], (cut, partition, whole)


def test_the_batch_after_a_recovery_is_numbered_after_any_intent_seen() -> None:
    """A worker that died while writing an intent left chunks of a newer batch: the next batch is
    numbered after them, and a crash in its own intent is still told apart."""
    table = LoggedTable()
    journal = Journal(table)
    journal.put(b"a", 0, b"1")
    journal.commit()
    journal.put(b"a", 0, b"2")
    journal.commit()
    cut = table.log[: len(table.log) - 2]  # batch 2 wrote its chunk only
    crashed = restored(cut)
    recovering = Journal(crashed)
    assert recovering.recover(0) == 0  # batch 1 was whole before batch 2 began
    assert user_data(crashed) == {(0, b"a"): b"1"}
    recovering.put(b"a", 0, b"3")
    recovering.commit()
    assert user_data(crashed) == {(0, b"a"): b"3"}
    assert b'"batch":3' in crashed.data[0, b"intent|0"]


def test_a_whole_batch_is_left_as_it_is_and_a_cut_one_names_what_it_made_again() -> None:
    table = LoggedTable()
    journal = Journal(table)
    journal.put(b"gone", 0, b"0")
    journal.commit()
    journal.delete(b"gone", 0)
    journal.put(b"a", 0, b"1")
    journal.put(b"b", 0, b"2")
    journal.commit()
    written = len(table.log)
    assert Journal(table).recover(0) == 0  # whole: nothing written again
    assert len(table.log) == written
    cut = restored(table.log[:-1])  # the changelog lost the last write
    assert Journal(cut).recover(0) == 1  # the delete and the first put are there already
    assert user_data(cut) == {(0, b"a"): b"1", (0, b"b"): b"2"}
