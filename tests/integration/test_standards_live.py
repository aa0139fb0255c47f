"""Standards versions on the real broker: published while the tracker and the intake run, each
picks the new version up within seconds; a broken catalog is refused and nothing published."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pantau.adapters.standards_topic import read_book
from pantau.catalog_publish import publish_catalog
from pantau.core.events import event_key
from pantau.provisioning import provision
from pantau.settings import REPO_DIR, SAMPLE_CATALOG, CommonSettings
from pantau_intake.adapters.kafka_publisher import KafkaPublisher
from pantau_intake.app import create_app
from pantau_intake.settings import IntakeSettings
from stacks import KAFKA
from tracker_harness import TrackerProcess, fresh_topics, producer, read_topic

AGENCY = "kota-malang.dpmptsp"
PICKUP_S = 10.0  # "within seconds"
PANTAU = Path(sys.executable).parent / "pantau"

# A service that only version 2 has: an event of it is valid once version 2 is picked up.
NEW_SERVICE = """
services:
  - code: skd
    agency: kota-malang.dpmptsp
    name: Surat Keterangan Domisili Usaha
    sla: 3 working_days
    fee: 0
    steps:
      - {code: submitted, start: true}
      - {code: verified, roles: [verifier], sla: 1 working_days}
      - {code: issued, terminal: true}
"""


@pytest.fixture(scope="module")
def stack(local_servers: None) -> Iterator[dict[str, str]]:
    """An isolated prefix with its contract topics and no standards version yet."""
    with fresh_topics() as env:
        yield env


def settings_of(env: dict[str, str], catalog: Path) -> CommonSettings:
    return CommonSettings(
        kafka=env["PANTAU_KAFKA"], topic_prefix=env["PANTAU_TOPIC_PREFIX"], catalog=catalog
    )


def catalogs(folder: Path) -> tuple[Path, Path, Path]:
    """Version 1 (the sample catalog), version 2 (with one more service) and a broken one."""
    first, second, broken = folder / "v1", folder / "v2", folder / "broken"
    for target in (first, second, broken):
        target.mkdir()
        for source in sorted(SAMPLE_CATALOG.glob("*.yaml")):
            shutil.copy(source, target / source.name)
    (second / "zz-new.yaml").write_text(NEW_SERVICE)
    (broken / "zz-new.yaml").write_text(NEW_SERVICE.replace("terminal: true", "terminal: maybe"))
    return first, second, broken


def submitted(case_id: str, service: str) -> dict[str, object]:
    return {
        "event_id": f"{AGENCY}:{case_id}:1",
        "agency": AGENCY,
        "service": service,
        "case_id": case_id,
        "step": "submitted",
        "occurred_at": datetime.now(UTC).isoformat(),
        "mode": "live",
    }


def wait_for(what: str, check: object, timeout: float) -> float:
    """Seconds until `check()` is true; fails after `timeout`."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - began
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_a_running_tracker_picks_up_a_new_version_and_a_broken_one_is_refused(
    stack: dict[str, str], tmp_path: Path
) -> None:
    """Version 1 is published, a tracker starts; version 2 (a new service) is published while
    it runs: the tracker logs it within seconds and tracks a case of the new service under
    version 2, while a case opened before keeps version 1. A broken catalog is refused with the
    loader's messages and the topic keeps its two versions."""
    first, second, broken = catalogs(tmp_path)
    done = publish_catalog(
        settings_of(stack, first), first, published_by="test", now=datetime.now(UTC)
    )
    assert done.new
    assert done.version.number == 1
    env = {**stack, "PANTAU_CATALOG": str(first), "PANTAU_LOG_FORMAT": "json"}
    tracker = TrackerProcess(env, tmp_path / "state", tmp_path / "tracker.log").start()
    try:
        tracker.wait_ready()
        topics = settings_of(stack, first).topics
        old_case = f"OLD-{uuid.uuid4().hex[:8]}"
        new_case = f"NEW-{uuid.uuid4().hex[:8]}"
        send = producer()
        send.send(
            topics.events,
            key=event_key(AGENCY, old_case),
            value=json.dumps(submitted(old_case, "pbg")).encode(),
        ).get(timeout=10)

        published = publish_catalog(
            settings_of(stack, second), second, published_by="test", now=datetime.now(UTC)
        )
        assert published.version.number == 2
        took = wait_for(
            "the tracker logs version 2",
            lambda: '"standards version 2 read' in tracker.log_path.read_text(errors="replace"),
            PICKUP_S,
        )
        print(f"tracker picked up version 2 in {took:.1f} s")
        send.send(
            topics.events,
            key=event_key(AGENCY, new_case),
            value=json.dumps(submitted(new_case, "skd")).encode(),
        ).get(timeout=10)
        send.close()

        def views() -> dict[str, dict[str, object]]:
            found: dict[str, dict[str, object]] = {}
            for record in read_topic(topics.cases, timeout=1):
                if record.value is not None:
                    view = json.loads(record.value)
                    found[str(view["case_id"])] = view
            return found

        wait_for("both cases tracked", lambda: {old_case, new_case} <= views().keys(), 30)
        seen = views()
        assert seen[old_case]["standard_version"] == 1
        assert seen[new_case]["standard_version"] == 2
        assert seen[new_case]["service"] == "skd"
        dead = [r for r in read_topic(topics.dlq, timeout=1) if new_case.encode() in (r.key or b"")]
        assert dead == []
    finally:
        tracker.stop()

    run_env = {**os.environ, **stack, "PANTAU_LOG_FORMAT": "text"}
    check = subprocess.run(
        [str(PANTAU), "catalog", str(broken)], env=run_env, capture_output=True, text=True
    )
    refused = subprocess.run(
        [str(PANTAU), "catalog", "publish", str(broken), "--by", "test"],
        env=run_env,
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
    )
    assert check.returncode == 1
    assert refused.returncode == 1
    assert "terminal: must be true or false, not 'maybe'" in check.stderr
    assert refused.stderr.startswith(check.stderr.rstrip("\n"))
    assert refused.stderr.rstrip().endswith("nothing published")
    assert [v.number for v in read_book([KAFKA], topics.standards).versions] == [1, 2]


