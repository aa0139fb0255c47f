"""The status page and the alerts service on the real broker: a version of the standards
published while they run changes neither the page nor the timeline of a case opened before it;
a case submitted after it is shown against it.

Version 2 shortens PBG's limit from 28 working days to 20 and its verification from 3 working
days to 1, and renames the service. Both processes run their own composition root (`build_app`)
with the standards follower and the Kafka readers, inside the test's client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerts_harness import bearer, write_operators
from pantau.adapters.kafka_topics import ensure_topics
from pantau.adapters.standards_topic import publish, standards_topic_spec
from pantau.core.catalog import load_catalog
from pantau.core.standards import StandardVersion
from pantau.settings import SAMPLE_CATALOG, TopicNames
from pantau_alerts.adapters.kafka_logs import deliveries_topic_spec
from pantau_alerts.domain.operators import OperatorDirectory
from pantau_alerts.domain.routing import RoutingTable
from pantau_alerts.main import build_app as alerts_app
from pantau_alerts.settings import AlertsSettings
from pantau_status.domain.codes import check_code
from pantau_status.main import build_app as status_app
from pantau_status.settings import StatusSettings
from samples import sample_versions, shorter_pbg
from stacks import KAFKA
from tracker_harness import fresh_topics, producer

MALANG = "kota-malang.dpmptsp"
KEY = "integration-status-key-0123456789"
PICKUP_S = 15.0
CHANGE = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # version 2 takes effect (Mon 08:00 WIB)
OLD_AT = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # PBG-OLD submitted, Tue 08:00 WIB
NEW_AT = datetime(2026, 11, 17, 1, 0, tzinfo=UTC)  # PBG-NEW submitted, Tue 08:00 WIB


@pytest.fixture
def stack(local_servers: None) -> Iterator[dict[str, str]]:
    """An isolated prefix with its contract topics and the standards topic."""
    with fresh_topics() as env:
        names = TopicNames(env["PANTAU_TOPIC_PREFIX"])
        ensure_topics([KAFKA], [standards_topic_spec(names.standards)], report=lambda _: None)
        yield env


def versions() -> tuple[StandardVersion, StandardVersion]:
    return sample_versions(CHANGE, shorter_pbg)


def case_state(case_id: str, submitted: datetime, version: int | None) -> dict[str, Any]:
    """A PBG case verified two working days after submission, as the tracker publishes it
    (without deadlines of its own, so readers compute them from the standard)."""
    state: dict[str, Any] = {
        "agency": MALANG,
        "service": "pbg",
        "case_id": case_id,
        "status": "open",
        "current_step": "verified",
        "opened_at": submitted.isoformat(),
        "closed_at": None,
        "steps": [
            {"step": "submitted", "occurred_at": submitted.isoformat()},
            {"step": "verified", "occurred_at": (submitted + timedelta(days=2)).isoformat()},
        ],
        "deadlines": [],
    }
    if version is not None:
        state["standard_version"] = version
    return state


def put(topic: str, states: list[dict[str, Any]]) -> None:
    sender = producer()
    try:
        for state in states:
            key = f"{state['agency']}|{state['case_id']}".encode()
            sender.send(topic, key=key, value=json.dumps(state).encode())
        sender.flush(timeout=30)
    finally:
        sender.close()


def put_version(version: StandardVersion, topic: str) -> None:
    publish([KAFKA], topic, version)


def eventually(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PICKUP_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {PICKUP_S} s")


def test_the_status_page_keeps_an_open_case_on_its_version_when_a_new_one_is_published(
    stack: dict[str, str],
) -> None:
    """PBG-OLD (version 1 on its state) and PBG-KEPT (no version, opened before the change)
    show 28 working days before and after version 2 is published; PBG-NEW, submitted after,
    shows 20."""
    names = TopicNames(stack["PANTAU_TOPIC_PREFIX"])
    v1, v2 = versions()
    put_version(v1, names.standards)
    put(names.cases, [case_state("PBG-OLD", OLD_AT, 1), case_state("PBG-KEPT", OLD_AT, None)])
    settings = StatusSettings(
        kafka=KAFKA,
        topic_prefix=stack["PANTAU_TOPIC_PREFIX"],
        catalog=SAMPLE_CATALOG,
        status_key=KEY,
        status_tries_burst=10_000,
    )
    app = status_app(settings, load_catalog(SAMPLE_CATALOG), KEY.encode(), None)
    with TestClient(app) as client:

        def limit(case_id: str) -> int | None:
            code = check_code(KEY.encode(), MALANG, case_id)
            reply = client.post("/v1/status", json={"case_id": case_id, "code": code})
            if reply.status_code != 200:
                return None
            return int(reply.json()["service"]["time_limit"]["amount"])

        eventually("version 1 and the cases read", lambda: limit("PBG-OLD") == 28)
        put_version(v2, names.standards)
        put(names.cases, [case_state("PBG-NEW", NEW_AT, 2)])
        eventually("PBG-NEW shown against version 2", lambda: limit("PBG-NEW") == 20)
        assert limit("PBG-OLD") == 28
        assert limit("PBG-KEPT") == 28
        assert len(app.state.standards.book) == 2


def test_the_alerts_service_draws_an_open_case_with_its_version_when_a_new_one_is_published(
    stack: dict[str, str], tmp_path: Path
) -> None:
    """PBG-OLD's verification two working days in is on time by its version 1 (3 days), also
    after version 2 (1 day) is read; PBG-NEW's, submitted after, is late by version 2."""
    prefix = stack["PANTAU_TOPIC_PREFIX"]
    names = TopicNames(prefix)
    settings = AlertsSettings(
        kafka=KAFKA,
        topic_prefix=prefix,
        catalog=SAMPLE_CATALOG,
        operators=write_operators(tmp_path / "operators.yaml"),
    )
    ensure_topics(
        [KAFKA], [deliveries_topic_spec(settings.deliveries_topic, 1)], report=lambda _: None
    )
    assert settings.operators is not None
    operators = OperatorDirectory.from_yaml(settings.operators.read_text(), "operators")
    v1, v2 = versions()
    put_version(v1, names.standards)
    put(names.cases, [case_state("PBG-OLD", OLD_AT, 1)])
    app = alerts_app(
        settings, operators, RoutingTable(), load_catalog(SAMPLE_CATALOG), follow_standards=True
    )
    with TestClient(app) as client:

        def timeline(case_id: str) -> dict[str, Any] | None:
            reply = client.get(f"/v1/cases/{MALANG}/{case_id}", headers=bearer("mlg"))
            return reply.json() if reply.status_code == 200 else None

        def verified_late(case_id: str) -> bool | None:
            found = timeline(case_id)
            return None if found is None else bool(found["steps"][1]["late"])

        eventually("PBG-OLD read", lambda: verified_late("PBG-OLD") is False)
        put_version(v2, names.standards)
        put(names.cases, [case_state("PBG-NEW", NEW_AT, 2)])
        eventually("PBG-NEW drawn with version 2", lambda: verified_late("PBG-NEW") is True)
        old = timeline("PBG-OLD")
        assert old is not None
        assert old["steps"][1]["late"] is False
        assert old["service_name"] == "Persetujuan Bangunan Gedung"
        new = timeline("PBG-NEW")
        assert new is not None
        assert new["service_name"] == "PBG (standar 2)"
        assert old["due_at"] > new["due_at"]  # 28 working days from 10 Nov, 20 from 17 Nov
