"""Operators file, routes file and webhook delivery with retries, against fakes at the ports."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime

import pytest

from pantau.core.alerts import Alert
from pantau_alerts.delivery import DeliveryDispatcher, DeliveryFailed
from pantau_alerts.domain.board import AlertBoard
from pantau_alerts.domain.operators import OperatorDirectory, OperatorsError, Role
from pantau_alerts.domain.routing import Route, RoutesError, RoutingTable, backoff_delay
from samples import sample_alert

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def an_alert(agency: str = "kota-malang.dpmptsp", rule: str = "duty.same_officer") -> Alert:
    return sample_alert(rule, agency=agency, detected_at=T0)


def test_operators_authenticate_by_token_digest() -> None:
    """The right token finds its operator; a wrong or empty one finds nobody."""
    directory = OperatorDirectory.from_yaml(
        "operators:\n"
        f"  - {{id: a, role: inspectorate, sha256: {hashlib.sha256(b'tok-a').hexdigest()}}}\n"
        f"  - {{id: b, agencies: [x.y.z], sha256: {hashlib.sha256(b'tok-b').hexdigest()}}}\n"
    )
    a, b = directory.authenticate("tok-a"), directory.authenticate("tok-b")
    assert a is not None
    assert a.role is Role.INSPECTORATE
    assert a.can_see("any.agency")
    assert b is not None
    assert b.can_see("x.y.z")
    assert not b.can_see("other.agency")
    assert directory.authenticate("tok-c") is None
    assert directory.authenticate("") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("operators: {}", "list"),
        ("operators: [{id: a, sha256: abc}]", "64 hex"),
        (f"operators: [{{id: a, role: boss, sha256: '{'0' * 64}'}}]", "role"),
        (f"operators: [{{id: a, sha256: '{'0' * 64}'}}]", "at least one agency"),
        ("operators: [", "YAML"),
    ],
)
def test_bad_operators_files_are_named(text: str, problem: str) -> None:
    """An unusable operators file fails with a message naming the problem."""
    with pytest.raises(OperatorsError, match=problem):
        OperatorDirectory.from_yaml(text, "ops.yaml")


def test_routes_match_agency_min_severity_and_rule() -> None:
    """Each criterion narrows; severity is a minimum."""
    table = RoutingTable.from_yaml(
        """
routes:
  - {name: all, webhook: {url: "http://h/all"}}
  - {name: malang-high, match: {agency: kota-malang.dpmptsp, severity: high},
     webhook: {url: "http://h/m"}}
  - {name: fees, match: {rule: [fee.mismatch]}, webhook: {url: "http://h/f"}}
"""
    )

    def names(alert: Alert) -> list[str]:
        return [route.name for route in table.targets_for(alert)]

    assert names(an_alert()) == ["all", "malang-high"]
    assert names(an_alert("kab-sleman.dpmptsp", "fee.mismatch")) == ["all", "fees"]
    assert names(an_alert(rule="time.out_of_order")) == ["all"]  # low severity


@pytest.mark.parametrize(
    "text",
    [
        "routes: [{name: a}]",
        "routes: [{name: a, webhook: {url: 'ftp://x'}}]",
        "routes: [{name: a, match: {severity: huge}, webhook: {url: 'http://x'}}]",
        "routes: [{name: a, match: {rule: nope}, webhook: {url: 'http://x'}}]",
        "routes: [{name: a, match: {colour: red}, webhook: {url: 'http://x'}}]",
    ],
)
def test_bad_routes_are_refused(text: str) -> None:
    """An unusable route fails loading with RoutesError."""
    with pytest.raises(RoutesError):
        RoutingTable.from_yaml(text)


def test_backoff_doubles_and_is_capped() -> None:
    """Retry delays grow exponentially up to the cap."""
    assert [backoff_delay(n, 0.5, cap=3) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]


class FlakyPoster:
    """Fails the first `failures` attempts per alert, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[str, str]] = []

    async def post(self, route: Route, body: bytes, idempotency_key: str) -> None:
        self.calls.append((route.name, idempotency_key))
        if len(self.calls) <= self.failures:
            raise DeliveryFailed("HTTP 500")


def run_dispatch(
    failures: int, attempts: int
) -> tuple[FlakyPoster, list[dict[str, object]], list[float]]:
    board = AlertBoard()
    alert = an_alert()
    board.add_alert(alert)
    poster = FlakyPoster(failures)
    recorded: list[dict[str, object]] = []
    slept: list[float] = []

    async def record(key: str, value: bytes) -> None:
        recorded.append(json.loads(value))

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def scenario() -> None:
        routes = RoutingTable([Route("hook", "http://127.0.0.1:1/x")])
        dispatcher = DeliveryDispatcher(
            board, routes, poster, record, lambda: T0, attempts=attempts, backoff=0.5, sleep=sleep
        )
        dispatcher.catch_up()
        dispatcher.submit(alert)  # the live path must not start a second delivery
        await dispatcher.drain()
        dispatcher.catch_up()  # a later scan finds the outcome and sends nothing
        await dispatcher.drain()

    asyncio.run(scenario())
    return poster, recorded, slept


def test_two_failures_then_success_is_one_delivery() -> None:
    """Retries with backoff end in exactly one `delivered` record."""
    poster, recorded, slept = run_dispatch(failures=2, attempts=5)
    assert len(poster.calls) == 3
    assert [(r["status"], r["attempts"]) for r in recorded] == [("delivered", 3)]
    assert slept == [0.5, 1.0]


def test_last_failure_is_dead_lettered() -> None:
    """After the last attempt fails, a dead_letter record keeps the error."""
    poster, recorded, _ = run_dispatch(failures=99, attempts=3)
    assert len(poster.calls) == 3
    assert [(r["status"], r["error"]) for r in recorded] == [("dead_letter", "HTTP 500")]


def test_digest_route_gets_yesterdays_digest_once_and_no_single_alerts() -> None:
    """A digest route receives one digest per agency and local day, and no individual alerts."""
    board = AlertBoard()
    alert = an_alert()  # detected 27 Nov 03:00 UTC = 10:00 WIB
    board.add_alert(alert)
    bodies: list[dict[str, object]] = []
    recorded: list[dict[str, object]] = []

    class Recorder(FlakyPoster):
        async def post(self, route: Route, body: bytes, idempotency_key: str) -> None:
            await super().post(route, body, idempotency_key)
            bodies.append(json.loads(body))

    async def record(key: str, value: bytes) -> None:
        recorded.append(json.loads(value))

    poster = Recorder(0)

    async def scenario() -> None:
        routes = RoutingTable.from_yaml(
            "routes: [{name: daily, digest: true, match: {agency: kota-malang.dpmptsp},"
            " webhook: {url: 'http://127.0.0.1:1/d'}}]"
        )
        next_morning = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)  # 08:00 WIB on 28 Nov
        dispatcher = DeliveryDispatcher(board, routes, poster, record, lambda: next_morning)
        dispatcher.submit(alert)
        dispatcher.send_digests()
        dispatcher.send_digests()
        await dispatcher.drain()
        dispatcher.send_digests()
        await dispatcher.drain()

    asyncio.run(scenario())
    assert [(r["subject"], r["status"]) for r in recorded] == [
        ("digest:kota-malang.dpmptsp:2026-11-27", "delivered")
    ]
    assert len(bodies) == 1
    assert bodies[0]["raised"] == 1
    assert bodies[0]["raised_by_rule"] == {"duty.same_officer": 1}
    assert bodies[0]["still_open"] == 1
