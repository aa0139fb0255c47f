"""docker-compose.yml agrees with the code: commands, ports and PANTAU_* variables exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from pantau.cli import COMMANDS, _available
from pantau.settings import CommonSettings

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _settings_class(target: str) -> type[BaseSettings]:
    module, _, name = target.partition(":")
    cls: object = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type)
    assert issubclass(cls, BaseSettings)
    return cls


def _pantau_services() -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in _compose()["services"].items()
        if svc.get("image") == "pantau:local"
    }


def test_infrastructure_services_are_current_kafka_and_clickhouse() -> None:
    """Compose runs an Apache Kafka 4.x broker and a current ClickHouse server."""
    services = _compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_every_pantau_service_runs_an_available_command() -> None:
    """Each Pantau container runs a `pantau` command that this build has."""
    names = {c.name: c for c in COMMANDS}
    services = _pantau_services()
    assert "bootstrap" in services
    for name, svc in services.items():
        command = svc["command"][0]
        assert command in names, f"{name}: unknown command {command}"
        assert _available(names[command]), f"{name}: command {command} is not in this build"


def test_environment_names_only_known_settings() -> None:
    """Every PANTAU_* variable in compose is read by the common or the command's settings."""
    known = {f"PANTAU_{n.upper()}" for n in CommonSettings.model_fields}
    commands = {c.name: c for c in COMMANDS}
    for name, svc in _pantau_services().items():
        command = commands[svc["command"][0]]
        allowed = set(known)
        if command.settings:
            allowed |= {
                f"PANTAU_{n.upper()}" for n in _settings_class(command.settings).model_fields
            }
        unknown = {k for k in svc.get("environment", {}) if k not in allowed}
        assert not unknown, f"{name}: variables no settings class reads: {sorted(unknown)}"


def test_published_ports_match_the_settings_defaults() -> None:
    """Ports published for the HTTP services are the ports their settings default to."""
    commands = {c.name: c for c in COMMANDS}
    for name, svc in _pantau_services().items():
        command = commands[svc["command"][0]]
        if not svc.get("ports") or command.settings is None:
            continue
        cls = _settings_class(command.settings)
        port_field = next(f for f in cls.model_fields if f.endswith("port"))
        default = cls.model_fields[port_field].default
        assert any(p.endswith(f":{default}") for p in svc["ports"]), name


def _default(value: str) -> str:
    """The default of a `${VARIABLE:-default}` value (the value itself otherwise)."""
    match = re.fullmatch(r"\$\{[A-Z_]+:-(.*)\}", value)
    return match.group(1) if match else value


def test_kafka_and_clickhouse_addresses_point_at_compose_services() -> None:
    """The shared environment points the processes at the compose broker and database."""
    env = _pantau_services()["bootstrap"]["environment"]
    assert _default(env["PANTAU_KAFKA"]).split(":")[0] in _compose()["services"]
    assert "@clickhouse:9000/" in _default(env["PANTAU_CLICKHOUSE"])


def test_cluster_profile_has_three_brokers_and_two_replicas_with_keeper() -> None:
    """The cluster profile: three KRaft brokers, every one a voter of one quorum, replicating
    internal topics three times with two in sync; two ClickHouse replicas of one shard with
    Keeper; the addresses the compose file's header gives are its services."""
    services = _compose()["services"]
    profile = {name for name, svc in services.items() if svc.get("profiles") == ["cluster"]}
    assert profile == {"kafka-1", "kafka-2", "kafka-3", "keeper", "clickhouse-1", "clickhouse-2"}
    for node in (1, 2, 3):
        env = services[f"kafka-{node}"]["environment"]
        assert env["KAFKA_NODE_ID"] == node
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == (
            "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
        )
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://kafka-{node}:9092"
        assert (
            env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"],
            env["KAFKA_MIN_INSYNC_REPLICAS"],
        ) == (
            3,
            2,
        )
    replica_config = (REPO / "deploy" / "compose" / "clickhouse-replica.xml").read_text()
    assert "<host>keeper</host>" in replica_config
    for name in ("clickhouse-1", "clickhouse-2"):
        assert services[name]["environment"]["CLICKHOUSE_REPLICA"] == name
        assert f"<host>{name}</host>" in replica_config
    header = (REPO / "docker-compose.yml").read_text()
    urls = re.search(
        r"PANTAU_KAFKA=(\S+) .*?PANTAU_CLICKHOUSE=clickhouse://default@(\S+)/", header, re.S
    )
    assert urls is not None
    hosts = [a.split(":")[0] for a in urls.group(1).split(",") + urls.group(2).split(",")]
    assert set(hosts) <= profile
    assert len(hosts) == 5
