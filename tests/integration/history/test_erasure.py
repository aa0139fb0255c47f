"""Erasure by crypto-shredding against the real Kafka broker and ClickHouse server: events of two
applicants sealed, one applicant's by the HTTP intake (given a NIK), the other's by the publishing
library, stored by `pantau sink`; the first erased with `pantau erase --case`; the history still
verifies, nothing yields the erased plaintext, the other applicant's data still opens, and the
erasure is recorded."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from integration.history.sink_process import SinkProcess, wait_for
from pantau.adapters.key_store import read_key_records, read_keys
from pantau.adapters.sealed_publisher import SealedEventPublisher
from pantau.core.pseudonym import PseudonymKey
from pantau.core.sealing import MasterKey, applicant_key_id, envelope_key, open_sealed
from pantau.settings import REPO_DIR, TopicNames
from pantau_intake.adapters.kafka_publisher import KafkaPublisher
from pantau_intake.app import create_app
from pantau_intake.settings import IntakeSettings
from stacks import pantau_cli

MASTER = "test-master-key-of-at-least-32-bytes!!"
PSEUDONYM_KEY = "integration-test-pseudonym-key"
NIK = "3573010101900002"
AGENCY = "kota-malang.dpmptsp"


@pytest.fixture
def sealed_env(sink_env: dict[str, str]) -> dict[str, str]:
    """The sink's variables (the isolated stack, a checkpoint key and directory) and the master
    key."""
    return {**sink_env, "PANTAU_MASTER_KEY": MASTER}


def _case(case_id: str, applicant: dict[str, str], secrets: dict[str, str]) -> list[dict[str, Any]]:
    """A case submitted with personal attributes and rejected with a personal reason."""
    base = {"agency": AGENCY, "service": "pbg", "case_id": case_id, "applicant": applicant}
    return [
        {
            **base,
            "event_id": f"{case_id}:1",
            "step": "submitted",
            "occurred_at": "2026-11-23T09:00:00+07:00",
            "attributes": {
                "address": secrets["address"],
                "phone": secrets["phone"],
                "representative_ref": "k1:" + "ef" * 32,
            },
        },
        {
            **base,
            "event_id": f"{case_id}:2",
            "step": "rejected",
            "occurred_at": "2026-11-24T10:00:00+07:00",
            "reason": secrets["reason"],
            "attributes": {"land_certificate": secrets["certificate"]},
        },
    ]


def _intake_app(env: dict[str, str], follow_erasures: bool = False) -> Any:
    """The intake app publishing to the stack's topics on the real broker, sealing."""
    settings = IntakeSettings(
        kafka=env["PANTAU_KAFKA"],
        topic_prefix=env["PANTAU_TOPIC_PREFIX"],
        api_keys=REPO_DIR / "deploy" / "dev-api-keys.yaml",
        pseudonym_key=PSEUDONYM_KEY,
        master_key=MASTER,
    )
    return create_app(
        settings,
        publisher=KafkaPublisher(settings.kafka_servers, settings.topics.events),
        key_publisher=KafkaPublisher(settings.kafka_servers, settings.topics.applicant_keys),
        follow_erasures=follow_erasures,
    )


