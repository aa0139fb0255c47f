"""The key store (`<prefix>applicant-keys`): applicants' data keys, wrapped, on a compacted topic.

One record per data key, keyed `<applicant key id>|<data key id>`, its value the key wrapped under
the master key (`pantau.core.sealing.KeyRecord`). Destroying a key is a tombstone (a record with
no value) under the same Kafka key: readers forget the key at once, and compaction removes the
wrapped key from the log about `max.compaction.lag.ms` (one day) later, once its segment is
closed (a record arriving after `segment.ms`, one hour), the tombstone itself after
`delete.retention.ms` (one day more). Writers never overwrite a key: a new key gets a new id, so
two writers creating keys for one applicant at once both keep theirs.

`read_keys`, `publish_keys` and `destroy_applicant_keys` block (for the command line and for
publishers outside an event loop); `ErasureFollower` follows the erasures topic from an event
loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from kafka.errors import KafkaError

from pantau.adapters.kafka_client import KafkaProducer
from pantau.adapters.kafka_topics import FOREVER, TopicSpec
from pantau.adapters.topic_follower import TopicFollower, read_to_end
from pantau.core.sealing import DataKey, KeyRecord, KeyRefused, MasterKey
from pantau.settings import TopicNames

__all__ = [
    "ErasureFollower",
    "KeyRing",
    "destroy_applicant_keys",
    "personal_data_topics",
    "publish_keys",
    "read_key_records",
    "read_keys",
]

log = logging.getLogger("pantau.keys")

ONE_DAY_MS = str(24 * 3600 * 1000)
ONE_HOUR_MS = str(3600 * 1000)


def personal_data_topics(names: TopicNames) -> list[TopicSpec]:
    """The key store and the record of erasures.

    The key store is compacted with a bounded lag: a segment rolls every hour and a destroyed
    key's record is compacted away within a day. Erasures are kept for ever."""
    return [
        TopicSpec(
            names.applicant_keys,
            1,
            {
                "cleanup.policy": "compact",
                "segment.ms": ONE_HOUR_MS,
                "max.compaction.lag.ms": ONE_DAY_MS,
                "delete.retention.ms": ONE_DAY_MS,
                "min.cleanable.dirty.ratio": "0.01",
            },
        ),
        TopicSpec(names.erasures, 1, {"retention.ms": FOREVER}),
    ]


@dataclass
class KeyRing:
    """The data keys a reader could unwrap, by data key id; destroyed keys are absent."""

    keys: dict[str, DataKey] = field(default_factory=dict)
    refused: int = 0  # records that did not open under the master key

    def find(self, key_id: str) -> DataKey | None:
        """The data key of `key_id`, or None when it was destroyed or never stored."""
        return self.keys.get(key_id)


def read_key_records(
    servers: list[str], topic: str, timeout_s: float = 15.0
) -> Iterator[tuple[bytes, bytes | None]]:
    """Every (key, value) of the key store, read to its end in order; a tombstone's value is
    None. Raises RuntimeError when Kafka cannot be reached or the topic does not end in time."""
    for record in read_to_end(servers, topic, "pantau-key-store", timeout_s):
        if record.key is not None:
            yield record.key, record.value


def read_keys(servers: list[str], topic: str, master: MasterKey) -> KeyRing:
    """The live data keys of the key store, unwrapped under `master`; a destroyed key (its
    latest record a tombstone) is absent, a record that does not open is counted and skipped."""
    latest: dict[bytes, bytes | None] = {}
    for key, value in read_key_records(servers, topic):
        latest[key] = value
    ring = KeyRing()
    for key, value in latest.items():
        if value is None:
            continue
        try:
            data_key = master.unwrap(KeyRecord(key, value))
        except KeyRefused as error:
            ring.refused += 1
            log.warning("a key store record does not open: %s", error)
            continue
        ring.keys[data_key.key_id] = data_key
    return ring


def _producer(servers: list[str]) -> KafkaProducer:
    try:
        return KafkaProducer(bootstrap_servers=servers, client_id="pantau-key-store", acks="all")
    except KafkaError as error:
        raise RuntimeError(f"cannot reach Kafka at {','.join(servers)}: {error}") from error


def publish_keys(producer: KafkaProducer, topic: str, records: Sequence[KeyRecord]) -> None:
    """Write wrapped keys and return once the brokers acknowledged every one (acks=all on the
    producer); raises RuntimeError otherwise."""
    try:
        futures = [producer.send(topic, key=r.key, value=r.value) for r in records]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)
    except KafkaError as error:
        raise RuntimeError(f"cannot write the data keys to {topic}: {error}") from error


def destroy_applicant_keys(servers: list[str], topic: str, applicant: str) -> list[str]:
    """Tombstone every live data key of the applicant whose key id is `applicant`, wait for the
    brokers to acknowledge, and return the data key ids destroyed (sorted; empty when none
    was live). Safe to repeat."""
    prefix = f"{applicant}|".encode("ascii")
    live: dict[bytes, bool] = {}
    for key, value in read_key_records(servers, topic):
        if key.startswith(prefix):
            live[key] = value is not None
    doomed = sorted(key for key, alive in live.items() if alive)
    if doomed:
        producer = _producer(servers)
        try:
            futures = [producer.send(topic, key=key, value=None) for key in doomed]
            producer.flush(timeout=30)
            for future in futures:
                future.get(timeout=30)
        except KafkaError as error:
            raise RuntimeError(f"cannot destroy the keys in {topic}: {error}") from error
        finally:
            producer.close()
    return [key[len(prefix) :].decode("ascii") for key in doomed]


class ErasureFollower(TopicFollower[str]):
    """Follows the erasures topic from the beginning and calls its `on_item` with the applicant
    key id of each erasure read, so that a writer stops sealing with a key just destroyed."""

    reader = "erasures"
    logger = log

    def read_item(self, value: bytes | None, where: str) -> str | None:
        return _erased_applicant(value)


def _erased_applicant(value: bytes | None) -> str | None:
    try:
        document = json.loads(value or b"")
    except ValueError:
        return None
    applicant = document.get("applicant_key") if isinstance(document, dict) else None
    return applicant if isinstance(applicant, str) else None
