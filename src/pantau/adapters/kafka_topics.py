"""Creates the contract's topics (section 4) for one prefix; running it again changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kafka.errors import KafkaError, TopicAlreadyExistsError

from pantau.adapters.kafka_client import KafkaAdminClient, NewTopic
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


def replication_for(brokers: int) -> tuple[int, int]:
    """The replication factor and min.insync.replicas of a topic on a cluster of `brokers`:
    three copies with two in sync for a write on three brokers or more (a broker may fail
    without losing or refusing an acknowledged record), one copy on a single broker."""
    replication = max(1, min(3, brokers))
    return replication, 2 if replication >= 3 else 1


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
        replication, min_insync = replication_for(len(admin.describe_cluster()["brokers"]))
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
                            topic_configs={
                                "min.insync.replicas": str(min_insync),
                                **spec.configs,
                            },
                        )
                    ],
                    timeout_ms=30000,
                )
            except TopicAlreadyExistsError:
                report(f"topic {spec.name}: exists")
                continue
            created.append(spec.name)
            report(
                f"topic {spec.name}: created ({spec.partitions} partitions, "
                f"replication {replication}, min.insync.replicas {min_insync})"
            )
    finally:
        admin.close()
    return created


@dataclass(frozen=True)
class PartitionView:
    """One partition of a topic as the cluster reports it."""

    partition: int
    leader: int  # -1 while no replica leads it
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]


@dataclass(frozen=True)
class ClusterView:
    """The brokers of a cluster and the partitions of some of its topics."""

    brokers: dict[int, str]  # node id -> host:port
    topics: dict[str, list[PartitionView]]

    def under_replicated(self) -> dict[str, list[int]]:
        """Partitions with a replica out of sync, by topic."""
        return {
            topic: [p.partition for p in parts if set(p.in_sync) != set(p.replicas)]
            for topic, parts in self.topics.items()
            if any(set(p.in_sync) != set(p.replicas) for p in parts)
        }

    def lines(self) -> list[str]:
        """A short text picture for people: brokers, then one line per topic."""
        out = [f"broker {node} {address}" for node, address in sorted(self.brokers.items())]
        for topic, parts in sorted(self.topics.items()):
            replication = max((len(p.replicas) for p in parts), default=0)
            leaders = sorted({p.leader for p in parts})
            behind = sum(1 for p in parts if set(p.in_sync) != set(p.replicas))
            out.append(
                f"topic {topic}: {len(parts)} partitions, replication {replication}, "
                f"leaders on {leaders}, {behind} under-replicated"
            )
        return out


def describe_cluster(servers: list[str], prefix: str) -> ClusterView:
    """The brokers and every topic whose name starts with `prefix`."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=servers, client_id="pantau-describe", request_timeout_ms=15000
        )
    except KafkaError as exc:
        raise RuntimeError(f"cannot reach Kafka at {','.join(servers)}: {exc}") from exc
    try:
        cluster = admin.describe_cluster()
        names = sorted(t for t in admin.list_topics() if t.startswith(prefix))
        described = admin.describe_topics(names) if names else []
    finally:
        admin.close()
    return ClusterView(
        brokers={b["broker_id"]: f"{b['host']}:{b['port']}" for b in cluster["brokers"]},
        topics={
            topic["name"]: sorted(
                (
                    PartitionView(
                        partition=p["partition_index"],
                        leader=p["leader_id"],
                        replicas=tuple(p["replica_nodes"]),
                        in_sync=tuple(p["isr_nodes"]),
                    )
                    for p in topic["partitions"]
                ),
                key=lambda p: p.partition,
            )
            for topic in described
        },
    )


def main(argv: list[str]) -> int:
    """`pantau kafka`: the brokers and this stack's topics (PANTAU_KAFKA, PANTAU_TOPIC_PREFIX)."""
    import argparse
    import sys

    from pantau.settings import CommonSettings

    parser = argparse.ArgumentParser(
        prog="pantau kafka",
        description="Show the Kafka brokers and this stack's topics: partitions, replication, "
        "leaders and partitions with a replica out of sync.",
    )
    parser.parse_args(argv)
    settings = CommonSettings()
    try:
        view = describe_cluster(settings.kafka_servers, settings.topic_prefix)
    except RuntimeError as exc:
        print(f"pantau kafka: {exc}", file=sys.stderr)
        return 1
    print("\n".join(view.lines()))
    return 0