def _post(client: TestClient, events: list[dict[str, Any]]) -> None:
    response = client.post(
        "/v1/events",
        content=json.dumps({"events": events}).encode(),
        headers={
            "Authorization": "Bearer dev-kota-malang.dpmptsp",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 202, response.text


def _through_the_intake(env: dict[str, str], events: list[dict[str, Any]]) -> None:
    """POST the events to the intake (publishing to the real broker) and expect 202."""
    with TestClient(_intake_app(env)) as client:
        _post(client, events)


def _topic_bytes(servers: str, prefix: str) -> bytes:
    """Every key and value of every topic of the stack, read to its end."""
    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        topics = [t for t in admin.list_topics() if t.startswith(prefix)]
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False)
    found = bytearray()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            for records in consumer.poll(timeout_ms=5000).values():
                for record in records:
                    found += (record.key or b"") + b"\n" + (record.value or b"") + b"\n"
            remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()
    assert len(topics) >= 8, topics  # the contract topics, standards, key store, erasures
    return bytes(found)


def _clickhouse_text(client: Client, database: str) -> str:
    """Every cell of every table and view of the database, as text."""
    names = [row[0] for row in client.execute(f"SHOW TABLES FROM `{database}`")]
    assert {"events", "v_events", "erasures", "v_erasures", "v_personal_data"} <= set(names)
    cells: list[str] = []
    for name in names:
        for row in client.execute(f"SELECT * FROM `{database}`.`{name}`"):
            cells.extend(str(cell) for cell in row)
    return "\n".join(cells)


def _personal(env: dict[str, str], case_id: str) -> list[dict[str, Any]]:
    shown = pantau_cli(env, "personal", "--case", f"{AGENCY}/{case_id}")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return [json.loads(line) for line in shown.stdout.splitlines()]


def test_an_erased_applicant_reads_as_erased_everywhere_and_the_history_verifies(
    sealed_env: dict[str, str], history_client: Client, tmp_path: Path
) -> None:
    """After `pantau erase`: verify says intact; no topic, table or view holds the plaintext of
    either applicant; the key store holds no live key of the erased one, whose fields read
    `[erased]`, while the other's still open; the erasure is recorded without the data."""
    env, tag = sealed_env, uuid.uuid4().hex[:8]
    prefix, servers = env["PANTAU_TOPIC_PREFIX"], env["PANTAU_KAFKA"]
    erased_ref = PseudonymKey(PSEUDONYM_KEY.encode()).pseudonymise(NIK)
    kept_ref = f"k1:{'2b' * 32}"
    erased = {
        "address": f"Jl. Kawi {tag}-A",
        "phone": f"0812-{tag}-A",
        "reason": f"Siti Rahayu {tag}-A: sertifikat tidak sah",
        "certificate": f"SHM-{tag}-A",
    }
    kept = {name: value.replace("-A", "-B") for name, value in erased.items()}
    master = MasterKey(MASTER.encode())
    _through_the_intake(env, _case(f"E-{tag}", {"nik": NIK}, erased))
    publisher = SealedEventPublisher([servers], prefix, master)
    try:
        published = publisher.publish(
            _case(f"K-{tag}", {"ref": kept_ref}, kept), now=datetime.now(UTC)
        )
    finally:
        publisher.close()
    assert all(event.attributes.get("pantau_sealed") for event in published)
    sink = SinkProcess(env, tmp_path / "sink.log")
    try:
        wait_for(lambda: history_client.execute("SELECT count() FROM events")[0][0] == 4, 90)
    finally:
        assert sink.stop() == 0, sink.log.read_text()

    before = _personal(env, f"K-{tag}") + _personal(env, f"E-{tag}")
    assert [e["personal_data"] for e in before] == ["open"] * 4
    assert before[3]["reason"] == erased["reason"]
    assert before[2]["attributes"]["address"] == erased["address"]

    asked = datetime.now(UTC)
    erase = pantau_cli(
        env, "erase", "--case", f"{AGENCY}/E-{tag}", "--by", "ppid-kota-malang", "--reason", "PDP-7"
    )
    assert erase.returncode == 0, erase.stdout + erase.stderr
    # One writer within a key's lifetime: one data key for each applicant.
    assert f"erased {applicant_key_id(erased_ref)}: 1 data keys destroyed" in erase.stdout

    verified = pantau_cli(env, "verify", "all")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact: 2 cases, 4 events" in verified.stdout

    after_erased = _personal(env, f"E-{tag}")
    assert [e["personal_data"] for e in after_erased] == ["erased", "erased"]
    assert after_erased[1]["reason"] == "[erased]"
    assert after_erased[0]["attributes"] == {
        "representative_ref": "k1:" + "ef" * 32,
        "pantau_sealed": "[erased]",
    }
    assert after_erased[0]["applicant_ref"] == erased_ref  # the rules' pseudonym stays
    after_kept = _personal(env, f"K-{tag}")
    assert [e["personal_data"] for e in after_kept] == ["open", "open"]
    assert after_kept[1]["reason"] == kept["reason"]
    assert after_kept[0]["attributes"]["phone"] == kept["phone"]

    keys_topic = TopicNames(prefix).applicant_keys
    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, keys_topic)])
    finally:
        admin.close()
    assert configs["topic"][keys_topic]["cleanup.policy"]["value"] == "compact"
    assert configs["topic"][keys_topic]["max.compaction.lag.ms"]["value"] == "86400000"
    ring = read_keys([servers], keys_topic, master)
    assert {key.applicant for key in ring.keys.values()} == {applicant_key_id(kept_ref)}
    latest: dict[bytes, bytes | None] = {}
    for key, value in read_key_records([servers], keys_topic):
        latest[key] = value
    mine = [k for k in latest if k.startswith(applicant_key_id(erased_ref).encode())]
    assert mine
    assert all(latest[k] is None for k in mine)

    flags = history_client.execute(
        "SELECT case_id, groupArray(erased) FROM v_personal_data "
        "WHERE sealed GROUP BY case_id ORDER BY case_id"
    )
    assert flags == [(f"E-{tag}", [1, 1]), (f"K-{tag}", [0, 0])]
    records = history_client.execute(
        "SELECT erased_by, why, scope, applicant_key, length(data_keys) FROM v_erasures"
    )
    assert records == [
        ("ppid-kota-malang", "PDP-7", f"case {AGENCY}/E-{tag}", applicant_key_id(erased_ref), 1)
    ]
    [(erased_at,)] = history_client.execute("SELECT erased_at FROM v_erasures")
    assert asked.replace(microsecond=0) <= erased_at.replace(tzinfo=UTC) <= datetime.now(UTC)

    topics = _topic_bytes(servers, prefix)
    stored = _clickhouse_text(history_client, history_client.connection.database)
    assert erased_ref.encode() in topics  # the scan reads what is there
    for plaintext in [*erased.values(), *kept.values(), NIK]:
        assert plaintext.encode() not in topics, plaintext
        assert plaintext not in stored, plaintext


