"""Configuration shared by every Pantau process, read only from `PANTAU_*` variables.

Each process builds its settings once in its `main()` and passes them down; nothing is read at
import time. Topic names and consumer groups derive from the topic prefix so that several stacks
can share one broker and one ClickHouse server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_DIR = Path(__file__).resolve().parents[2]
SAMPLE_CATALOG = REPO_DIR / "catalog"


@dataclass(frozen=True)
class TopicNames:
    """The contract's topics (section 4) under one prefix."""

    prefix: str

    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}events.dlq"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}alerts"

    @property
    def cases(self) -> str:
        return f"{self.prefix}cases"

    @property
    def alert_actions(self) -> str:
        return f"{self.prefix}alert-actions"

    def group(self, process: str) -> str:
        """The consumer group (or Faust app id) of one process of this stack."""
        return f"{self.prefix}{process}"


@dataclass(frozen=True)
class ClickHouseTarget:
    """Where the history of record lives, parsed from `clickhouse://user:password@host:port/db`."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def parse(cls, url: str) -> ClickHouseTarget:
        parsed = urlparse(url)
        if parsed.scheme != "clickhouse":
            raise ValueError(f"PANTAU_CLICKHOUSE must start with clickhouse://, got {url!r}")
        database = parsed.path.lstrip("/") or "pantau"
        if not database.replace("_", "").isalnum():
            raise ValueError(f"database name {database!r} may hold only letters, digits and _")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 9000,
            user=parsed.username or "default",
            password=parsed.password or "",
            database=database,
        )


class CommonSettings(BaseSettings):
    """What every process needs: the broker, the topic prefix, ClickHouse and the catalog."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_", extra="ignore")

    kafka: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated")
    topic_prefix: str = Field("pantau.", description="prefix of every topic and consumer group")
    clickhouse: str = Field(
        "clickhouse://default@127.0.0.1:9000/pantau",
        description="ClickHouse native URL; the path names the database",
    )
    catalog: Path = Field(SAMPLE_CATALOG, description="service catalog: a YAML file or folder")
    partitions: int = Field(12, ge=1, le=256, description="partitions of the contract topics")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["json", "text"] = Field(
        "json", description="json: one JSON object per line; text: for people at a terminal"
    )

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "._-" for c in value):
            raise ValueError("may hold only letters, digits, '.', '_' and '-'")
        return value

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def clickhouse_target(self) -> ClickHouseTarget:
        return ClickHouseTarget.parse(self.clickhouse)

    @property
    def kafka_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka.split(",") if s.strip()]
