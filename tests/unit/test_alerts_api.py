"""The operators' API over an in-memory action log: auth, scopes, lifecycle answers, filters."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from pantau.core.alerts import Alert, make_alert
from pantau.core.catalog import load_catalog
from pantau.core.standards import StandardVersion
from pantau.settings import SAMPLE_CATALOG
from pantau_alerts.api import create_app
from pantau_alerts.desk import AlertDesk
from pantau_alerts.domain.operators import OperatorDirectory
from samples import SentRecords, queue_jump_evidence, sample_versions, shorter_pbg

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
MALANG = "kota-malang.dpmptsp"
SLEMAN = "kab-sleman.dpmptsp"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


OPERATORS = OperatorDirectory.parse(
    {
        "operators": [
            {"id": "insp", "role": "inspectorate", "sha256": digest("t-insp")},
            {"id": "mlg", "role": "operator", "agencies": [MALANG], "sha256": digest("t-mlg")},
            {"id": "slm", "role": "operator", "agencies": [SLEMAN], "sha256": digest("t-slm")},
        ]
    }
)
INSP = {"Authorization": "Bearer t-insp"}
MLG = {"Authorization": "Bearer t-mlg"}
SLM = {"Authorization": "Bearer t-slm"}


class InMemoryActionLog(SentRecords):
    """Acknowledges at once and delivers the record back like the Kafka reader would."""

    def __init__(self) -> None:
        super().__init__(ConnectionError, "broker unreachable")
        self.desk: AlertDesk | None = None

    async def publish_action(self, key: str, value: bytes) -> None:
        await self(key, value)
        assert self.desk is not None
        asyncio.get_running_loop().call_soon(self.desk.on_action, value)

    async def publish_delivery(self, key: str, value: bytes) -> None:
        raise AssertionError("no deliveries in these tests")


def alert(agency: str, case_id: str, rule: str = "duty.same_officer", minutes: int = 0) -> Alert:
    return make_alert(
        rule,
        agency=agency,
        service="pbg",
        case_id=case_id,
        trigger=f"{case_id}:{rule}",
        detected_at=NOW - timedelta(minutes=minutes),
        message="test alert",
    )


@pytest.fixture
def setup() -> Iterator[tuple[TestClient, AlertDesk, InMemoryActionLog]]:
    action_log = InMemoryActionLog()
    desk = AlertDesk(action_log, load_catalog(SAMPLE_CATALOG), lambda: NOW, readback_timeout=2)
    action_log.desk = desk
    desk.ready = True
    for a in (
        alert(MALANG, "PBG-1", minutes=30),
        alert(MALANG, "PBG-2", "fee.mismatch", minutes=20),
        alert(SLEMAN, "PBG-9", "sla.step_overdue", minutes=10),
    ):
        desk.on_alert(a.to_json_bytes())
    with TestClient(create_app(desk, OPERATORS)) as client:
        yield client, desk, action_log


def test_no_token_or_unknown_token_is_401(setup: tuple[TestClient, AlertDesk, object]) -> None:
    """Without a valid bearer token nothing but health answers."""
    client, _, _ = setup
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/alerts").status_code == 401
    response = client.get("/v1/alerts", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/alerts/stream").status_code == 401


def test_operator_lists_only_granted_agencies(setup: tuple[TestClient, AlertDesk, object]) -> None:
    """A Malang operator sees Malang's alerts; the inspectorate sees all, newest first."""
    client, _, _ = setup
    mine = client.get("/v1/alerts", headers=MLG).json()
    assert {a["agency"] for a in mine["items"]} == {MALANG}
    assert mine["total"] == 2
    everything = client.get("/v1/alerts", headers=INSP).json()
    assert [a["case_id"] for a in everything["items"]] == ["PBG-9", "PBG-2", "PBG-1"]


