"""What the tracker changes in Faust's behaviour, each with the reason, in one place.

faust-streaming runs the tracker; these adjustments make its batching, commits and restarts
safe for a processor whose effects must be durable before its offsets are committed:

- `drain_before_commit`: Faust flushes the producer before every offset commit, but its own
  flush gives up on the send buffer after 0.1 s without progress, which under load let a commit
  overtake a queued table changelog write. The flush now drains the buffer, then waits until
  the Kafka client has every record acknowledged (acks=all).
- `seek_with_flow_stopped`: when a table had to be restored from its changelog, the fetcher
  runs while the stream partitions are resumed, before they are seeked to their committed
  offsets. Records fetched in that window were handled with no committed offset known; Faust
  then committed past a hole (events lost) or never committed the partition again. The flow is
  stopped during the seek, so a fetch that returns meanwhile is dropped and fetched again.
  "Fetched again" needs a position to go back to: Faust seeks back to the committed offsets,
  and a partition the group never committed was left where the dropped fetch had moved it
  (at the end of the topic: every record in it skipped, the lag never falling). Such a
  partition is now sent back to its beginning, where a group without offsets starts
  (`consumer_auto_offset_reset="earliest"`).
- `check_placed_partitions_only`: Faust's periodic check for stalled streams reads every
  partition's position, and aiokafka asserts there is one; a partition sent back to its
  beginning has none until the reset is done, and a check in that window crashed the worker
  right after a restart. The check now skips such a partition until it is placed.
- `widen_producer_buffer`: the conductor waits for the producer's send buffer to ebb below 100
  records before it hands each record on, so a batch's writes paused consuming on every batch.
- `TablePartitions`: a Faust table picks the changelog partition and the local store of a write
  from the record being iterated (a context variable). A batch is handled after iteration, so
  every read and write names its partition explicitly. A delete also names it to the RocksDB
  store, which otherwise deletes the key in every partition's database once the key has left
  its small index of recent keys.
- `FetchHold`: aiokafka asks the broker for one byte at least, so under a steady flow every few
  records, and every record the worker writes to its own internal topics, come back in a fetch
  of their own, and each fetch costs both of the worker's threads. While records flow at a
  steady rate and the worker keeps up, the broker now holds each fetch a few milliseconds to
  gather more. Not while a backlog is read: aiokafka keeps one fetch in flight per broker, and
  once the backlog's partitions are buffered the next fetch asks only for the quiet ones, so a
  held fetch would stall the backlog behind it. Nor while records trickle: the long poll then
  answers at the first record, and a short hold would only wake the worker more often.
- `hold`: `Stream.take_events` acknowledges a batch when its body ends, even when the body
  raised. Holding the batch's messages keeps them unacknowledged, so a crash in the middle of a
  batch never lets its offsets be committed; they are handled again after a restart.
- `hand_over_eagerly`: Faust's fetcher hands each fetched record to the streams through
  `wait_first(callback(record), suspend_flow.wait())`, so that a hand-over blocked on a full
  stream buffer is dropped when a rebalance stops the flow. That builds four tasks per record
  and costs about 28 µs, more than a tenth of a worker's time per event. The hand-over is now
  started in place; almost always it finishes without waiting, and only when it has to wait
  does the rest of it go through Faust's own `wait_first`, as before.
- `wake_fetch_on_buffer_drop`: a stream buffer under pressure takes its partitions out of the
  set the fetcher returns records for, and puts them back once it has drained. The fetcher's
  wait for records (up to a second) is not told: when every other partition is quiet, as at
  the end of a backlog, the worker sat idle with records fetched until that wait ran out
  (0.3-0.7 s per drain, seen as stalls with no CPU and the lag unchanged). The wait now ends
  when a partition comes back, and the fetcher looks again.
- `RecordBatches`: Faust's `Topic.send` costs each record a message object, a future, a
  channel hand-off and aiokafka's own per-record append and partitioner call; a batch sends
  one alert and one case view per case (a new case: both). A batch's records for the alerts and
  cases topics are now grouped per partition, appended to one aiokafka record batch per
  partition in compiled code and sent with one future per batch. The partition is aiokafka's
  own choice for the key (its default partitioner, as `Topic.send` picks it), kept between
  batches per topic (`Placements`) while the topic's partitions stay the same. The batches go
  through the same producer and its accumulator, so Faust's flush before a commit waits for
  them as for any send; the tracker awaits them before it stores the batch's states.
- `discard_after_unclean_stop`: a worker killed without a shutdown leaves a local store holding
  writes whose changelog records never went out. Faust keeps that store and only reads the
  changelog past it, so the changelog would lack those writes for good, and the next worker
  restoring the table from it would have a hole. A table whose redelivered records are not
  stored again (the cross-case rules drop a hand-over seen before) is restored from its
  changelog instead, after any stop that was not clean.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import shutil
import weakref
from collections.abc import Collection, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from faust.streams import _current_event
from mode.services import WaitResults

log = logging.getLogger("pantau.tracker")

PRODUCER_BUFFER_MAX = 50_000  # table writes and effects queued before the conductor waits
RUNNING = "worker-running"  # in the data folder while a worker runs; gone after a clean stop


def drain_before_commit(producer: Any) -> None:
    """Make the producer's flush (called by Faust before every offset commit) drain its buffer."""
    client_flush = producer.flush

    async def flush() -> None:
        while producer.buffer.size:
            await producer.buffer.flush()
        await client_flush()

    producer.flush = flush


