"""Settings of `pantau sink`: batching, back-off and the bounds that keep its memory flat."""

from __future__ import annotations

from pydantic import Field

from pantau.history.settings import CheckpointSettings


class SinkSettings(CheckpointSettings):
    """The ClickHouse sink: batching, back-off and the bounds that keep its memory flat."""

    sink_batch_rows: int = Field(
        1000, ge=1, le=100_000, description="insert a table's rows once this many are buffered"
    )
    sink_backlog_batch_rows: int = Field(
        # Every INSERT makes a part on the server, at a fixed cost: on ClickHouse 18.16 a
        # 2,500-row insert of events costs the server 8-12 µs of CPU per row, a 10,000-row one
        # 3-4 (see BENCHMARKS.md). A backlog batch of 10,000 rows holds about 25 MiB more.
        10_000,
        ge=1,
        le=200_000,
        description="the row limit while Kafka holds a backlog (a poll came back full)",
    )
    sink_batch_seconds: float = Field(
        1.0, gt=0, le=60, description="or once its oldest buffered row waited this long"
    )
    sink_max_poll_records: int = Field(
        2000, ge=1, le=10_000, description="records taken from Kafka per poll"
    )
    sink_fetch_max_bytes: int = Field(
        4 * 1024 * 1024, ge=65_536, description="bytes Kafka may prefetch per fetch"
    )
    sink_chain_cache_cases: int = Field(
        # About 860 bytes a case with five events: 26 MB, what 20,000 heads took while their
        # event ids were frozensets.
        30_000,
        ge=1,
        description="chain heads kept in memory (LRU); misses read ClickHouse",
    )
    sink_retry_max_seconds: float = Field(
        5.0, gt=0, le=300, description="longest pause between retries while ClickHouse is down"
    )
    sink_checkpoint_seconds: float = Field(
        30.0, gt=0, description="how often the touched chain heads are signed and written"
    )
    sink_metrics_host: str = Field(
        "127.0.0.1", description="address of the sink's /metrics, /healthz and /readyz"
    )
    sink_metrics_port: int = Field(
        8003, ge=0, le=65535, description="port of the sink's /metrics (0: any free port)"
    )
    sink_load_standards: bool = Field(
        True,
        description="at start, store the catalog's service standards in ClickHouse (version 0) "
        "and those of every stored version of the standards that has none",
    )