def test_cross_agency_reads_and_actions_are_refused(
    setup: tuple[TestClient, AlertDesk, InMemoryActionLog],
) -> None:
    """A Sleman operator gets 403 reading or acting on a Malang alert, and nothing is published."""
    client, desk, action_log = setup
    malang_id = next(a for a in desk.board.alerts.values() if a.alert.agency == MALANG)
    alert_id = malang_id.alert.alert_id
    assert client.get(f"/v1/alerts/{alert_id}", headers=SLM).status_code == 403
    assert client.get("/v1/alerts", params={"agency": MALANG}, headers=SLM).status_code == 403
    response = client.post(f"/v1/alerts/{alert_id}/actions", json={"action": "ack"}, headers=SLM)
    assert response.status_code == 403
    assert client.get(f"/v1/cases/{MALANG}/PBG-1", headers=SLM).status_code == 403
    assert client.get("/v1/sla", params={"agency": MALANG}, headers=SLM).status_code == 403
    assert action_log.records == []


def test_lifecycle_answers_200_then_409(
    setup: tuple[TestClient, AlertDesk, InMemoryActionLog],
) -> None:
    """ack and resolve succeed once, after publication; resolving again is 409."""
    client, desk, action_log = setup
    alert_id = next(iter(desk.board.alerts))
    url = f"/v1/alerts/{alert_id}/actions"
    ack = client.post(url, json={"action": "ack"}, headers=INSP)
    assert ack.status_code == 200
    assert ack.json()["status"] == "acknowledged"
    assert ack.json()["acknowledged_by"] == "insp"
    assert client.post(url, json={"action": "resolve"}, headers=INSP).json()["status"] == "resolved"
    again = client.post(url, json={"action": "resolve"}, headers=INSP)
    assert again.status_code == 409
    published = [json.loads(v) for _, v in action_log.records]
    assert [p["action"] for p in published] == ["ack", "resolve"]
    assert all(p["alert_id"] == alert_id and p["actor"] == "insp" for p in published)


def test_unknown_alert_is_404_and_bad_bodies_are_422(
    setup: tuple[TestClient, AlertDesk, object],
) -> None:
    """Unknown ids, unknown actions and reasonless dismissals get clear errors."""
    client, desk, _ = setup
    assert client.get("/v1/alerts/nope", headers=INSP).status_code == 404
    url404 = "/v1/alerts/nope/actions"
    assert client.post(url404, json={"action": "ack"}, headers=INSP).status_code == 404
    alert_id = next(iter(desk.board.alerts))
    url = f"/v1/alerts/{alert_id}/actions"
    assert client.post(url, json={"action": "nuke"}, headers=INSP).status_code == 422
    dismissed = client.post(url, json={"action": "dismiss"}, headers=INSP)
    assert dismissed.status_code == 422
    assert "reason" in dismissed.json()["detail"]


def test_broker_down_is_503_and_state_unchanged(
    setup: tuple[TestClient, AlertDesk, InMemoryActionLog],
) -> None:
    """When the log does not acknowledge, the API says 503 and the alert stays open."""
    client, desk, action_log = setup
    action_log.down = True
    alert_id = next(iter(desk.board.alerts))
    response = client.post(f"/v1/alerts/{alert_id}/actions", json={"action": "ack"}, headers=INSP)
    assert response.status_code == 503
    assert "retry-after" in response.headers
    assert desk.board.alerts[alert_id].status.value == "open"


@pytest.mark.parametrize(
    "params",
    [
        {"severity": "extreme"},
        {"status": "closed"},
        {"rule": "no.such_rule"},
        {"since": "yesterday"},
        {"since": "2026-11-27T00:00:00"},
        {"limit": "0"},
        {"offset": "-1"},
        {"since": "2026-11-27T05:00:00Z", "until": "2026-11-27T04:00:00Z"},
    ],
)
def test_malformed_filters_are_422(
    setup: tuple[TestClient, AlertDesk, object], params: dict[str, str]
) -> None:
    """Filters that do not parse are rejected, not ignored."""
    client, _, _ = setup
    assert client.get("/v1/alerts", params=params, headers=INSP).status_code == 422