def seek_with_flow_stopped(consumer: Any) -> None:
    """Stop the consumer's flow while it seeks the stream partitions to their committed offsets.

    With the flow stopped, records fetched before the seek are dropped (Faust seeks back to the
    committed offsets when a fetch returns while the flow is stopped). Every caller of the seek
    resumes the flow right after it. A stream partition without a committed offset goes back to
    its beginning, so that records dropped there are fetched again too.
    """
    seek = consumer.perform_seek
    seek_to_committed = consumer.seek_to_committed

    async def perform_seek() -> None:
        consumer.stop_flow()
        await seek()

    async def seek_to_committed_or_beginning() -> Any:
        committed = await seek_to_committed()
        changelogs = consumer.app.tables.changelog_topics
        never = never_committed(committed, changelogs)
        if never:
            await consumer._thread.seek_to_beginning(*never)
        return committed

    consumer.perform_seek = perform_seek
    consumer.seek_to_committed = seek_to_committed_or_beginning


def check_placed_partitions_only(consumer: Any) -> None:
    """Leave a partition without a position out of Faust's periodic check for stalled streams.

    The check reads each assigned partition's position, and aiokafka asserts there is one. A
    partition sent back to its beginning (`seek_with_flow_stopped`) has none until the reset is
    done, and a check in that window crashed the consumer, and with it the worker, right after a
    restart. The check only logs; such a partition is checked again at its next round.
    """
    verify = consumer.verify_event_path

    def verify_event_path(now: float, tp: Any) -> None:
        if has_position(consumer._thread._ensure_consumer(), tp):
            verify(now, tp)

    consumer.verify_event_path = verify_event_path


def has_position(client: Any, tp: Any) -> bool:
    """Whether the aiokafka consumer `client` knows where it reads partition `tp` (a partition
    it does not hold counts as placed: the check is left to whoever looks it up)."""
    subscription = client._fetcher._subscriptions.subscription
    if subscription is None or subscription.assignment is None:
        return True
    state = subscription.assignment.state_value(TopicPartition(tp.topic, tp.partition))
    return state is None or bool(state.has_valid_position)


def never_committed(committed: Mapping[Any, int | None], changelogs: Iterable[str]) -> list[Any]:
    """The stream partitions of `committed` (partition -> committed offset) that the group has
    no offset for. Changelog partitions are left alone: table recovery places them itself."""
    skip = set(changelogs)
    return sorted(
        (tp for tp, offset in committed.items() if not offset and tp.topic not in skip),
        key=lambda tp: (tp.topic, tp.partition),
    )


