"""The intake's HTTP behaviour against the in-memory publisher: statuses, messages, no raw NIK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pantau.core.catalog import Catalog
from pantau.core.events import Event
from pantau_intake.app import create_app
from pantau_intake.domain.publishing import InMemoryPublisher, OutgoingRecord
from pantau_intake.settings import IntakeSettings
from samples import intake_settings

MALANG = "dev-kota-malang.dpmptsp"
SLEMAN = "dev-kab-sleman.dpmptsp"
NIK = "3573010101900001"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _settings(**overrides: Any) -> IntakeSettings:
    return intake_settings(**{"intake_rate": 10.0, "intake_burst": 1000, **overrides})


@pytest.fixture
def publisher() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(
    publisher: InMemoryPublisher, clock: FakeClock, catalog: Catalog
) -> Iterator[TestClient]:
    app = create_app(_settings(), publisher=publisher, clock=clock, catalog=catalog)
    with TestClient(app) as test_client:
        yield test_client


def event(n: int = 1, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"kota-malang.dpmptsp:PBG-2026-{n:06d}:1",
        "agency": "kota-malang.dpmptsp",
        "service": "pbg",
        "case_id": f"PBG-2026-{n:06d}",
        "step": "submitted",
        "occurred_at": "2026-11-27T09:15:00+07:00",
        "applicant": {"nik": NIK},
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def post(client: TestClient, body: Any, key: str | None = MALANG, **kwargs: Any) -> Any:
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/v1/events", content=content, headers=headers, **kwargs)


def test_single_event_is_accepted_published_and_pseudonymised(
    client: TestClient, publisher: InMemoryPublisher
) -> None:
    """A valid event gets 202 and is published keyed by agency|case with the NIK replaced."""
    response = post(client, event())
    assert response.status_code == 202, response.text
    assert response.json() == {
        "accepted": 1,
        "results": [{"event_id": "kota-malang.dpmptsp:PBG-2026-000001:1", "status": "accepted"}],
    }
    [record] = publisher.records
    assert record.key == b"kota-malang.dpmptsp|PBG-2026-000001"
    assert NIK.encode() not in record.value
    published = Event.from_json_bytes(record.value)
    assert published.applicant is not None
    assert published.applicant.ref.startswith("k1:")


def test_batch_is_accepted_in_order(client: TestClient, publisher: InMemoryPublisher) -> None:
    """A batch of three valid events is accepted as three results in the sent order."""
    response = post(client, {"events": [event(1), event(2), event(3)]})
    assert response.status_code == 202
    assert [r["event_id"] for r in response.json()["results"]] == [
        event(n)["event_id"] for n in (1, 2, 3)
    ]
    assert len(publisher.records) == 3


def test_missing_and_unknown_keys_are_401(client: TestClient, publisher: InMemoryPublisher) -> None:
    """No key, a wrong scheme and an unknown key are refused with 401 and nothing published."""
    assert post(client, event(), key=None).status_code == 401
    assert post(client, event(), key="not-a-key").status_code == 401
    basic = post(client, event(), key=None, headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401
    assert basic.headers["WWW-Authenticate"].startswith("Bearer")
    assert publisher.records == []


def test_event_of_another_agency_is_403(client: TestClient, publisher: InMemoryPublisher) -> None:
    """A key of one agency cannot send events naming another agency, even inside a batch."""
    response = post(client, {"events": [event(1), event(2)]}, key=SLEMAN)
    assert response.status_code == 403
    assert {p["index"] for p in response.json()["errors"]} == {0, 1}
    assert publisher.records == []


def test_invalid_event_rejects_the_whole_batch_with_paths(
    client: TestClient, publisher: InMemoryPublisher
) -> None:
    """One bad event in a batch gives 422 naming its index and field, and nothing is published."""
    bad = event(2, occurred_at="2026-11-27 09:15:00", applicant={"nik": NIK[:15]})
    response = post(client, {"events": [event(1), bad, event(3, colour="red")]})
    assert response.status_code == 422
    problems = {(p["index"], p["field"]) for p in response.json()["errors"]}
    assert problems == {(1, "occurred_at"), (1, "applicant.nik"), (2, "colour")}
    assert NIK[:15] not in response.text
    assert publisher.records == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"service": "no-such-service"}, "service"),
        ({"step": "teleported"}, "step"),
        ({"step": "verified"}, "officer"),
        ({"step": "rejected"}, "reason"),
        ({"seq": "3"}, "seq"),
        ({"case_id": "x" * 129}, "case_id"),
        ({"attributes": {"blob": "x" * 9000}}, "attributes"),
        ({"applicant": {"nik": "35730101019000011"}}, "applicant.nik"),
        ({"step": "rejected", "reason": "NIK 3573010101900001 tidak sah"}, "reason"),
        ({"occurred_at": "2026-11-27T09:15:00"}, "occurred_at"),
    ],
)
def test_invalid_fields_are_422_with_their_path(
    client: TestClient, fields: dict[str, Any], field: str
) -> None:
    """Each kind of invalid field (types, sizes, catalog, NIK, time) is reported at its path."""
    response = post(client, event(**fields))
    assert response.status_code == 422, response.text
    assert [(p["index"], p["field"]) for p in response.json()["errors"]] == [(0, field)]


ASSESSOR = {"id": "198903172014021002", "role": "assessor"}


@pytest.mark.parametrize(
    "assessed",
    [1500000, "-1500000", "1500000.001", "Rp 1.500.000", "", None, True, {"amount": "1"}],
)
def test_an_assessing_step_with_a_bad_assessed_amount_is_422(
    client: TestClient, publisher: InMemoryPublisher, assessed: Any
) -> None:
    """The assessed fee of an assessing step is a decimal string of rupiah like payment.amount:
    a JSON number, a negative amount, three decimals, formatted text, an empty string, a
    boolean or an object is refused at its path, and nothing is published."""
    body = event(step="fee_assessed", officer=ASSESSOR, attributes={"assessed_amount": assessed})
    response = post(client, body)
    if assessed is None:  # no amount stated: an assessment of unknown amount, accepted
        assert response.status_code == 202, response.text
        return
    assert response.status_code == 422, response.text
    assert [(p["index"], p["field"]) for p in response.json()["errors"]] == [
        (0, "attributes.assessed_amount")
    ]
    assert publisher.records == []


def test_assessed_amounts_and_payment_channels_are_accepted(
    client: TestClient, publisher: InMemoryPublisher
) -> None:
    """An assessing step stating its fee and a payment naming its channel are accepted as sent;
    on a step that assesses nothing the attribute is the agency's own and not checked."""
    assessed = event(
        step="fee_assessed", officer=ASSESSOR, attributes={"assessed_amount": "1500000.00"}
    )
    paid = event(
        step="paid",
        payment={"amount": "1500000.00", "receipt": "KW-88121", "channel": "bank"},
    )
    elsewhere = event(step="submitted", attributes={"assessed_amount": 12})
    for body in (assessed, paid, elsewhere):
        assert post(client, body).status_code == 202
    published = [Event.from_json_bytes(record.value) for record in publisher.records]
    assert published[0].attributes == {"assessed_amount": "1500000.00"}
    assert published[1].payment is not None
    assert published[1].payment.channel == "bank"