def test_filters_and_pagination(setup: tuple[TestClient, AlertDesk, object]) -> None:
    """Filters narrow the list; limit/offset page through it."""
    client, _, _ = setup

    def cases(**params: str) -> list[str]:
        body = client.get("/v1/alerts", params=params, headers=INSP).json()
        return [a["case_id"] for a in body["items"]]

    assert cases(rule="fee.mismatch") == ["PBG-2"]
    assert cases(category="undue_delay") == ["PBG-9"]
    assert cases(min_severity="high") == ["PBG-2", "PBG-1"]
    assert cases(since="2026-11-27T04:35:00Z") == ["PBG-9", "PBG-2"]
    assert cases(until="2026-11-27T04:35:00+00:00") == ["PBG-1"]
    assert cases(limit="1", offset="1") == ["PBG-2"]
    assert cases(agency=SLEMAN, status="open") == ["PBG-9"]


def test_summary_counts_by_rule_and_severity(setup: tuple[TestClient, AlertDesk, object]) -> None:
    """The summary counts only what the operator may see."""
    client, _, _ = setup
    body = client.get("/v1/alerts/summary", headers=MLG).json()
    assert body["total"] == 2
    assert body["by_rule"] == {"duty.same_officer": 1, "fee.mismatch": 1}
    assert body["by_severity"]["high"] == 2


def test_alert_detail_carries_the_case_timeline(
    setup: tuple[TestClient, AlertDesk, object],
) -> None:
    """A case state from the tracker becomes a timeline with catalog deadlines."""
    client, desk, _ = setup
    desk.on_case(
        f"{MALANG}|PBG-1".encode(),
        json.dumps(
            {
                "agency": MALANG,
                "service": "pbg",
                "case_id": "PBG-1",
                "current_step": "verified",
                "steps": [
                    {"step": "submitted", "occurred_at": "2026-11-02T09:00:00+07:00"},
                    {"step": "verified", "occurred_at": "2026-11-12T09:00:00+07:00"},
                ],
            }
        ).encode(),
    )
    alert_id = next(
        s.alert.alert_id for s in desk.board.alerts.values() if s.alert.case_id == "PBG-1"
    )
    case = client.get(f"/v1/alerts/{alert_id}", headers=MLG).json()["case"]
    verified = case["steps"][1]
    assert verified["step"] == "verified"
    assert verified["due_at"] is not None
    assert verified["late"] is True  # 3 working days from 2 Nov passed long before 12 Nov
    assert case["due_at"] is not None
    health = client.get("/v1/sla", headers=MLG).json()["services"]
    pbg = next(r for r in health if r["service"] == "pbg")
    assert pbg["month"]["cases"] == 1
    assert {r["agency"] for r in health} <= {MALANG, "kota-malang.disdukcapil"}


def test_requests_before_catching_up_are_503(
    setup: tuple[TestClient, AlertDesk, object],
) -> None:
    """While the logs are still being read, alert routes say 503 rather than a wrong 404."""
    client, desk, _ = setup
    desk.ready = False
    response = client.get("/v1/alerts/nope", headers=INSP)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert client.get("/readyz").status_code == 503
    assert client.get("/v1/me", headers=INSP).status_code == 200


def test_garbage_on_the_topics_is_skipped_and_counted(
    setup: tuple[TestClient, AlertDesk, object],
) -> None:
    """Unreadable alert, action and case records are skipped; the service keeps answering."""
    client, desk, _ = setup
    before = len(desk.board.alerts)
    desk.on_alert(b"{not json")
    desk.on_alert(b'{"alert_id": "x"}')
    desk.on_action(b"[]")
    desk.on_case(b"k", b"42")
    desk.on_alert(None)  # a tombstone
    assert len(desk.board.alerts) == before
    assert desk.rejected_records == 4
    metrics = client.get("/metrics").text
    assert "pantau_alerts_rejected_records 4.0" in metrics