def hand_over_eagerly(consumer: Any) -> None:
    """Let the fetcher hand a record to the streams without four tasks when nothing blocks it.

    Only the call the fetcher makes for each record (`wait_first(callback(record),
    suspend_flow.wait())`) is changed: the hand-over is stepped in place (in a context of its
    own, as a task would run it) while the flow runs and the consumer is neither stopping nor
    crashed. When it finishes without waiting, the outcome is what `wait_first` gives when the
    hand-over wins. When it waits (a full stream buffer, a full producer buffer, the flow
    control), the rest of it and the suspend-flow wait go to Faust's own `wait_first`, which
    drops the hand-over if a rebalance stops the flow meanwhile, as it did before.
    """
    wait_first = consumer.wait_first
    callback_code = getattr(consumer.callback, "__code__", None)
    flow_wait_code = type(consumer.suspend_flow).wait.__code__
    suspend_flow = consumer.suspend_flow
    stopped = consumer._stopped
    crashed = consumer._crashed

    # mode's signature, timeout included: the wrapper stands in for `wait_first` everywhere.
    async def eager_wait_first(*coros: Any, timeout: Any = None) -> Any:  # noqa: ASYNC109
        if (
            timeout is None
            and len(coros) == 2
            and getattr(coros[0], "cr_code", None) is callback_code
            and getattr(coros[1], "cr_code", None) is flow_wait_code
            and not (suspend_flow.is_set() or stopped.is_set() or crashed.is_set())
        ):
            hand_over, flow_wait = coros
            context = contextvars.copy_context()
            try:
                waits_on = context.run(hand_over.send, None)
            except StopIteration as done:
                flow_wait.close()
                return WaitResults([hand_over], [done.value], False)
            except BaseException:
                flow_wait.close()
                raise
            return await wait_first(_Resumed(hand_over, waits_on, context), flow_wait)
        return await wait_first(*coros, timeout=timeout)

    consumer.wait_first = eager_wait_first


def wake_fetch_on_buffer_drop(consumer: Any) -> None:
    """End the fetcher's wait for records when a partition whose stream buffer had filled is
    taken again (Faust's `on_buffer_drop`), so that its fetched records are returned now.

    The set of partitions the wait returns records for is the consumer's own set of active
    partitions, which `on_buffer_drop` adds the partition back to; the wait only has to look
    again. It runs on the consumer's thread: woken there, thread-safely, once per drop of
    paused partitions however many came back."""
    on_buffer_drop = consumer.on_buffer_drop
    waking = False

    def wake(fetcher: Any) -> None:
        nonlocal waking
        waking = False
        for waiter in list(fetcher._fetch_waiters):
            if not waiter.done():
                waiter.set_result(None)

    def on_buffer_drop_and_wake(tp: Any) -> None:
        nonlocal waking
        paused = tp in consumer._buffered_partitions
        on_buffer_drop(tp)
        if not paused or waking:
            return
        fetcher = consumer_fetcher(consumer)
        waiters = getattr(fetcher, "_fetch_waiters", None)
        loop = getattr(fetcher, "_loop", None)
        if waiters is None or loop is None or loop.is_closed():
            return
        waking = True
        loop.call_soon_threadsafe(wake, fetcher)

    consumer.on_buffer_drop = on_buffer_drop_and_wake


def consumer_fetcher(consumer: Any) -> Any:
    """aiokafka's fetcher inside Faust's thread-delegating consumer; None before it started."""
    thread = getattr(consumer, "_thread", None)
    client = getattr(thread, "_consumer", None)
    return getattr(client, "_fetcher", None)


class _Resumed:
    """A coroutine that was stepped until it waited, awaitable for the rest of its run: what it
    waits on is passed up to the task that awaits this, and what that task sends or throws in
    is passed down, in the coroutine's own context, as a task would have driven it."""

    __slots__ = ("_context", "_coroutine", "_waits_on")

    def __init__(self, coroutine: Any, waits_on: Any, context: contextvars.Context) -> None:
        self._coroutine = coroutine
        self._waits_on = waits_on
        self._context = context

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, context, waits_on = self._coroutine, self._context, self._waits_on
        while True:
            try:
                sent = yield waits_on
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as error:  # thrown in by the awaiting task: passed down
                step = functools.partial(coroutine.throw, error)
            else:
                step = functools.partial(coroutine.send, sent)
            try:
                waits_on = context.run(step)
            except StopIteration as done:
                return done.value


