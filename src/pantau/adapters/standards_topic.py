"""The standards topic (`<prefix>standards`): one compacted record per published version.

Keyed by the version number, so compaction keeps every version. Readers take the whole topic
from the beginning into a `StandardsBook`; a record that is not a valid version is logged and
skipped, never applied. `read_book` and `publish` block (for the command line and for start-up,
before an event loop runs); `StandardsFollower` follows the topic from an event loop and hands
every new version to a callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kafka.errors import KafkaError

from pantau.adapters.kafka_client import KafkaProducer
from pantau.adapters.kafka_topics import TopicSpec
from pantau.adapters.topic_follower import TopicFollower, read_to_end
from pantau.core.catalog import CatalogError
from pantau.core.events import format_rfc3339
from pantau.core.standards import StandardsBook, StandardVersion

__all__ = [
    "NewestStandards",
    "StandardsFollower",
    "log_version",
    "publish",
    "read_book",
    "standards_topic_spec",
]

log = logging.getLogger("pantau.standards")


def standards_topic_spec(name: str) -> TopicSpec:
    """One partition (the versions keep their order), compacted, every version kept."""
    return TopicSpec(name, 1, {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"})


def _version_of(value: bytes | None, where: str) -> StandardVersion | None:
    if value is None:
        return None
    try:
        return StandardVersion.from_record(value)
    except (ValueError, KeyError, TypeError, CatalogError) as error:
        log.error("skipping a standards record that is not a valid version (%s): %s", where, error)
        return None


def read_book(servers: list[str], topic: str, timeout_s: float = 15.0) -> StandardsBook:
    """Every version on `topic`, read to its end; an empty book when the topic is empty or
    missing. Raises RuntimeError when Kafka cannot be reached."""
    book = StandardsBook()
    for record in read_to_end(servers, topic, "pantau-standards-reader", timeout_s):
        version = _version_of(record.value, f"{record.topic}@{record.offset}")
        if version is not None:
            book = book.with_version(version)
    return book


def publish(servers: list[str], topic: str, version: StandardVersion) -> None:
    """Write `version` to `topic` and wait until the brokers have it (acks=all)."""
    try:
        producer = KafkaProducer(
            bootstrap_servers=servers,
            client_id="pantau-standards-publisher",
            acks="all",
            max_request_size=8 * 1024 * 1024,
        )
    except KafkaError as error:
        raise RuntimeError(f"cannot reach Kafka at {','.join(servers)}: {error}") from error
    try:
        future = producer.send(
            topic, key=str(version.number).encode("ascii"), value=version.to_record()
        )
        future.get(timeout=30)
    except KafkaError as error:
        raise RuntimeError(f"cannot publish to {topic}: {error}") from error
    finally:
        producer.close()


class StandardsFollower(TopicFollower[StandardVersion]):
    """Follows the standards topic from the beginning and calls its `on_item` with each version
    it reads (also those already known: the callback decides what is new)."""

    reader = "standards"
    logger = log

    def read_item(self, value: bytes | None, where: str) -> StandardVersion | None:
        return _version_of(value, where)


def log_version(logger: logging.Logger, version: StandardVersion) -> None:
    """One line saying a version was read: its number, hash, validity and publisher."""
    logger.info(
        "standards version %d read: %s, valid from %s, published %s by %s, %d services",
        version.number,
        version.content_hash,
        format_rfc3339(version.valid_from),
        format_rfc3339(version.published_at),
        version.published_by or "?",
        len(version.catalog.services),
    )


class NewestStandards:
    """The book as read so far, for a process that works with the newest catalog (the intake
    checks events against it): `take` a version read from the topic; `on_newest` is called
    when it is the newest one."""

    def __init__(
        self,
        on_newest: Callable[[StandardVersion], None],
        logger: logging.Logger,
        book: StandardsBook | None = None,
    ) -> None:
        self.book = book or StandardsBook()
        self._on_newest = on_newest
        self._log = logger

    def take(self, version: StandardVersion) -> None:
        known = self.book.version(version.number)
        if known is not None and known.content_hash == version.content_hash:
            return
        self.book = self.book.with_version(version)
        log_version(self._log, version)
        if self.book.latest is version:
            self._on_newest(version)