def test_daily_digest_of_an_agency(setup: tuple[TestClient, AlertDesk, object]) -> None:
    """The digest counts the agency's alerts of a local day; other agencies are refused."""
    client, _, _ = setup
    body = client.get("/v1/digest", params={"agency": MALANG, "date": "2026-11-27"}, headers=MLG)
    assert body.status_code == 200
    assert body.json()["raised"] == 2
    assert body.json()["raised_by_rule"] == {"duty.same_officer": 1, "fee.mismatch": 1}
    assert client.get("/v1/digest", params={"agency": SLEMAN}, headers=MLG).status_code == 403
    bad = client.get("/v1/digest", params={"agency": MALANG, "date": "27/11"}, headers=MLG)
    assert bad.status_code == 422


def test_rules_and_alerts_come_with_titles_and_messages_in_both_languages(
    setup: tuple[TestClient, AlertDesk, object],
) -> None:
    """The rule catalogue and each alert served carry the titles and the message in both
    languages, the alert's own fields unchanged."""
    client, desk, _ = setup
    assert client.get("/v1/rules").status_code == 401
    catalogue = client.get("/v1/rules", headers=MLG).json()["rules"]
    by_rule = {entry["rule"]: entry for entry in catalogue}
    assert by_rule["queue.jump"] == {
        "rule": "queue.jump",
        "category": "discrimination",
        "severity": "medium",
        "kind": "cross-case",
        "title": {"id": "Menyerobot antrean", "en": "Queue jump"},
    }
    assert all(entry["title"]["id"] != entry["rule"] for entry in catalogue)

    jump = make_alert(
        "queue.jump",
        agency=MALANG,
        service="pbg",
        case_id="Q-1",
        trigger="e-9",
        detected_at=NOW,
        step="verified",
        message="Step verified completed after waiting at submitted since ...",
        evidence=queue_jump_evidence(),
        event_ids=["e-9"],
    )
    desk.on_alert(jump.to_json_bytes())
    [item] = client.get("/v1/alerts?case_id=Q-1", headers=MLG).json()["items"]
    assert item["message"] == jump.message  # the alert's own fields are unchanged
    assert item["title"] == {"id": "Menyerobot antrean", "en": "Queue jump"}
    assert item["messages"]["id"] == (
        "Langkah verified selesai setelah menunggu di submitted sejak 2026-11-20T01:00:00Z, "
        "mendahului 3 kasus yang diajukan lebih dulu dan menunggu sedikitnya 2 hari kerja "
        "lebih lama"
    )
    assert item["messages"]["en"].startswith("Step verified completed after waiting at submitted")
    detail = client.get(f"/v1/alerts/{jump.alert_id}", headers=MLG).json()
    assert detail["messages"] == item["messages"]

    # An alert whose evidence fits no template keeps its own message in both languages.
    bare = alert(MALANG, "Q-2", "queue.jump")
    desk.on_alert(bare.to_json_bytes())
    [item] = client.get("/v1/alerts?case_id=Q-2", headers=MLG).json()["items"]
    assert item["messages"] == {"id": "test alert", "en": "test alert"}


# --- the version of the standards a case follows ------------------------------------------------

CHANGE = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # version 2 takes effect (Mon 08:00 WIB)


def pbg_versions() -> tuple[StandardVersion, StandardVersion]:
    """The sample catalog as version 1; version 2 renames PBG, shortens its limit from 28 to 20
    working days and the verification from 3 working days to 1."""
    return sample_versions(CHANGE, shorter_pbg)


