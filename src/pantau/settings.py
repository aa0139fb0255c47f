"""Configuration shared by every Pantau process, read only from `PANTAU_*` variables.

Each process builds its settings once in its `main()` and passes them down; nothing is read at
import time. Topic names and consumer groups derive from the topic prefix so that several stacks
can share one broker and one ClickHouse server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlparse

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pantau.logs import level_number_of

if TYPE_CHECKING:
    from pantau.core.sealing import MasterKey

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

    @property
    def standards(self) -> str:
        """The published versions of the service standards (compacted, one per version)."""
        return f"{self.prefix}standards"

    @property
    def applicant_keys(self) -> str:
        """The key store: applicants' data keys, wrapped, one compacted record per key."""
        return f"{self.prefix}applicant-keys"

    @property
    def erasures(self) -> str:
        """The record of erasures: who erased which applicant's data keys, when and why."""
        return f"{self.prefix}erasures"

    def group(self, process: str) -> str:
        """The consumer group (or Faust app id) of one process of this stack."""
        return f"{self.prefix}{process}"


@dataclass(frozen=True)
class ClickHouseTarget:
    """Where the history of record lives, parsed from `clickhouse://user:password@host:port/db`.

    Several hosts (`clickhouse://user@host1:port1,host2:port2/db`) are the replicas of one
    shard: the schema is then replicated (ReplicatedMergeTree), clients fail over from one
    replica to the next, and every insert waits for a majority of the replicas (a quorum).
    """

    host: str
    port: int
    user: str
    password: str
    database: str
    replicas: tuple[tuple[str, int], ...] = ()

    @classmethod
    def parse(cls, url: str) -> ClickHouseTarget:
        parsed = urlparse(url)
        if parsed.scheme != "clickhouse":
            raise ValueError(f"PANTAU_CLICKHOUSE must start with clickhouse://, got {url!r}")
        database = parsed.path.lstrip("/") or "pantau"
        if not database.replace("_", "").isalnum():
            raise ValueError(f"database name {database!r} may hold only letters, digits and _")
        userinfo, _, hostlist = parsed.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        replicas = tuple(_host_port(part, url) for part in hostlist.split(",") if part)
        if not replicas:
            replicas = (("127.0.0.1", 9000),)
        return cls(
            host=replicas[0][0],
            port=replicas[0][1],
            user=unquote(user) or "default",
            password=unquote(password),
            database=database,
            replicas=replicas if len(replicas) > 1 else (),
        )

    @property
    def replicated(self) -> bool:
        """Whether the URL names several replicas of one shard."""
        return len(self.replicas) > 1

    @property
    def insert_quorum(self) -> int:
        """Replicas that must hold an insert before it is acknowledged: a majority (0: one
        server, no quorum)."""
        return len(self.replicas) // 2 + 1 if self.replicated else 0

    def at(self, host: str, port: int) -> ClickHouseTarget:
        """The same database and user on one server only."""
        return ClickHouseTarget(host, port, self.user, self.password, self.database)


def _host_port(part: str, url: str) -> tuple[str, int]:
    host, sep, port = part.rpartition(":")
    if not sep:
        return part, 9000
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"PANTAU_CLICKHOUSE: {part!r} is not host:port in {url!r}")
    return host, int(port)


class CommonSettings(BaseSettings):
    """What every process needs: the broker, the topic prefix, ClickHouse and the catalog."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_", extra="ignore")

    kafka: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated")
    topic_prefix: str = Field("pantau.", description="prefix of every topic and consumer group")
    clickhouse: str = Field(
        "clickhouse://default@127.0.0.1:9000/pantau",
        description="ClickHouse native URL; the path names the database; several host:port "
        "(comma-separated) are the replicas of one shard",
    )
    catalog: Path = Field(SAMPLE_CATALOG, description="service catalog: a YAML file or folder")
    partitions: int = Field(12, ge=1, le=256, description="partitions of the contract topics")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["json", "text"] = Field(
        "json", description="json: one JSON object per line; text: for people at a terminal"
    )

    @field_validator("log_level")
    @classmethod
    def _level_is_known(cls, value: str) -> str:
        level_number_of(value)  # a ValueError names the levels there are
        return value

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


class SealingSettings(CommonSettings):
    """The master key that wraps applicants' data keys: for the writers that seal personal data
    (the intake) and the readers that open it (`pantau personal`)."""

    master_key: SecretStr | None = Field(
        None,
        description="secret (>= 32 bytes) wrapping applicants' data keys; unset: nothing sealed",
    )
    master_key_version: str = Field("m1", description="version of PANTAU_MASTER_KEY")

    def master(self) -> MasterKey | None:
        """The master key, None when unset or empty; ValueError when too short."""
        from pantau.core.sealing import MasterKey  # its cryptography only where keys are used

        if self.master_key is None or not self.master_key.get_secret_value():
            return None
        return MasterKey(
            self.master_key.get_secret_value().encode("utf-8"), self.master_key_version
        )