@pytest.mark.parametrize("channel", ["transfer", "Bank", "", 1])
def test_a_payment_channel_outside_bank_online_cash_is_422(
    client: TestClient, publisher: InMemoryPublisher, channel: Any
) -> None:
    """`payment.channel` is one of bank, online or cash."""
    body = event(step="paid", payment={"amount": "150000", "receipt": "KW-1", "channel": channel})
    response = post(client, body)
    assert response.status_code == 422, response.text
    assert [(p["index"], p["field"]) for p in response.json()["errors"]] == [(0, "payment.channel")]
    assert publisher.records == []


def test_steps_with_roles_and_reasons_accept_complete_events(client: TestClient) -> None:
    """An officer on a role step and a reason on a reason_required step make the event valid."""
    officer = {"id": "198702142010011003", "role": "verifier"}
    assert post(client, event(step="verified", officer=officer)).status_code == 202
    assert post(client, event(step="rejected", reason="berkas tidak lengkap")).status_code == 202


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"", 400),
        (b'{"event_id": NaN}', 400),
        (b'{"agency": "a", "agency": "b"}', 400),
        (b"\xff\xfe", 400),
        (b"[]", 422),
        (b'{"events": []}', 422),
        (b'{"events": {}}', 422),
        (b'{"events": [], "extra": 1}', 422),
    ],
)
def test_malformed_bodies(client: TestClient, body: bytes, status: int) -> None:
    """Broken JSON is 400; JSON of the wrong shape (incl. an empty batch) is 422."""
    response = post(client, body)
    assert response.status_code == status
    assert response.json()["message"]


