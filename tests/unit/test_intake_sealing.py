"""The intake with PANTAU_MASTER_KEY: personal data sealed, data keys stored before the events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pantau.core.catalog import Catalog
from pantau.core.events import Event
from pantau.core.sealing import SEALED_REASON, KeyRecord, MasterKey, open_sealed
from pantau_intake.app import create_app
from pantau_intake.domain.publishing import InMemoryPublisher
from pantau_intake.settings import ConfigurationError, IntakeSettings
from samples import intake_settings

MALANG = "dev-kota-malang.dpmptsp"
NIK = "3573010101900001"
MASTER = "unit-test-master-key-0123456789abcdef"


def _settings(**overrides: Any) -> IntakeSettings:
    return intake_settings(**{"master_key": MASTER, **overrides})


@pytest.fixture
def events() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
def keys() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
def client(
    events: InMemoryPublisher, keys: InMemoryPublisher, catalog: Catalog
) -> Iterator[TestClient]:
    app = create_app(_settings(), publisher=events, key_publisher=keys, catalog=catalog)
    with TestClient(app) as test_client:
        yield test_client


def _event(n: int, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"kota-malang.dpmptsp:PBG-{n}:2",
        "agency": "kota-malang.dpmptsp",
        "service": "pbg",
        "case_id": f"PBG-{n}",
        "step": "rejected",
        "occurred_at": "2026-11-27T09:15:00+07:00",
        "applicant": {"nik": NIK},
        "reason": "Bapak Agus Salim: sertifikat tanah palsu",
        "attributes": {"address": "Jl. Ijen 3, Malang", "assessed_amount": "150000.00"},
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def _post(client: TestClient, body: Any) -> Any:
    return client.post(
        "/v1/events",
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {MALANG}"},
    )


def test_personal_data_is_sealed_and_its_key_stored(
    client: TestClient, events: InMemoryPublisher, keys: InMemoryPublisher
) -> None:
    """The published event holds neither the reason nor the personal attribute; the amount and
    the pseudonym stay; the key store got the applicant's wrapped key, which opens the event."""
    response = _post(client, {"events": [_event(1), _event(2)]})
    assert response.status_code == 202, response.text
    assert len(keys.records) == 1  # one applicant, one key
    assert len(events.records) == 2
    for record in events.records:
        assert b"Agus" not in record.value
        assert b"Ijen" not in record.value
        assert NIK.encode() not in record.value
    published = Event.from_json_bytes(events.records[0].value)
    assert published.reason == SEALED_REASON
    assert published.attributes["assessed_amount"] == "150000.00"
    assert published.applicant is not None
    [stored] = keys.records
    key = MasterKey(MASTER.encode()).unwrap(KeyRecord(stored.key, stored.value))
    opened = open_sealed(json.loads(events.records[0].value), {key.key_id: key}.get)
    assert opened.document["reason"] == "Bapak Agus Salim: sertifikat tanah palsu"
    assert opened.document["attributes"]["address"] == "Jl. Ijen 3, Malang"


def test_events_without_applicant_are_published_as_sent(
    client: TestClient, events: InMemoryPublisher, keys: InMemoryPublisher
) -> None:
    """No applicant, no key: the event goes out unsealed, as before."""
    response = _post(client, _event(3, applicant=None))
    assert response.status_code == 202, response.text
    assert keys.records == []
    assert b"Agus" in events.records[0].value


def test_an_event_too_large_once_sealed_is_422_and_nothing_is_published(
    client: TestClient, events: InMemoryPublisher, keys: InMemoryPublisher
) -> None:
    """The envelope counts towards the 8 KiB of attributes: an event that fits in clear but not
    sealed is refused, with nothing published."""
    big = _event(4, attributes={"notes": "x" * 7000}, reason="r" * 2000)
    response = _post(client, big)
    assert response.status_code == 422, response.text
    assert "once sealed" in response.text
    assert events.records == []
    assert keys.records == []


def test_no_event_is_published_when_its_key_is_not_stored(
    client: TestClient, events: InMemoryPublisher, keys: InMemoryPublisher
) -> None:
    """A key store that does not acknowledge gives 503, and no event is published without its
    key."""
    keys.available = False
    response = _post(client, _event(5))
    assert response.status_code == 503
    assert events.records == []


def test_a_master_key_without_a_key_store_cannot_start(
    events: InMemoryPublisher, catalog: Catalog
) -> None:
    """Sealing with nowhere to store the keys would publish events nobody can open."""
    with pytest.raises(ConfigurationError, match="key store"):
        create_app(_settings(), publisher=events, catalog=catalog)
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        create_app(_settings(master_key="short"), publisher=events, catalog=catalog)


def test_an_event_sealed_by_its_sender_is_published_as_sent(
    client: TestClient, events: InMemoryPublisher, keys: InMemoryPublisher
) -> None:
    """An event that carries an envelope already is not sealed a second time."""
    envelope = {"v": 1, "key": "d1:" + "0" * 32, "nonce": "bm9uY2U", "data": "ZGF0YQ"}
    sent = _event(6, reason="[sealed]", attributes={"pantau_sealed": envelope})
    response = _post(client, sent)
    assert response.status_code == 202, response.text
    assert keys.records == []
    assert json.loads(events.records[0].value)["attributes"] == {"pantau_sealed": envelope}
