"""The HTTP traffic publisher against a fake intake: batching, keys, retries, refusals; progress."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from pantau.core.events import Event
from pantau.traffic.publishing import HttpTrafficPublisher, Progress, PublishError

KEYS = {"kota-malang.dpmptsp": "key-a", "kab-sleman.dpmptsp": "key-b"}


def _event(agency: str, case: str, seq: int, **extra: Any) -> Event:
    return Event.model_validate(
        {
            "event_id": f"{agency}:{case}:{seq}",
            "agency": agency,
            "service": "pbg",
            "case_id": case,
            "step": "submitted",
            "occurred_at": "2026-11-27T09:15:00+07:00",
            "seq": seq,
            **extra,
        }
    )


class FakeIntake:
    """Answers like the intake: the scripted statuses first, then 202."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        ids = [e["event_id"] for e in body["events"]]
        self.requests.append((request.headers["Authorization"], ids))
        status = self.statuses.pop(0) if self.statuses else 202
        if status == 202:
            return httpx.Response(202, json={"accepted": len(ids)})
        return httpx.Response(status, headers={"Retry-After": "0"}, json={"error": "x"})


def _publisher(intake: FakeIntake, batch: int = 3) -> HttpTrafficPublisher:
    client = httpx.Client(transport=httpx.MockTransport(intake))
    return HttpTrafficPublisher("http://intake", KEYS, batch=batch, client=client)


def test_events_go_in_batches_per_agency_with_that_agency_key() -> None:
    """Each request holds one agency's events in order, under that agency's bearer key."""
    intake = FakeIntake()
    publisher = _publisher(intake)
    for seq in range(1, 5):
        publisher.send(_event("kota-malang.dpmptsp", "A", seq))
    publisher.send(_event("kab-sleman.dpmptsp", "B", 1))
    assert publisher.flush() == 5
    assert intake.requests == [
        ("Bearer key-a", [f"kota-malang.dpmptsp:A:{n}" for n in (1, 2, 3)]),
        ("Bearer key-a", ["kota-malang.dpmptsp:A:4"]),
        ("Bearer key-b", ["kab-sleman.dpmptsp:B:1"]),
    ]


def test_a_resent_event_goes_in_a_later_request() -> None:
    """The same event_id is never twice in one batch: a resend is a request of its own."""
    intake = FakeIntake()
    publisher = _publisher(intake, batch=10)
    first = _event("kota-malang.dpmptsp", "A", 1)
    publisher.send(first)
    publisher.send(first)
    publisher.flush()
    assert [ids for _, ids in intake.requests] == [[first.event_id], [first.event_id]]


def test_busy_and_unavailable_answers_are_retried() -> None:
    """429 and 503 are retried after Retry-After until the intake accepts."""
    intake = FakeIntake([429, 503])
    publisher = _publisher(intake)
    publisher.send(_event("kota-malang.dpmptsp", "A", 1))
    assert publisher.flush() == 1
    assert len(intake.requests) == 3


def test_a_refused_batch_stops_the_run_with_the_intake_answer() -> None:
    """A 422 is not retried: the traffic is wrong, and the error says what the intake said."""
    publisher = _publisher(FakeIntake([422]))
    publisher.send(_event("kota-malang.dpmptsp", "A", 1))
    with pytest.raises(PublishError, match="422"):
        publisher.flush()


def test_an_agency_without_a_key_is_refused_before_sending() -> None:
    """An event of an agency with no key fails at once, naming the agency."""
    publisher = _publisher(FakeIntake())
    with pytest.raises(PublishError, match=r"kota-malang\.disdukcapil"):
        publisher.send(_event("kota-malang.disdukcapil", "K", 1))


def test_progress_shows_events_rate_and_eta() -> None:
    """The progress line names events, rate, share done and an ETA."""
    out = io.StringIO()
    progress = Progress("simulate", total=200, out=out)
    progress.update(500, 50, force=True)
    line = out.getvalue()
    assert "simulate: 500 events" in line
    assert "/s" in line
    assert "50/200 (25%)" in line
    assert "ETA" in line