def test_batch_of_1001_events_is_422(client: TestClient) -> None:
    """More than 1000 events in one batch is refused as a whole."""
    response = post(client, {"events": [event(n) for n in range(1001)]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events"


def test_batch_of_1000_events_is_accepted(client: TestClient, publisher: InMemoryPublisher) -> None:
    """The largest allowed batch fits the body limit and is accepted."""
    response = post(client, {"events": [event(n) for n in range(1000)]})
    assert response.status_code == 202
    assert len(publisher.records) == 1000


def test_wrong_content_type_is_415(client: TestClient) -> None:
    """A body that is not declared application/json is refused before it is read."""
    response = post(client, event(), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_oversize_body_is_413(client: TestClient) -> None:
    """A body over 1 MiB is refused, by Content-Length and when streamed without one."""
    big = b'{"events": [' + b" " * (1024 * 1024) + b"]}"
    assert post(client, big).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(17):
            yield b" " * 65536

    streamed = client.post(
        "/v1/events",
        content=chunks(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {MALANG}"},
    )
    assert streamed.status_code == 413


def test_rate_limit_gives_429_with_retry_after(
    publisher: InMemoryPublisher, catalog: Catalog
) -> None:
    """Beyond the burst, an agency gets 429 + Retry-After until tokens refill; others are not
    affected."""
    clock = FakeClock()
    settings = _settings(intake_rate=1.0, intake_burst=3)
    app = create_app(settings, publisher=publisher, clock=clock, catalog=catalog)
    with TestClient(app) as client:
        assert post(client, {"events": [event(1), event(2)]}).status_code == 202
        limited = post(client, {"events": [event(3), event(4)]})
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"
        other = event(1, agency="kab-sleman.dpmptsp", event_id="s:1")
        assert post(client, other, key=SLEMAN).status_code == 202
        clock.now += 1.0
        assert post(client, {"events": [event(3), event(4)]}).status_code == 202
        assert post(client, {"events": [event(n) for n in range(4)]}).status_code == 429


def test_kafka_unavailable_is_503_and_recovers(
    client: TestClient, publisher: InMemoryPublisher
) -> None:
    """When the event log is down: 503 + Retry-After, /readyz fails; both recover with it."""
    publisher.available = False
    response = post(client, event())
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json()["error"] == "kafka_unavailable"
    assert client.get("/readyz").status_code == 503
    publisher.available = True
    assert post(client, event()).status_code == 202
    assert client.get("/readyz").status_code == 200


def test_catalog_is_the_callers_agency(client: TestClient) -> None:
    """GET /v1/catalog returns the key's agency and its services, and needs a key."""
    response = client.get("/v1/catalog", headers={"Authorization": f"Bearer {SLEMAN}"})
    assert response.status_code == 200
    assert response.json()["agency"]["code"] == "kab-sleman.dpmptsp"
    assert {s["code"] for s in response.json()["services"]} >= {"pbg"}
    assert client.get("/v1/catalog").status_code == 401


def test_metrics_count_requests_and_accepted_events(client: TestClient) -> None:
    """/metrics exposes requests by status and agency, accepted events and publish latency."""
    post(client, event())
    post(client, event(), key=None)
    text = client.get("/metrics").text
    assert (
        'pantau_intake_requests_total{agency="kota-malang.dpmptsp",endpoint="/v1/events",'
        'status="202"} 1.0' in text
    )
    assert 'pantau_intake_requests_total{agency="-",endpoint="/v1/events",status="401"} 1.0' in text
    assert 'pantau_intake_events_accepted_total{agency="kota-malang.dpmptsp"} 1.0' in text
    assert "pantau_intake_publish_seconds_bucket" in text


def test_two_apps_keep_separate_metrics(publisher: InMemoryPublisher, catalog: Catalog) -> None:
    """Each app instance has its own registry, so two apps in one process do not clash."""
    first = create_app(_settings(), publisher=publisher, catalog=catalog)
    second = create_app(_settings(), publisher=InMemoryPublisher(), catalog=catalog)
    with TestClient(first) as a, TestClient(second) as b:
        post(a, event())
        assert "pantau_intake_events_accepted_total{" in a.get("/metrics").text
        assert "pantau_intake_events_accepted_total{" not in b.get("/metrics").text


def test_health_and_openapi(client: TestClient) -> None:
    """/healthz answers, and the OpenAPI documents the event body and every error status."""
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    post_spec = spec["paths"]["/v1/events"]["post"]
    assert set(post_spec["responses"]) >= {"202", "401", "403", "413", "415", "422", "429", "503"}
    assert "IncomingEvent" in spec["components"]["schemas"]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"pseudonym_key": None}, "PANTAU_PSEUDONYM_KEY is not set"),
        ({"pseudonym_key": "too-short"}, "at least 16 bytes"),
        ({"api_keys": None}, "PANTAU_API_KEYS is not set"),
    ],
)
def test_refuses_to_start_without_secrets(overrides: dict[str, Any], needle: str) -> None:
    """Without a pseudonym key of adequate length or a key file, the app is not built."""
    from pantau_intake.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match=needle):
        create_app(_settings(**overrides), publisher=InMemoryPublisher())


