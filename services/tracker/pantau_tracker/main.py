"""`pantau tracker`: run one tracker worker in the foreground, configured by `PANTAU_*`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pantau.adapters.kafka_topics import TopicSpec, ensure_topics
from pantau.adapters.standards_topic import StandardsFollower, log_version, read_book
from pantau.cli import start
from pantau.collector import quiet_collector
from pantau.core.catalog import load_catalog
from pantau.core.standards import StandardVersion
from pantau.heap import fixed_mmap_threshold
from pantau_tracker.domain.standards import Standards
from pantau_tracker.settings import TrackerSettings

log = logging.getLogger("pantau.tracker")

# `pantau tracker --help`
DESCRIPTION = (
    "Live case state and rule detection. Configured by PANTAU_* variables "
    "(see `pantau --help`); GET /v1/cases/<agency>/<case_id> shows one case."
)

# Deadline checks and cross-case hand-overs are consumed within seconds; a day covers outages.
INTERNAL_RETENTION = timedelta(days=1)


def follow_standards(standards: Standards, settings: TrackerSettings) -> Callable[[Any], None]:
    """What registers the task that follows the standards topic on a Faust app: each new
    version joins the book in memory (Faust tables are written only by stream handlers; the
    book is rebuilt from the compacted topic at every start)."""

    def learn(version: StandardVersion) -> None:
        if standards.learn(version):
            log_version(log, version)

    follower = StandardsFollower(
        settings.kafka_servers,
        settings.topics.standards,
        learn,
        client_id=f"{settings.app_id}-standards",
    )

    def register(app: Any) -> None:
        app.task(follower.run)

    return register


def main(argv: list[str]) -> int:
    """Build the settings, make sure the clock topic exists, and run the Faust worker."""
    settings = start("tracker", DESCRIPTION, TrackerSettings, argv)
    catalog = load_catalog(settings.catalog)
    # Every published version, before the first event: a case is judged by its own version.
    book = read_book(settings.kafka_servers, settings.topics.standards)
    for version in book.versions:
        log_version(log, version)
    if not book:
        log.info("no standards version published: judging by %s", settings.catalog)
    retention = str(int(INTERNAL_RETENTION.total_seconds() * 1000))
    # Created here rather than by Faust so that they have exactly the partitions of the events
    # topic before anything subscribes (a broker auto-creating one would give it one partition).
    ensure_topics(
        settings.kafka_servers,
        [
            TopicSpec(topic, settings.partitions, {"retention.ms": retention})
            for topic in (settings.clock_topic, settings.oversight_topic)
        ],
        report=log.info,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    import faust  # imported late: Faust is heavy and `pantau --help` must stay fast

    from pantau_tracker.app import RULES_TABLE, create_app
    from pantau_tracker.stream_runtime import discard_after_unclean_stop, mark_clean_stop

    tracker = create_app(settings, catalog, book=book)
    follow_standards(tracker.standards, settings)(tracker.app)
    # The tables' changelog topics too: Faust creates them at start-up, but two workers starting
    # together can each see the other's half-created topic without partitions, and the agent of
    # that table then crashes with a partition mismatch until the worker is restarted.
    ensure_topics(
        settings.kafka_servers,
        [
            TopicSpec(name, settings.partitions, {"cleanup.policy": "compact"})
            for name in tracker.changelog_topics()
        ],
        report=log.info,
    )
    # Faust replaces the root handlers at start: give it ours back, so its lines and the
    # tracker's come out in the one Pantau format.
    tracker.app.conf.loghandlers = list(logging.root.handlers)
    worker = faust.Worker(
        tracker.app,
        loglevel=settings.log_level.lower(),
        redirect_stdouts=False,
        quiet=True,
        logging_config={"version": 1, "disable_existing_loggers": False},
    )
    worker.spinner = None  # a terminal animation; it only garbles log files
    if tracker.rules_table is not None:
        discarded = discard_after_unclean_stop(
            settings.data_dir, Path(tracker.app.conf.tabledir), RULES_TABLE
        )
        if discarded:
            log.warning(
                "the last worker on %s did not stop cleanly: %d local stores of %s discarded, "
                "restored from the changelog",
                settings.data_dir,
                len(discarded),
                RULES_TABLE,
            )
    quiet_collector()
    fixed_mmap_threshold()
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        code = int(stop.code or 0)
    if code == 0:
        mark_clean_stop(settings.data_dir)
    return code
