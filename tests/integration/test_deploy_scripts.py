"""The local-server scripts fail with one clear message and never touch what they did not start."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ports import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def squatter() -> Iterator[int]:
    """A program that is neither Kafka nor ClickHouse, listening on a port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


def _run(script: str, action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "deploy" / script), action],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_kafka_refuses_a_port_taken_by_another_program(squatter: int, tmp_path: Path) -> None:
    """Starting Kafka on a port another program holds ends with a message naming the port."""
    result = _run(
        "kafka.sh",
        "start",
        {"PANTAU_LOCAL_DIR": str(tmp_path), "PANTAU_KAFKA_PORT": str(squatter)},
    )
    assert result.returncode != 0
    assert f"port 127.0.0.1:{squatter} is taken by another program" in result.stderr


def test_clickhouse_refuses_a_port_taken_by_another_program(squatter: int, tmp_path: Path) -> None:
    """Starting ClickHouse on a port another program holds ends with a message naming it."""
    result = _run(
        "clickhouse.sh",
        "start",
        {
            "PANTAU_LOCAL_DIR": str(tmp_path),
            "PANTAU_CLICKHOUSE_TCP_PORT": str(squatter),
            "PANTAU_CLICKHOUSE_HTTP_PORT": str(free_port()),
        },
    )
    assert result.returncode != 0
    assert f"port 127.0.0.1:{squatter} is taken by another program" in result.stderr


def test_stop_leaves_a_foreign_process_alone(squatter: int, tmp_path: Path) -> None:
    """`stop` with a pid file pointing at a process the scripts did not start kills nothing."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (run_dir / "kafka.pid").write_text(str(sleeper.pid))
        result = _run("kafka.sh", "stop", {"PANTAU_LOCAL_DIR": str(tmp_path)})
        assert result.returncode == 0
        assert "nothing of ours to stop" in result.stdout
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize(
    ("variable", "absent", "message"),
    [
        pytest.param(
            "PANTAU_JAVA", "no-java-here", "Java not found", id="test_missing_java_is_named"
        ),
        pytest.param(
            "PANTAU_MVN", "no-mvn-here", "Maven not found", id="test_missing_maven_is_named"
        ),
    ],
)
def test_a_missing_tool_is_named(tmp_path: Path, variable: str, absent: str, message: str) -> None:
    """Without Java, or without Maven (and no cached jars), the broker does not start and the
    message names what to install."""
    result = _run(
        "kafka.sh",
        "start",
        {
            "PANTAU_LOCAL_DIR": str(tmp_path),
            "PANTAU_KAFKA_PORT": str(free_port()),
            "PANTAU_KAFKA_CONTROLLER_PORT": str(free_port()),
            variable: str(tmp_path / absent),
        },
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_status_reports_a_stopped_server(tmp_path: Path) -> None:
    """`status` of a server that is not running says so and exits non-zero."""
    result = _run(
        "kafka.sh",
        "status",
        {"PANTAU_LOCAL_DIR": str(tmp_path), "PANTAU_KAFKA_PORT": str(free_port())},
    )
    assert result.returncode == 1
    assert "kafka: not running" in result.stdout


@pytest.mark.parametrize(
    ("script", "action", "variable", "count", "several", "single", "bad"),
    [
        pytest.param(
            "kafka.sh",
            "servers",
            "PANTAU_KAFKA_BROKERS",
            "3",
            "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094",
            "127.0.0.1:9092",
            "three",
            id="test_kafka_cluster_layout_gives_each_broker_its_own_port",
        ),
        pytest.param(
            "clickhouse.sh",
            "url",
            "PANTAU_CLICKHOUSE_REPLICAS",
            "2",
            "clickhouse://default@127.0.0.1:19000,127.0.0.1:19001/pantau",
            "clickhouse://default@127.0.0.1:9000/pantau",
            "0",
            id="test_clickhouse_replicas_layout_gives_each_replica_its_own_ports",
        ),
    ],
)
def test_a_cluster_layout_gives_each_server_its_own_ports(
    tmp_path: Path,
    script: str,
    action: str,
    variable: str,
    count: str,
    several: str,
    single: str,
    bad: str,
) -> None:
    """PANTAU_KAFKA_BROKERS=3 lists three brokers on consecutive ports from PANTAU_KAFKA_PORT
    (19092 by default, away from the single broker's 9092); PANTAU_CLICKHOUSE_REPLICAS=2 names
    both replicas in the URL the stack then uses, on ports away from the single server's 9000.
    Anything but 1 to 9 servers is refused."""
    env = {"PANTAU_LOCAL_DIR": str(tmp_path), variable: count}
    result = _run(script, action, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == several
    alone = _run(script, action, {"PANTAU_LOCAL_DIR": str(tmp_path)})
    assert alone.stdout.strip() == single
    wrong = _run(script, action, {**env, variable: bad})
    assert wrong.returncode != 0
    assert f"{variable} must be 1 to 9" in wrong.stderr