def test_keys_of_agencies_outside_the_catalog_are_refused(tmp_path: Path) -> None:
    """A key file naming an agency the catalog lacks is a configuration error."""
    from pantau_intake.settings import ConfigurationError

    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {agency: kota-nowhere.dinas, sha256: " + "a" * 64 + "}\n")
    with pytest.raises(ConfigurationError, match=r"kota-nowhere\.dinas"):
        create_app(_settings(api_keys=keys), publisher=InMemoryPublisher())


def test_slow_body_is_408(publisher: InMemoryPublisher, catalog: Catalog) -> None:
    """A client that does not finish sending its body in time gets 408 and nothing is published."""
    import asyncio

    import httpx

    app = create_app(_settings(intake_request_timeout=0.1), publisher=publisher, catalog=catalog)

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"events": ['
        await asyncio.sleep(0.5)
        yield b"]}"

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            return await client.post(
                "/v1/events",
                content=trickle(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {MALANG}"},
            )

    response = asyncio.run(send())
    assert response.status_code == 408
    assert publisher.records == []


def test_no_raw_nik_or_key_in_logs_or_replies(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither a NIK (valid or malformed, in any field) nor the API key reaches a log or a reply."""
    caplog.set_level("DEBUG")
    replies = [
        post(client, event()),
        post(client, event(applicant={"nik": NIK + "9"})),
        post(client, event(attributes={"nik": NIK})),
        post(client, event(applicant={"ref": NIK})),
        post(client, event(step="rejected", reason=f"berkas {NIK} ditolak")),
        post(client, b'{"applicant": {"nik": "' + NIK.encode() + b'"'),
    ]
    assert [r.status_code for r in replies] == [202, 422, 422, 422, 422, 400]
    for text in [caplog.text, *(r.text for r in replies)]:
        assert NIK not in text
        assert MALANG not in text


class HeldPublisher(InMemoryPublisher):
    """An event log that acknowledges only when the test lets it."""

    def __init__(self, holding: int) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.full = asyncio.Event()  # `holding` requests are waiting for their acknowledgement
        self.holding = holding
        self.waiting = 0

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        self.waiting += 1
        if self.waiting >= self.holding:
            self.full.set()
        await self.release.wait()
        await super().publish(records)


def test_requests_beyond_the_in_flight_limit_are_shed_with_503_and_retry_after(
    catalog: Catalog,
) -> None:
    """Two requests waiting on Kafka fill a limit of two: a third is answered 503 with
    Retry-After at once and publishes nothing; the two get 202 when Kafka acknowledges, and
    the freed places take new requests (a refused request frees its place too)."""
    asyncio.run(_shed_beyond_the_limit(catalog))


async def _shed_beyond_the_limit(catalog: Catalog) -> None:
    publisher = HeldPublisher(holding=2)
    app = create_app(
        _settings(intake_max_in_flight=2), publisher=publisher, clock=FakeClock(), catalog=catalog
    )
    headers = {"Authorization": f"Bearer {MALANG}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        held = [
            asyncio.create_task(client.post("/v1/events", json=event(n), headers=headers))
            for n in (1, 2)
        ]
        await asyncio.wait_for(publisher.full.wait(), timeout=10)
        shed = await asyncio.wait_for(
            client.post("/v1/events", json=event(3), headers=headers), timeout=10
        )
        assert shed.status_code == 503
        assert shed.headers["Retry-After"] == "1"
        assert shed.json()["error"] == "overloaded"
        publisher.release.set()
        assert [(await task).status_code for task in held] == [202, 202]
        assert sorted(r.event_id for r in publisher.records) == [
            event(1)["event_id"],
            event(2)["event_id"],
        ]
        refused = await client.post("/v1/events", json={"not": "an event"}, headers=headers)
        assert refused.status_code == 422
        for n in (4, 5):
            later = await client.post("/v1/events", json=event(n), headers=headers)
            assert later.status_code == 202
