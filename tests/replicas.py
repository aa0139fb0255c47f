"""Private ClickHouse servers for tests, started and stopped by deploy/clickhouse.sh on free
ports: a single server a test may freeze or stop, or two replicas of one shard and a ZooKeeper of
their own (PANTAU_CLICKHOUSE_REPLICAS)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from clickhouse_driver import Client

from ports import free_port, free_ports_in_a_row
from private_servers import PrivateServer

REPO = Path(__file__).resolve().parents[1]


class PrivateClickHouse(PrivateServer):
    """A ClickHouse server of our own (deploy/clickhouse.sh, free ports) that a test may freeze
    or stop."""

    script = "clickhouse.sh"
    timeout = 90

    def __init__(self, directory: Path) -> None:
        self.tcp_port = free_port()
        super().__init__(
            directory,
            {"CLICKHOUSE_TCP_PORT": self.tcp_port, "CLICKHOUSE_HTTP_PORT": free_port()},
        )

    @property
    def pid(self) -> int:
        return self.pid_of("clickhouse")

    def wait_for_events(self, database: str, timeout: float = 40) -> None:
        """Until the sink has stored a first event in `database`: the stream is flowing."""
        client = Client(host="127.0.0.1", port=self.tcp_port)
        try:
            stored = f"SELECT count() FROM `{database}`.events"
            deadline = time.monotonic() + timeout
            while client.execute(stored)[0][0] < 1:
                assert time.monotonic() < deadline, f"no event stored in {timeout:.0f} s"
                time.sleep(0.5)
        finally:
            client.disconnect()

    @property
    def running(self) -> bool:
        """Whether the server's process is there (it may be frozen)."""
        try:
            os.kill(self.pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False
        return True

    def url(self, database: str) -> str:
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/{database}"


def _shared_local_dir() -> Path:
    return Path(os.environ.get("PANTAU_LOCAL_DIR") or REPO / ".local")


class PrivateReplicas(PrivateServer):
    """The replicas of one shard (and their ZooKeeper) in `directory`; `pid(i)` is replica i's
    server process, which a test may kill -9; `run("start")` brings back what is down."""

    script = "clickhouse.sh"

    def __init__(self, directory: Path, replicas: int = 2) -> None:
        self.replicas = replicas
        # One run of free ports for everything, so that no two of them are the same.
        first = free_ports_in_a_row(3 * replicas + 1)
        self.tcp_port = first
        super().__init__(
            directory,
            {
                "CLICKHOUSE_REPLICAS": replicas,
                "CLICKHOUSE_TCP_PORT": first,
                "CLICKHOUSE_HTTP_PORT": first + replicas,
                "CLICKHOUSE_INTERSERVER_PORT": first + 2 * replicas,
                "ZOOKEEPER_PORT": first + 3 * replicas,
            },
        )
        # ZooKeeper's jars resolved once into the shared folder, linked from the private one.
        shared = _shared_local_dir()
        subprocess.run(
            [str(REPO / "deploy" / "clickhouse.sh"), "jars"],
            env={**self.env, "PANTAU_LOCAL_DIR": str(shared)},
            check=True,
            capture_output=True,
            timeout=900,
        )
        (directory / "zookeeper").mkdir(parents=True, exist_ok=True)
        (directory / "zookeeper" / "libs").symlink_to((shared / "zookeeper" / "libs").resolve())

    @property
    def ports(self) -> list[int]:
        return [self.tcp_port + i for i in range(self.replicas)]

    def url(self, database: str) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"clickhouse://default@{hosts}/{database}"

    def pid(self, replica: int) -> int:
        return self.pid_of(f"clickhouse-replica-{replica}")

    def sync(self, database: str, timeout: float = 60) -> None:
        """Every replica has fetched every part of every replicated table of `database`."""
        from clickhouse_driver import Client

        deadline = time.monotonic() + timeout
        for port in self.ports:
            client = Client(host="127.0.0.1", port=port, send_receive_timeout=timeout)
            try:
                tables = client.execute(
                    "SELECT name FROM system.tables WHERE database = %(db)s "
                    "AND engine LIKE 'Replicated%%'",
                    {"db": database},
                )
                for (table,) in tables:
                    client.execute(f"SYSTEM SYNC REPLICA `{database}`.`{table}`")
                while client.execute(
                    "SELECT sum(queue_size) FROM system.replicas WHERE database = %(db)s",
                    {"db": database},
                )[0][0]:
                    assert time.monotonic() < deadline, f"replica :{port} did not catch up"
                    time.sleep(0.2)
            finally:
                client.disconnect()
