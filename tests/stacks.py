"""Isolated stacks for tests: their own topic prefix and database on the shared local servers.

The ports follow the variables the deploy scripts read, so a whole test run can use servers of
its own beside a running `make up`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from kafka import KafkaAdminClient

    from pantau.settings import CommonSettings

KAFKA_PORT = int(os.environ.get("PANTAU_KAFKA_PORT", "9092"))
CLICKHOUSE_PORT = int(os.environ.get("PANTAU_CLICKHOUSE_TCP_PORT", "9000"))
KAFKA = f"127.0.0.1:{KAFKA_PORT}"


@contextmanager
def isolated_stack(label: str, partitions: int = 12) -> Iterator[dict[str, str]]:
    """PANTAU_* variables of a fresh, bootstrapped stack; its topics and database go afterwards."""
    from clickhouse_driver import Client

    from pantau.provisioning import provision
    from pantau.settings import CommonSettings

    tag = uuid.uuid4().hex[:10]
    env = {
        "PANTAU_TOPIC_PREFIX": f"test-{label}-{tag}.",
        "PANTAU_CLICKHOUSE": (
            f"clickhouse://default@127.0.0.1:{CLICKHOUSE_PORT}/pantau_{label}_{tag}"
        ),
        "PANTAU_KAFKA": KAFKA,
        "PANTAU_PARTITIONS": str(partitions),
    }
    settings = CommonSettings(
        topic_prefix=env["PANTAU_TOPIC_PREFIX"],
        clickhouse=env["PANTAU_CLICKHOUSE"],
        kafka=env["PANTAU_KAFKA"],
        partitions=partitions,
    )
    provision(settings)
    try:
        yield env
    finally:
        delete_topics(settings.topic_prefix)
        target = settings.clickhouse_target
        client = Client(host=target.host, port=target.port)
        try:
            client.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
        finally:
            client.disconnect()


def pantau_cli(
    env: dict[str, str], *args: str, timeout: float = 400
) -> subprocess.CompletedProcess[str]:
    """`pantau <args>` in a subprocess with the stack's PANTAU_* variables; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "pantau.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def delete_topics(prefix: str, servers: str = KAFKA) -> None:
    """Delete every topic whose name starts with `prefix` (a stack's own)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def publish_at_once(servers: str, topic: str, records: Sequence[tuple[bytes, bytes]]) -> float:
    """Publish (key, value) records to `topic` with one librdkafka producer (acks=all) as fast
    as the broker takes them, and wait for every acknowledgement; the seconds it took.
    AssertionError when any record was not acknowledged."""
    from confluent_kafka import KafkaError, Message, Producer

    failed: list[KafkaError] = []

    def delivered(error: KafkaError | None, _: Message) -> None:
        if error is not None:
            failed.append(error)

    producer = Producer(
        {"bootstrap.servers": servers, "acks": "all", "enable.idempotence": True, "linger.ms": 20}
    )
    started = time.monotonic()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(60)
    assert not left, f"{left} records unsent"
    assert not failed, f"{len(failed)} records refused: {failed[:3]}"
    return time.monotonic() - started


def group_stable(admin: KafkaAdminClient, group_id: str, members: int) -> bool:
    """True when consumer group `group_id` is stable with `members` members, each holding
    partitions: the moment a several-process run stops rebalancing and shares the work."""
    try:
        group = admin.describe_groups([group_id])[group_id]
    except Exception:  # the group does not exist yet, or the coordinator is moving
        return False
    joined = group.get("members") or []
    return (
        group.get("group_state") == "Stable"
        and len(joined) == members
        and all(m["member_assignment"]["assigned_partitions"] for m in joined)
    )


def wait_answering(
    url: str, process: subprocess.Popen[bytes], timeout: float, log: Path | None = None
) -> None:
    """Until `url` answers 200; AssertionError when `process` exits first or `timeout` seconds
    pass, with the end of `log` when given."""

    def failed(what: str) -> AssertionError:
        tail = "" if log is None else f": {log.read_text(errors='replace')[-3000:]}"
        return AssertionError(f"{url} {what}{tail}")

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise failed(f"did not answer: its process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise failed(f"did not answer in {timeout:.0f} s")


def stack_settings(env: Mapping[str, str]) -> CommonSettings:
    """The common settings of a stack's PANTAU_* variables: its broker, prefix and database."""
    from pantau.settings import CommonSettings

    return CommonSettings(
        kafka=env["PANTAU_KAFKA"],
        topic_prefix=env["PANTAU_TOPIC_PREFIX"],
        clickhouse=env["PANTAU_CLICKHOUSE"],
    )


def start_pantau(command: str, env: Mapping[str, str], log: IO[Any]) -> subprocess.Popen[bytes]:
    """`pantau <command>` as `make up` starts it, with the stack's variables, output to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "pantau.cli", command],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop `process` with SIGTERM (a graceful stop), and kill it if it is still there after
    `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class PantauProcess:
    """One long-running `pantau` process, its output kept in a log for failure messages."""

    def __init__(self, command: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            command, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT
        )

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        stop_process(self.proc, timeout=15)
        self._log.close()


def stop_processes(processes: Sequence[subprocess.Popen[bytes]], logs: Sequence[IO[Any]]) -> None:
    """Terminate the processes, kill those still there after 20 s, and close their logs."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for log in logs:
        log.close()


def wait_intake_healthy(http: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the intake behind `http` answers `/healthz` (30 s at most); its log on failure."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"intake did not start: {log.read_text()}")
