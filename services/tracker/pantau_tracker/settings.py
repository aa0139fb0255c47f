"""Settings of `pantau tracker`, read from `PANTAU_*` variables in `main()`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field

from pantau.settings import REPO_DIR, CommonSettings
from pantau_tracker.domain.standards import TrackerPolicy


class TrackerSettings(CommonSettings):
    """The tracker's own settings on top of the common ones."""

    tracker_host: str = Field("127.0.0.1", description="tracker web (case state) bind address")
    tracker_port: int = Field(6066, ge=1, le=65535, description="tracker web (case state) port")
    tracker_data_dir: Path | None = Field(
        None, description="tracker RocksDB state folder [default .local/tracker/<prefix>]"
    )
    tracker_backdated_tolerance_s: float = Field(
        24 * 3600, gt=0, description="time.backdated: receive time minus occurred_at limit (s)"
    )
    tracker_future_tolerance_s: float = Field(
        300, gt=0, description="time.future: occurred_at beyond receive time limit (s)"
    )
    tracker_retention_days: float = Field(
        90, gt=0, description="days a closed case is kept after its closing"
    )
    tracker_backfill_settle_s: float = Field(
        60, ge=0, description="seconds a backfilled case waits before its deadline timers"
    )
    tracker_cross_case: bool = Field(
        True,
        description="run the cross-case rules (queue.jump, speed.too_fast, officer.burst, "
        "applicant.broker, sla.clock_reset_abuse, time.off_hours)",
    )
    tracker_role: Literal["all", "cases", "rules"] = Field(
        "all",
        description="what this worker runs: all (case tracking and the stateful cross-case "
        "rules), cases (case tracking only, with `rules` workers beside it) or rules",
    )
    tracker_session_timeout_s: float = Field(
        10, ge=6, le=300, description="seconds before a silent worker's partitions move on"
    )
    internal_token: str | None = Field(
        None,
        description="bearer token the tracker's case-read endpoint requires (unset: none, "
        "so keep the tracker's port on loopback or an internal network)",
    )
    tracker_batch_max: int = Field(
        2000, ge=1, le=100_000, description="records the tracker folds in one batch at most"
    )
    tracker_batch_within_s: float = Field(
        # Every record of live traffic waits up to this long: at 0.05 s the 202 -> alert p99 at
        # 1,000 events/s was 247-331 ms, at 0.02 s 146-171 ms, for 0.03-0.04 of a core more at
        # 50-800 events/s (smaller batches); 0.01 s gained 50 ms more for twice that CPU. A
        # backlog fills its batches to `tracker_batch_max` and never waits.
        0.02,
        gt=0,
        le=5,
        description="seconds a batch waits to fill before it is folded",
    )
    tracker_allowed_lateness_s: float = Field(
        120,
        ge=0,
        le=86_400,
        description="seconds the cross-case rules wait for earlier steps from other partitions "
        "before judging a step (event-time order); a step later than that is judged on arrival",
    )
    tracker_backlog_lateness_s: float = Field(
        7 * 86_400,
        ge=0,
        le=90 * 86_400,
        description="the allowed lateness while a partition is read from a backlog (a replay, "
        "a catch-up after an outage): steps its agency sent up to this much out of order are "
        "still judged in event-time order, whatever the timing of the read",
    )
    tracker_timer_interval_s: float = Field(
        1.0, gt=0, le=5, description="seconds between deadline timer ticks"
    )
    tracker_commit_interval_s: float = Field(
        # Each commit first waits for the producer's sends (they are acknowledged anyway) and
        # then sends one offset commit. At 1.0 a backlog was seen done up to a second after
        # its last event was handled (half a second on average); at 0.2 the throughput over
        # a 50,000-event backlog rose by about a tenth (BENCHMARKS.md).
        0.2,
        gt=0,
        le=10,
        description="seconds between commits of the offsets of handled records",
    )
    tracker_fetch_hold_ms: int = Field(
        20,
        ge=0,
        le=500,
        description="milliseconds the broker may hold a fetch to gather records while they flow "
        "steadily and the worker keeps up (0: never held)",
    )

    tracker_store_write_buffer_mb: int = Field(
        # Faust's RocksDB defaults are three 64 MiB memtables and a 2 GiB block cache for each
        # partition's store of each table: a worker's memory grew with every open case (3,320 B
        # each over 200,000 cases) towards gigabytes. With two 8 MiB memtables and an 8 MiB cache
        # it was 2,023 B, recovery after kill -9 took 9.8 s instead of 10.3, and a backlog ran
        # as fast (alternating runs; 4 MiB memtables cost about 6 % of it).
        8,
        ge=1,
        le=256,
        description="MiB of each of the two RocksDB memtables of each partition's store of each "
        "tracker table (writes are flushed to disk beyond)",
    )
    tracker_store_block_cache_mb: int = Field(
        8,
        ge=1,
        le=4096,
        description="MiB of RocksDB block cache of each partition's store of each tracker table "
        "(states read from disk; the operating system caches the files too)",
    )

    @property
    def rocksdb_options(self) -> dict[str, int]:
        """The RocksDB options of every table's partition stores: bounded memory whatever the
        number of open cases (Faust's defaults hold up to 3 x 64 MiB of writes and a 2 GiB
        cache per store)."""
        return {
            "write_buffer_size": self.tracker_store_write_buffer_mb << 20,
            "max_write_buffer_number": 2,
            "block_cache_size": self.tracker_store_block_cache_mb << 20,
        }

    @property
    def data_dir(self) -> Path:
        """Where this stack's tracker keeps RocksDB: unique per topic prefix by default."""
        if self.tracker_data_dir is not None:
            return self.tracker_data_dir
        folder = self.topic_prefix.rstrip(".") + ("-rules" if self.tracker_role == "rules" else "")
        return REPO_DIR / ".local" / "tracker" / folder

    @property
    def app_id(self) -> str:
        """The Faust app id: the consumer group, and the prefix of the changelog topics.

        `rules` workers form a group of their own, so their state is their own too: switching a
        stack between one `all` worker kind and split `cases` + `rules` workers starts the
        stateful rules afresh.
        """
        return self.topics.group("tracker-rules" if self.tracker_role == "rules" else "tracker")

    @property
    def clock_topic(self) -> str:
        """The internal topic of deadline checks, co-partitioned with the events topic."""
        return f"{self.topic_prefix}tracker-clock"

    @property
    def policy(self) -> TrackerPolicy:
        return TrackerPolicy(
            backdated_tolerance=timedelta(seconds=self.tracker_backdated_tolerance_s),
            future_tolerance=timedelta(seconds=self.tracker_future_tolerance_s),
            retention=timedelta(days=self.tracker_retention_days),
            backfill_settle=timedelta(seconds=self.tracker_backfill_settle_s),
            cross_case=self.tracker_cross_case,
        )

    @property
    def oversight_topic(self) -> str:
        """The internal topic of applied steps re-keyed for the cross-case rules, with the
        partition count of the events topic (each rule's table is partitioned alike)."""
        return f"{self.topic_prefix}tracker-oversight"
