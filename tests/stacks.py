"""Isolated stacks for tests: their own topic prefix and database on the shared local servers.

The ports follow the variables the deploy scripts read, so a whole test run can use servers of
its own beside a running `make up`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

KAFKA_PORT = int(os.environ.get("PANTAU_KAFKA_PORT", "9092"))
CLICKHOUSE_PORT = int(os.environ.get("PANTAU_CLICKHOUSE_TCP_PORT", "9000"))
KAFKA = f"127.0.0.1:{KAFKA_PORT}"


@contextmanager
def isolated_stack(label: str, partitions: int = 12) -> Iterator[dict[str, str]]:
    """PANTAU_* variables of a fresh, bootstrapped stack; its topics and database go afterwards."""
    from clickhouse_driver import Client
    from kafka.admin import KafkaAdminClient

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
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
        try:
            mine = [t for t in admin.list_topics() if t.startswith(settings.topic_prefix)]
            if mine:
                admin.delete_topics(mine)
        finally:
            admin.close()
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
