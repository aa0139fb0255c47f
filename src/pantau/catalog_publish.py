"""`pantau catalog publish` and `pantau catalog history`: the service standards as versions on
the standards topic (PANTAU_TOPIC_PREFIX + `standards`)."""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pantau.adapters.kafka_topics import ensure_topics
from pantau.adapters.standards_topic import publish, read_book, standards_topic_spec
from pantau.core.catalog import CatalogError, load_catalog_documents
from pantau.core.events import parse_rfc3339
from pantau.core.standards import (
    StandardsBook,
    StandardVersion,
    canonical_document,
    catalog_changes,
    content_hash,
    new_version,
    version_summary,
    versions_in,
)
from pantau.settings import CommonSettings


@dataclass(frozen=True)
class Published:
    """What a publication did: the version published, or the identical latest one (`new` False),
    and the version it follows."""

    version: StandardVersion
    previous: StandardVersion | None
    new: bool


def publish_catalog(
    settings: CommonSettings,
    path: Path,
    *,
    published_by: str,
    now: datetime,
    valid_from: datetime | None = None,
) -> Published:
    """Validate the catalog at `path` and publish it as the next version, valid from
    `valid_from` (default `now`). A catalog identical to the latest version, without a
    `valid_from` of its own, publishes nothing. Raises CatalogError for a broken catalog (then
    nothing is published) and RuntimeError when Kafka cannot be reached."""
    _catalog, documents = load_catalog_documents(path)
    document = canonical_document(documents)
    topic = settings.topics.standards
    ensure_topics(settings.kafka_servers, [standards_topic_spec(topic)], report=lambda _: None)
    book = read_book(settings.kafka_servers, topic)
    latest = book.latest
    if latest is not None and valid_from is None and latest.content_hash == content_hash(document):
        return Published(latest, book.version(latest.number - 1), new=False)
    version = new_version(
        book.next_number,
        document,
        valid_from=valid_from or now,
        published_by=published_by,
        published_at=now,
    )
    publish(settings.kafka_servers, topic, version)
    return Published(version, latest, new=True)


BOOTSTRAP = "bootstrap"  # the publisher named on the versions `pantau bootstrap` publishes


def publish_at_bootstrap(settings: CommonSettings, now: datetime) -> Published | None:
    """What `pantau bootstrap` publishes: PANTAU_CATALOG as version 1 when the standards topic
    has no version; while every version was published by bootstrap (the stack still follows
    its catalog folder), PANTAU_CATALOG again as the next version when it changed. Once a
    version was published with `pantau catalog publish`, the topic is the standard and
    bootstrap publishes nothing (None)."""
    topic = settings.topics.standards
    ensure_topics(settings.kafka_servers, [standards_topic_spec(topic)])
    book = read_book(settings.kafka_servers, topic)
    if any(version.published_by != BOOTSTRAP for version in book.versions):
        return None
    return publish_catalog(settings, settings.catalog, published_by=BOOTSTRAP, now=now)


def _instant(text: str) -> datetime:
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time with its offset, such as 2026-07-01T00:00:00+07:00"
        ) from None


def publish_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pantau catalog publish",
        description="Validate a catalog and publish it as the next version of the service "
        "standards. Cases submitted from --valid-from on are judged by it; open cases keep "
        "the version they were submitted under.",
    )
    parser.add_argument("path", nargs="?", type=Path, help="a catalog file or folder")
    parser.add_argument(
        "--valid-from",
        type=_instant,
        help="when the version takes effect (RFC 3339 with offset); default: now",
    )
    parser.add_argument("--by", help="who publishes it (default: the user's login name)")
    args = parser.parse_args(argv)
    settings = CommonSettings()
    path = args.path or settings.catalog
    try:
        done = publish_catalog(
            settings,
            path,
            published_by=args.by or getpass.getuser(),
            now=datetime.now(UTC),
            valid_from=args.valid_from,
        )
    except CatalogError as exc:
        count = len(exc.problems)
        print(
            f"{path}: {count} problem{'s' if count != 1 else ''}:\n{exc}\nnothing published",
            file=sys.stderr,
        )
        return 1
    except RuntimeError as exc:
        print(f"pantau catalog publish: {exc}", file=sys.stderr)
        return 1
    if not done.new:
        print(f"{path}: identical to version {done.version.number}; nothing published")
        return 0
    print(f"published {version_summary(done.version)}")
    if done.previous is not None:
        changes = catalog_changes(done.previous.catalog, done.version.catalog)
        print(f"changes from version {done.previous.number}:")
        print("\n".join(f"  {line}" for line in changes) or "  none")
    return 0


def history_lines(book: StandardsBook, now: datetime, between: list[int]) -> list[str]:
    """The versions of `book` with what changed from each to the next, or the changes between
    the two versions named in `between`. Raises KeyError naming an unknown version."""
    if between:
        old, new = versions_in(book, between)
        changes = catalog_changes(old.catalog, new.catalog)
        return [f"changes from version {old.number} to version {new.number}:"] + [
            f"  {line}" for line in changes or ["none"]
        ]
    in_force = book.in_force(now)
    lines: list[str] = []
    previous: StandardVersion | None = None
    for version in book.versions:
        mark = ""
        if in_force is not None and version.number == in_force.number:
            mark = "  [in force]"
        elif version.valid_from > now:
            mark = "  [scheduled]"
        lines.append(version_summary(version) + mark)
        if previous is not None:
            lines += [f"  {line}" for line in catalog_changes(previous.catalog, version.catalog)]
        previous = version
    return lines or ["no version published"]


def history_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pantau catalog history",
        description="List the published versions of the service standards and what changed "
        "from each to the next, or between the two versions given.",
    )
    parser.add_argument("versions", nargs="*", type=int, metavar="VERSION")
    args = parser.parse_args(argv)
    if len(args.versions) not in (0, 2):
        parser.error("give no version, or two to compare")
    settings = CommonSettings()
    try:
        book = read_book(settings.kafka_servers, settings.topics.standards)
        print("\n".join(history_lines(book, datetime.now(UTC), args.versions)))
    except KeyError as exc:
        print(f"pantau catalog history: {exc.args[0]}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"pantau catalog history: {exc}", file=sys.stderr)
        return 1
    return 0
