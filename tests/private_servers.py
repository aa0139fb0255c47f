"""Servers of a test's own, started and stopped by the deploy/ scripts on free ports: the base
they share, and private Kafka brokers (ClickHouse's are in `replicas`)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from pantau.settings import REPO_DIR
from ports import free_port, free_ports_in_a_row


class PrivateServer:
    """A server (or a group of them) of a test's own: `run(action)` runs its deploy/ script
    (`start`, `stop`, ...) with the server's `env`; a failing script fails the test with its
    output."""

    script = ""  # the deploy/ script, such as kafka.sh
    timeout = 180  # seconds one action may take

    def __init__(self, directory: Path, variables: dict[str, object]) -> None:
        """Servers kept in `directory` (as their PANTAU_LOCAL_DIR), the script run with this
        process's environment and the `PANTAU_` `variables` given."""
        self.directory = directory
        self.env = {
            **os.environ,
            "PANTAU_LOCAL_DIR": str(directory),
            **{f"PANTAU_{name}": str(value) for name, value in variables.items()},
        }

    def pid_of(self, name: str) -> int:
        """The process of the server the script keeps as `name` (its run/<name>.pid)."""
        return int((self.directory / "run" / f"{name}.pid").read_text().strip())

    def run(self, action: str) -> None:
        done = subprocess.run(
            [str(REPO_DIR / "deploy" / self.script), action],
            env=self.env,
            check=False,
            capture_output=True,
            text=True,
            timeout=self.timeout,
        )
        assert done.returncode == 0, f"{self.script} {action}: {done.stdout}{done.stderr}"

    @contextmanager
    def started(self) -> Iterator[Self]:
        """The server started, and stopped afterwards (also after a failed start: whatever
        did start)."""
        try:
            self.run("start")
            yield self
        finally:
            self.run("stop")


def _share_kafka_jars(directory: Path) -> None:
    """Link the jars deploy/kafka.sh already resolved (PANTAU_LOCAL_DIR, else the repository's
    .local) instead of resolving them again from Maven Central."""
    for local in (os.environ.get("PANTAU_LOCAL_DIR"), str(REPO_DIR / ".local")):
        shared_libs = Path(local or "") / "kafka" / "libs"
        if local and shared_libs.is_dir():
            (directory / "kafka").mkdir(parents=True)
            (directory / "kafka" / "libs").symlink_to(shared_libs.resolve())
            return


class PrivateKafkaCluster(PrivateServer):
    """A cluster of our own (deploy/kafka.sh with PANTAU_KAFKA_BROKERS, free ports): brokers a
    test may kill -9 one by one; `run("start")` brings back the ones that are down."""

    script = "kafka.sh"

    def __init__(self, directory: Path, brokers: int = 3) -> None:
        self.brokers = brokers
        # One run of free ports for brokers and controllers, so that no two are the same.
        self.port = free_ports_in_a_row(2 * brokers)
        super().__init__(
            directory,
            {
                "KAFKA_BROKERS": brokers,
                "KAFKA_PORT": self.port,
                "KAFKA_CONTROLLER_PORT": self.port + brokers,
                "KAFKA_HEAP": "-Xms128m -Xmx384m",
            },
        )
        _share_kafka_jars(directory)

    @property
    def servers(self) -> str:
        return ",".join(f"127.0.0.1:{self.port + i}" for i in range(self.brokers))

    def pid(self, node: int) -> int:
        return self.pid_of(f"kafka-node-{node}")


class PrivateBroker(PrivateServer):
    """A Kafka broker of our own (deploy/kafka.sh, free ports) that a test may kill -9."""

    script = "kafka.sh"
    timeout = 120

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        super().__init__(
            directory,
            {
                "KAFKA_PORT": self.port,
                "KAFKA_CONTROLLER_PORT": free_port(),
                "KAFKA_HEAP": "-Xms128m -Xmx512m",
            },
        )
        _share_kafka_jars(directory)

    @property
    def servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.pid_of("kafka")