def test_a_running_intake_checks_events_against_a_version_published_while_it_runs(
    stack: dict[str, str], tmp_path: Path
) -> None:
    """The intake started on version 1 refuses an event of a service it does not know; once
    version 2 brings that service, within seconds its catalog shows it and the event is taken."""
    first, second, _ = catalogs(tmp_path)
    prefix = f"{stack['PANTAU_TOPIC_PREFIX']}intake."
    env = {**stack, "PANTAU_TOPIC_PREFIX": prefix}
    publish_catalog(settings_of(env, first), first, published_by="test", now=datetime.now(UTC))
    settings = IntakeSettings(
        kafka=KAFKA,
        topic_prefix=prefix,
        catalog=first,
        api_keys=REPO_DIR / "deploy" / "dev-api-keys.yaml",
        pseudonym_key="integration-test-pseudonym-key",
    )
    publisher = KafkaPublisher(settings.kafka_servers, stack_events(stack), timeout=10)
    headers = {"Authorization": f"Bearer dev-{AGENCY}"}
    case = f"SKD-{uuid.uuid4().hex[:8]}"
    with TestClient(create_app(settings, publisher=publisher, follow_standards=True)) as client:

        def services() -> set[str]:
            body = client.get("/v1/catalog", headers=headers).json()
            return {service["code"] for service in body["services"]}

        assert "skd" not in services()
        refused = client.post("/v1/events", json=submitted(case, "skd"), headers=headers)
        assert refused.status_code == 422, refused.text
        publish_catalog(
            settings_of(env, second), second, published_by="test", now=datetime.now(UTC)
        )
        took = wait_for("the intake shows the new service", lambda: "skd" in services(), PICKUP_S)
        print(f"intake picked up version 2 in {took:.1f} s")
        taken = client.post("/v1/events", json=submitted(case, "skd"), headers=headers)
        assert taken.status_code == 202, taken.text


def stack_events(stack: dict[str, str]) -> str:
    """The events topic of the module's stack (the intake test publishes there)."""
    return f"{stack['PANTAU_TOPIC_PREFIX']}events"


def test_bootstrap_publishes_the_catalog_folder_until_a_version_is_published_by_hand(
    stack: dict[str, str], tmp_path: Path
) -> None:
    """`pantau bootstrap` publishes PANTAU_CATALOG as version 1, again when the folder changed
    (the stack still follows it), nothing when it is unchanged; after a `pantau catalog
    publish`, the topic is the standard and bootstrap publishes nothing."""
    first, second, _ = catalogs(tmp_path)
    env = {**stack, "PANTAU_TOPIC_PREFIX": f"{stack['PANTAU_TOPIC_PREFIX']}boot."}
    topic = settings_of(env, first).topics.standards

    def published() -> list[tuple[int, str]]:
        return [(v.number, v.published_by) for v in read_book([KAFKA], topic).versions]

    provision(settings_of(env, first), clickhouse=False)
    provision(settings_of(env, first), clickhouse=False)
    assert published() == [(1, "bootstrap")]
    provision(settings_of(env, second), clickhouse=False)
    assert published() == [(1, "bootstrap"), (2, "bootstrap")]
    publish_catalog(settings_of(env, first), first, published_by="dinas", now=datetime.now(UTC))
    provision(settings_of(env, second), clickhouse=False)
    assert published() == [(1, "bootstrap"), (2, "bootstrap"), (3, "dinas")]