def pbg_state(case_id: str, submitted: datetime, version: int | None) -> bytes:
    """A case state verified two working days after submission, with no deadlines of the
    tracker's own, so the timeline computes them from the standard."""
    verified = submitted + timedelta(days=2)
    state: dict[str, object] = {
        "agency": MALANG,
        "service": "pbg",
        "case_id": case_id,
        "current_step": "verified",
        "steps": [
            {"step": "submitted", "occurred_at": submitted.isoformat()},
            {"step": "verified", "occurred_at": verified.isoformat()},
        ],
    }
    if version is not None:
        state["standard_version"] = version
    return json.dumps(state).encode()


def test_timelines_and_digests_are_drawn_with_the_version_each_case_follows(
    setup: tuple[TestClient, AlertDesk, object],
) -> None:
    """Version 2 shortens PBG's limits while PBG-OLD is open: PBG-OLD's timeline (by itself, and
    under its alerts: one judged by version 1, one that names no version) keeps the 28-day case
    limit and the 3-day verification, so its verification two days in is on time; PBG-NEW,
    submitted after the change, is drawn with the 20 days and 1 day, so its verification is late.
    A digest of a day before the change names the service as version 1 does, one after as
    version 2 does."""
    client, desk, _ = setup
    v1, v2 = pbg_versions()
    assert desk.standards.learn(v2)
    assert desk.standards.learn(v1)
    assert not desk.standards.learn(v1)  # read again from the topic: nothing new
    old_at = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # Tue 08:00 WIB, before the change
    new_at = datetime(2026, 11, 17, 1, 0, tzinfo=UTC)  # Tue 08:00 WIB, after it
    desk.on_case(f"{MALANG}|PBG-OLD".encode(), pbg_state("PBG-OLD", old_at, 1))
    desk.on_case(f"{MALANG}|PBG-KEPT".encode(), pbg_state("PBG-KEPT", old_at, None))
    desk.on_case(f"{MALANG}|PBG-NEW".encode(), pbg_state("PBG-NEW", new_at, 2))
    judged = alert(MALANG, "PBG-OLD", "sla.step_overdue").model_copy(
        update={"standard_version": 1, "occurred_at": new_at}
    )
    unversioned = alert(MALANG, "PBG-KEPT", "queue.jump").model_copy(
        update={"occurred_at": old_at + timedelta(days=1)}
    )
    desk.on_alert(judged.to_json_bytes())
    desk.on_alert(unversioned.to_json_bytes())

    def verification(timeline: dict[str, object]) -> bool:
        steps = timeline["steps"]
        assert isinstance(steps, list)
        late: bool = steps[1]["late"]
        return late

    old = client.get(f"/v1/cases/{MALANG}/PBG-OLD", headers=MLG).json()
    kept = client.get(f"/v1/cases/{MALANG}/PBG-KEPT", headers=MLG).json()
    new = client.get(f"/v1/cases/{MALANG}/PBG-NEW", headers=MLG).json()
    for timeline in (
        old,
        kept,
        client.get(f"/v1/alerts/{judged.alert_id}", headers=MLG).json()["case"],
        client.get(f"/v1/alerts/{unversioned.alert_id}", headers=MLG).json()["case"],
    ):
        assert timeline["service_name"] == "Persetujuan Bangunan Gedung"
        assert verification(timeline) is False
        assert timeline["due_at"] == old["due_at"]
    assert new["service_name"] == "PBG (standar 2)"
    assert verification(new) is True
    # 28 working days from 10 Nov end in December; 20 from 17 Nov end before it.
    assert old["due_at"] > "2026-12-17"
    assert new["due_at"] < "2026-12-16"

    def digest_name(day: str) -> str:
        body = client.get("/v1/digest", params={"agency": MALANG, "date": day}, headers=MLG)
        assert body.status_code == 200, body.text
        pbg = next(s for s in body.json()["services"] if s["service"] == "pbg")
        return str(pbg["service_name"])

    assert digest_name("2026-11-15") == "Persetujuan Bangunan Gedung"
    assert digest_name("2026-11-16") == "PBG (standar 2)"