def _sealed_events(servers: str, topic: str) -> dict[str, dict[str, Any]]:
    """The stack's events topic read to its end: event_id -> document."""
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False)
    found: dict[str, dict[str, Any]] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(p) < ends[p] for p in partitions):
            for records in consumer.poll(timeout_ms=2000).values():
                for record in records:
                    document = json.loads(record.value)
                    found[document["event_id"]] = document
    finally:
        consumer.close()
    return found


def test_a_running_intake_seals_with_a_new_key_after_an_erasure(
    sealed_env: dict[str, str],
) -> None:
    """The intake follows the erasures topic: once an applicant is erased it drops the destroyed
    key, so the applicant's next event gets a new key and stays readable, while the earlier one
    reads as erased."""
    env, tag = sealed_env, uuid.uuid4().hex[:8]
    prefix, servers = env["PANTAU_TOPIC_PREFIX"], env["PANTAU_KAFKA"]
    topics = TopicNames(prefix)
    ref = PseudonymKey(PSEUDONYM_KEY.encode()).pseudonymise(NIK)
    applicant = applicant_key_id(ref)
    master = MasterKey(MASTER.encode())
    secrets = {"address": "a", "phone": "p", "reason": f"before {tag}", "certificate": "c"}
    app = _intake_app(env, follow_erasures=True)
    with TestClient(app) as client:
        _post(client, _case(f"B-{tag}", {"nik": NIK}, secrets)[1:])
        erase = pantau_cli(env, "erase", "--applicant", ref, "--by", "ppid", "--reason", "PDP-8")
        assert erase.returncode == 0, erase.stdout + erase.stderr
        wait_for(lambda: not app.state.intake.sealing.holds(applicant), timeout=30)
        _post(client, _case(f"A-{tag}", {"nik": NIK}, {**secrets, "reason": f"after {tag}"})[1:])
    ring = read_keys([servers], topics.applicant_keys, master)
    events = _sealed_events(servers, topics.events)
    before, after = events[f"B-{tag}:2"], events[f"A-{tag}:2"]
    assert envelope_key(before) != envelope_key(after)
    assert [key.key_id for key in ring.keys.values()] == [envelope_key(after)]
    assert open_sealed(before, ring.find).document["reason"] == "[erased]"
    assert open_sealed(after, ring.find).document["reason"] == f"after {tag}"