def widen_producer_buffer(producer: Any) -> None:
    producer.buffer.max_messages = PRODUCER_BUFFER_MAX


PLACEMENTS_KEPT = 20_000  # keys per topic whose partition is kept (the decoded-state cache's size)


class Placements:
    """The partition the producer's partitioner gives each key, per topic, kept between
    batches: aiokafka's murmur2 is pure Python (6 µs a key), and every batch places each case
    it touched on the cases topic, and again on the alerts topic when the case raised one.
    A topic's placements are forgotten when its partitions change, and all of them once
    `kept` keys are placed (a bound, not a recency order: they are placed again)."""

    def __init__(self, kept: int = PLACEMENTS_KEPT) -> None:
        self._kept = kept
        self._topics: dict[str, tuple[frozenset[int], dict[bytes, int]]] = {}

    def of(self, topic: str, partitions: Collection[int]) -> dict[bytes, int]:
        """The kept placements of `topic` while it has `partitions`, to look up and add to."""
        found = self._topics.get(topic)
        if found is None or found[0] != partitions or len(found[1]) >= self._kept:
            found = self._topics[topic] = (frozenset(partitions), {})
        return found[1]


class RecordBatches:
    """Keyed records to send for one batch of the tracker, sent per topic and partition as
    aiokafka record batches through Faust's producer (see the module's notes). `placements`
    keeps the partitions of keys between batches (without: placed anew for each batch)."""

    def __init__(self, placements: Placements | None = None) -> None:
        self._records: dict[str, list[tuple[bytes, bytes | None]]] = {}
        self._placements = placements

    def add(self, topic: str, key: bytes, value: bytes | None) -> None:
        """Queue a keyed record (value None: a tombstone), placed by its key as `send` would."""
        self._records.setdefault(topic, []).append((key, value))

    def __len__(self) -> int:
        return sum(len(records) for records in self._records.values())

    async def send(self, producer: Any) -> list[Any]:
        """Hand every queued record to the Kafka client; the futures of its record batches,
        each done once the batch is acknowledged."""
        kafka = producer._producer  # aiokafka's producer behind Faust's
        grouped: dict[tuple[str, int], list[tuple[bytes, bytes | None]]] = {}
        for topic, records in self._records.items():
            await kafka.client._wait_on_metadata(topic)
            placed: dict[bytes, int] = (
                {}
                if self._placements is None
                else self._placements.of(topic, kafka._metadata.partitions_for_topic(topic))
            )
            for key, value in records:
                partition = placed.get(key)
                if partition is None:
                    partition = placed[key] = kafka._partition(topic, None, key, value, key, value)
                grouped.setdefault((topic, partition), []).append((key, value))
        self._records = {}
        futures = []
        for (topic, partition), records in grouped.items():
            batch = kafka.create_batch()
            for key, value in records:
                if batch.append(timestamp=None, key=key, value=value) is None:
                    futures.append(await kafka.send_batch(batch, topic, partition=partition))
                    batch = kafka.create_batch()
                    # A fresh batch takes its first record whatever its size (the broker
                    # refuses one over its limit, as it would from `send`).
                    if batch.append(timestamp=None, key=key, value=value) is None:
                        raise ValueError(f"a record for {topic} does not fit a record batch")
            batch.close()  # all of it is here: no linger, the sender takes it at once
            futures.append(await kafka.send_batch(batch, topic, partition=partition))
        return futures


