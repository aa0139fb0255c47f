"""The foundation against the real servers: Kafka 4.x, ClickHouse, and an idempotent bootstrap."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime

from clickhouse_driver import Client
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from stacks import stack_settings


def test_broker_is_apache_kafka_4(stack_env: dict[str, str]) -> None:
    """The local broker negotiates as Apache Kafka 4.x."""
    admin = KafkaAdminClient(bootstrap_servers=stack_env["PANTAU_KAFKA"])
    try:
        assert admin._client.check_version()[0] == 4
    finally:
        admin.close()


def test_produce_and_consume_round_trip_with_append_time(stack_env: dict[str, str]) -> None:
    """A record produced with acks=all comes back intact, stamped with broker append time."""
    topic = stack_settings(stack_env).topics.events
    key, value = b"kota-malang.dpmptsp|PBG-1", uuid.uuid4().bytes
    producer = KafkaProducer(bootstrap_servers=stack_env["PANTAU_KAFKA"], acks="all")
    sent_at_ms = int(datetime.now(UTC).timestamp() * 1000)
    metadata = producer.send(topic, key=key, value=value, timestamp_ms=1_000).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=stack_env["PANTAU_KAFKA"],
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    partition = TopicPartition(topic, metadata.partition)
    consumer.assign([partition])
    consumer.seek(partition, metadata.offset)
    record = next(iter(consumer))
    consumer.close()
    assert (record.key, record.value) == (key, value)
    # LogAppendTime replaces the producer's (absurd) timestamp with the broker's clock.
    assert record.timestamp_type == 1
    assert record.timestamp >= sent_at_ms - 5_000


def test_bootstrap_created_the_contract_topics(stack_env: dict[str, str]) -> None:
    """Bootstrap creates the five contract topics, with compaction on the case-state topic."""
    names = stack_settings(stack_env).topics
    admin = KafkaAdminClient(bootstrap_servers=stack_env["PANTAU_KAFKA"])
    try:
        topics = set(admin.list_topics())
        wanted = {names.events, names.dlq, names.alerts, names.cases, names.alert_actions}
        assert wanted <= topics
        described = {t["name"]: t for t in admin.describe_topics([names.events, names.cases])}
        assert len(described[names.events]["partitions"]) == 12
        configs = admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, names.cases),
                ConfigResource(ConfigResourceType.TOPIC, names.events),
            ]
        )["topic"]
        assert configs[names.cases]["cleanup.policy"]["value"] == "compact"
        assert configs[names.events]["message.timestamp.type"]["value"] == "LogAppendTime"
    finally:
        admin.close()


def test_bootstrap_twice_changes_nothing(stack_env: dict[str, str]) -> None:
    """A second `pantau bootstrap` creates no topic and applies no migration."""
    result = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "bootstrap"],
        env={**stack_env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "created" not in result.stdout
    assert "applied" not in result.stdout
    assert "schema up to date" in result.stdout


def test_clickhouse_stores_and_returns_rows(stack_env: dict[str, str]) -> None:
    """The real ClickHouse server accepts an insert into the events table and returns the row."""
    target = stack_settings(stack_env).clickhouse_target
    client = Client(host=target.host, port=target.port, database=target.database)
    try:
        event_id = f"probe:{uuid.uuid4().hex}"
        client.execute(
            "INSERT INTO events (event_id, agency, service, case_id, step, occurred_at, "
            "received_at, stored_at) VALUES",
            [
                (
                    event_id,
                    "kota-malang.dpmptsp",
                    "pbg",
                    "PBG-1",
                    "submitted",
                    datetime(2026, 11, 27, 2, 15),
                    datetime(2026, 11, 27, 2, 15, 3),
                    datetime(2026, 11, 27, 2, 15, 4),
                )
            ],
        )
        rows = client.execute(
            "SELECT agency, step, occurred_at FROM events WHERE event_id = %(id)s", {"id": event_id}
        )
        assert rows == [("kota-malang.dpmptsp", "submitted", datetime(2026, 11, 27, 2, 15))]
        assert client.execute("SELECT version()")[0][0]
    finally:
        client.disconnect()
