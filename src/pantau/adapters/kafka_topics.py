"""Creates the contract's topics (section 4) for one prefix; running it again changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pantau.settings import TopicNames

FOREVER = "-1"
THIRTY_DAYS_MS = str(30 * 24 * 3600 * 1000)


@dataclass(frozen=True)
class TopicSpec:
    """One topic with the partitions and configs it is created with."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def contract_topics(names: TopicNames, partitions: int) -> list[TopicSpec]:
    """The five contract topics with their retention and timestamp policies."""
    return [
        # Broker append time is the trusted receive time for the backdating rules.
        TopicSpec(
            names.events,
            partitions,
            {"message.timestamp.type": "LogAppendTime", "retention.ms": THIRTY_DAYS_MS},
        ),
        TopicSpec(names.dlq, max(1, partitions // 4), {"retention.ms": THIRTY_DAYS_MS}),
        # The alerts service rebuilds its state from these two: keep them.
        TopicSpec(names.alerts, partitions, {"retention.ms": FOREVER}),
        TopicSpec(names.alert_actions, max(1, partitions // 4), {"retention.ms": FOREVER}),
        TopicSpec(
            names.cases,
            partitions,
            {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
        ),
    ]


def ensure_topics(
    servers: list[str], specs: list[TopicSpec], report: Callable[[str], None] = print
) -> list[str]:
    """Create the missing topics; return the names created. Existing ones are left as they are."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=servers, client_id="pantau-bootstrap", request_timeout_ms=15000
        )
    except KafkaError as exc:
        raise RuntimeError(f"cannot reach Kafka at {','.join(servers)}: {exc}") from exc
    created: list[str] = []
    try:
        existing = set(admin.list_topics())
        replication = min(3, len(admin.describe_cluster()["brokers"]))
        for spec in specs:
            if spec.name in existing:
                report(f"topic {spec.name}: exists")
                continue
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name=spec.name,
                            num_partitions=spec.partitions,
                            replication_factor=replication,
                            topic_configs=spec.configs,
                        )
                    ],
                    timeout_ms=30000,
                )
            except TopicAlreadyExistsError:
                report(f"topic {spec.name}: exists")
                continue
            created.append(spec.name)
            report(f"topic {spec.name}: created ({spec.partitions} partitions)")
    finally:
        admin.close()
    return created