class _Mark:
    """Stands for a record of `topic` on `partition` where Faust asks for the current event."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _Where(topic, partition)


class _Where:
    __slots__ = ("partition", "topic")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition


class TablePartitions:
    """A Faust table read and written on named partitions (the `TablePort` of the core).

    `source` is the topic the table's partitions follow (its records' partition is the key's).
    """

    def __init__(self, table: Any, source: str, partitions: int) -> None:
        self._table = table
        self._marks = [_Mark(source, partition) for partition in range(partitions)]

    def _on(self, partition: int) -> None:
        mark: Any = self._marks[partition]  # read by Faust as an event: only .message is used
        _current_event.set(weakref.ref(mark))

    def get(self, key: bytes, partition: int) -> bytes | None:
        self._on(partition)
        try:
            found: bytes | None = self._table.get(key)
            return found
        finally:
            _current_event.set(None)

    def put(self, key: bytes, partition: int, value: bytes) -> None:
        self._on(partition)
        try:
            self._table[key] = value
        finally:
            _current_event.set(None)

    def delete(self, key: bytes, partition: int) -> None:
        self._on(partition)
        # The RocksDB store deletes in the partition its key index names, and in every
        # partition's database when the key has left that index (1,000 keys by default): 12
        # deletes where one will do, the cross-case rules' held steps nearly always among them.
        index = getattr(self._table.data, "_key_index", None)
        if index is not None:
            index[key] = partition
        try:
            del self._table[key]
        finally:
            _current_event.set(None)


HOLD_FROM_EVENTS_PER_S = 25.0  # below, the fetches a long poll makes are fewer than held ones
HOLD_UP_TO_LAG = 1_000  # records behind: about a second of a worker's backlog rate
FETCHER_SETTINGS = ("_fetch_min_bytes", "_fetch_max_wait_ms")  # aiokafka's, read per request


def should_hold_fetches(events_per_s: float, lag: int) -> bool:
    """Whether fetches should be held: records flow steadily and the worker keeps up."""
    return events_per_s >= HOLD_FROM_EVENTS_PER_S and lag <= HOLD_UP_TO_LAG


class FetchHold:
    """Switches the fetches of Faust's aiokafka consumer between held (at least `min_bytes`,
    or `max_wait_ms`) and answered at once (aiokafka's settings as Faust made them)."""

    def __init__(self, consumer: Any, min_bytes: int, max_wait_ms: int) -> None:
        self._consumer = consumer
        self._held = (min_bytes, max_wait_ms)
        self._plain: tuple[int, int] | None = None  # the fetcher's own settings
        self._usable = max_wait_ms > 0
        self.holding = False

    def update(self, events_per_s: float, lag: int) -> bool:
        """Hold the fetches or not, by the rate of events handled and the records behind;
        gives whether they are held. Nothing changes before the consumer has started."""
        fetcher = consumer_fetcher(self._consumer) if self._usable else None
        if fetcher is None:
            return self.holding
        if self._plain is None:
            if not all(hasattr(fetcher, name) for name in FETCHER_SETTINGS):
                # Another aiokafka: left as it is, for good.
                self._usable = False
                log.warning(
                    "the consumer's fetcher has no %s: fetches never held", FETCHER_SETTINGS
                )
                return False
            self._plain = (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms)
        hold = should_hold_fetches(events_per_s, lag)
        # Read by the consumer thread when it builds its next fetch request.
        fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = self._held if hold else self._plain
        self.holding = hold
        return hold


def hold(events: Iterable[Any]) -> None:
    """Keep these events' messages unacknowledged when `take_events` acks them after a crash."""
    for event in events:
        event.message.incref()


def discard_after_unclean_stop(data_dir: Path, table_dir: Path, table: str) -> list[Path]:
    """Delete the local stores of `table` when the worker last using `data_dir` did not stop
    cleanly, so that they are restored from the changelog; then mark the folder as in use.
    Gives the stores deleted."""
    marker = data_dir / RUNNING
    discarded: list[Path] = []
    if marker.exists():
        for store in sorted(table_dir.glob(f"{table}-*.db")):
            shutil.rmtree(store)
            discarded.append(store)
    marker.touch()
    return discarded


def mark_clean_stop(data_dir: Path) -> None:
    """The worker stopped cleanly: its changelog writes went out, its local stores can be kept."""
    (data_dir / RUNNING).unlink(missing_ok=True)
