"""The status service's core and API: check codes, the public view, limits and reports.

The API runs in-process over a read model fed with case states as the tracker's core makes
them from simulated traffic; the publisher is a list (the real broker is in tests/e2e).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pantau.core.alerts import Alert, Category
from pantau.core.catalog import Catalog
from pantau.core.events import Event, event_key
from pantau.core.pseudonym import has_standalone_nik_run
from pantau.core.standards import StandardsBook, StandardVersion
from pantau.traffic.generator import Simulation
from pantau_status.api import create_app
from pantau_status.book import CaseBook
from pantau_status.domain.codes import check_code, code_matches, normalise_code
from pantau_status.domain.limits import AddressLimiter
from pantau_status.domain.reports import ReportKind, clean_text, report_alert
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.case_view import case_view
from pantau_tracker.domain.standards import Standards
from pantau_tracker.domain.tracking import handle_event
from samples import SentRecords, sample_alert, sample_versions, tracked_case

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
KEY = b"status-test-key-0123456789"
MALANG = "kota-malang.dpmptsp"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


# --- check codes -------------------------------------------------------------------------------


def test_check_code_is_stable_keyed_and_forgiving() -> None:
    code = check_code(KEY, MALANG, "PBG-1")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", code)
    assert code == check_code(KEY, MALANG, "PBG-1")
    assert code != check_code(KEY, MALANG, "PBG-2")
    assert code != check_code(KEY, "kab-sleman.dpmptsp", "PBG-1")
    assert code != check_code(b"another-key-0123456789", MALANG, "PBG-1")
    typed = f"  {code.lower().replace('-', ' ')} "
    assert code_matches(KEY, MALANG, "PBG-1", typed)
    assert normalise_code("o1l-i") == "0111"
    assert not code_matches(KEY, MALANG, "PBG-1", "")
    with pytest.raises(ValueError, match="at least 16"):
        check_code(b"short", MALANG, "PBG-1")


# --- limits ------------------------------------------------------------------------------------


def test_address_limiter_allows_a_burst_then_refills_slowly() -> None:
    limiter = AddressLimiter(per_minute=6, burst=3)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [None, None, None]
    assert limiter.take("a", 0.0) == 10
    assert limiter.take("b", 0.0) is None  # another address has its own budget
    assert limiter.take("a", 9.0) == 1
    assert limiter.take("a", 10.5) is None
    assert limiter.refused == 2


def test_address_limiter_stays_bounded() -> None:
    limiter = AddressLimiter(per_minute=60, burst=2, max_addresses=100)
    for n in range(1000):
        limiter.take(f"10.0.{n // 256}.{n % 256}", float(n))
    assert len(limiter) <= 100


# --- report text and alert ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NIK saya 3507123456789012 ya", "NIK saya [NIK] ya"),
        ("nik 3507 1234 5678 9012.", "nik [NIK]."),
        ("hubungi 0812-3456-7890", "hubungi [TELEPON]"),
        ("WA +62 812 3456 7890 pak", "WA [TELEPON] pak"),
        ("telp 6281234567890", "telp [TELEPON]"),
        ("diminta Rp 1.500.000, resmi Rp150.000.000", "diminta Rp 1.500.000, resmi Rp150.000.000"),
        ("antri nomor 12, loket 3", "antri nomor 12, loket 3"),
    ],
)
def test_report_text_loses_niks_and_phone_numbers(text: str, expected: str) -> None:
    cleaned, _ = clean_text(text)
    assert cleaned == expected
    assert not has_standalone_nik_run(cleaned)


def test_report_text_is_bounded() -> None:
    with pytest.raises(ValueError, match="1000"):
        clean_text("x" * 1001)


def test_report_alert_category_follows_the_kind_and_its_id_the_local_day() -> None:
    def alert(kind: ReportKind, now: datetime) -> Alert:
        return report_alert(
            agency=MALANG,
            service="pbg",
            case_id="PBG-1",
            step="verified",
            kind=kind,
            text="",
            now=now,
            timezone="Asia/Jakarta",
        )

    morning = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 WIB
    levy = alert(ReportKind.OVERCHARGE, morning)
    assert levy.rule == "citizen.report"
    assert levy.category is Category.IMPROPER_REQUEST
    assert alert(ReportKind.STALLED, morning).category is Category.UNDUE_DELAY
    assert alert(ReportKind.OTHER, morning).category is Category.IMPROPRIETY
    # Same kind, same local day: one alert id; 17:30 UTC is already the next day in Jakarta.
    assert alert(ReportKind.OVERCHARGE, morning + timedelta(hours=10)).alert_id == levy.alert_id
    assert alert(ReportKind.OVERCHARGE, morning + timedelta(hours=17)).alert_id != levy.alert_id
    assert alert(ReportKind.STALLED, morning).alert_id != levy.alert_id
    assert Alert.from_json_bytes(levy.to_json_bytes()) == levy


def test_other_rules_still_refuse_a_category_not_theirs() -> None:
    with pytest.raises(ValueError, match="category"):
        sample_alert("fee.mismatch", detected_at=START, category=Category.UNDUE_DELAY)


# --- the API over a read model -----------------------------------------------------------------


def pbg_case(case_id: str, now: datetime) -> dict[str, Any]:
    """Verified two days after it opened nine days ago; awaiting a fee assessment, and a step
    the public must not see overdue; with a NIK-like reason and an applicant's ref."""
    opened = now - timedelta(days=9)
    return tracked_case(
        case_id,
        opened,
        "verified",
        [
            {"step": "submitted", "event_id": "e1", "occurred_at": opened.isoformat()},
            {
                "step": "verified",
                "event_id": "e2",
                "occurred_at": (opened + timedelta(days=2)).isoformat(),
                "officers": ["198702142010011003"],
            },
        ],
        deadlines=[
            {"step": "fee_assessed", "after_step": "verified", "due_at": None, "overdue": False},
            {"step": "secret_step", "due_at": (now - timedelta(days=1)).isoformat()},
        ],
        reason="alasan 3507123456789012",
        applicant={"ref": "k1:abcdef"},
    )


class Sent(SentRecords):
    def __init__(self) -> None:
        super().__init__(TimeoutError, "broker unavailable")


def make_client(
    catalog: Catalog, book: CaseBook, sent: Sent, now: datetime, burst: int = 1000
) -> TestClient:
    clock = iter(range(10**9))
    app = create_app(
        book,
        catalog,
        KEY,
        sent,
        lambda: now,
        AddressLimiter(per_minute=1, burst=burst),
        monotonic=lambda: float(next(clock)) / 1000,
    )
    return TestClient(app)


def ready_book(*states: dict[str, Any]) -> CaseBook:
    book = CaseBook()
    for state in states:
        key = event_key(state["agency"], state["case_id"])
        book.on_case(key, json.dumps(state).encode())
    book.ready = True
    return book


def test_the_view_shows_steps_deadlines_and_fee_and_nothing_else(catalog: Catalog) -> None:
    now = datetime(2026, 3, 20, 3, 0, tzinfo=UTC)
    book = ready_book(pbg_case("PBG-9", now))
    client = make_client(catalog, book, Sent(), now)
    code = check_code(KEY, MALANG, "PBG-9")
    reply = client.post("/v1/status", json={"case_id": "PBG-9", "code": code})
    assert reply.status_code == 200, reply.text
    view = reply.json()
    assert [s["step"] for s in view["steps_done"]] == ["submitted", "verified"]
    assert [s["step"] for s in view["awaiting"]] == ["fee_assessed"]  # unknown steps not shown
    assert view["service"]["fee"] == {
        "free": False,
        "min": 100000,
        "max": 50000000,
        "currency": "IDR",
        "channels": ["bank", "online"],
    }
    assert view["service"]["time_limit"] == {"amount": 28, "unit": "working_days"}
    assert view["late"] is False
    assert view["deemed_approved"] is False
    for leak in ("198702142010011003", "3507123456789012", "k1:abcdef", "alasan", "e2"):
        assert leak not in reply.text

    page = client.post("/status", data={"receipt": "PBG-9", "code": code})
    assert page.status_code == 200
    assert 'lang="id"' in page.text
    assert "Persetujuan Bangunan Gedung" in page.text
    assert "Rp100.000 sampai Rp50.000.000" in page.text
    assert "Berkas diverifikasi" in page.text
    assert "28 hari kerja" in page.text
    assert (
        "Pembayaran hanya melalui bank atau kanal daring (virtual account, QRIS); jangan "
        "membayar tunai kepada petugas." in page.text
    )
    english = client.post("/status", data={"receipt": "PBG-9", "code": code, "lang": "en"})
    assert 'lang="en"' in english.text
    assert "28 working days" in english.text
    assert "never pay cash to an officer" in english.text


def test_a_case_deemed_approved_says_so_in_both_languages(catalog: Catalog) -> None:
    """A case whose limit passed undecided is shown open and deemed approved by law."""
    now = datetime(2026, 3, 20, 3, 0, tzinfo=UTC)
    state = pbg_case("PKKPR-7", now) | {
        "service": "pkkpr",
        "status": "deemed_approved",
        "deemed_approved_at": (now - timedelta(days=1)).isoformat(),
        "deadlines": [],
    }
    client = make_client(catalog, ready_book(state), Sent(), now)
    code = check_code(KEY, MALANG, "PKKPR-7")
    view = client.post("/v1/status", json={"case_id": "PKKPR-7", "code": code}).json()
    assert view["status"] == "open"
    assert view["deemed_approved"] is True
    page = client.post("/status", data={"receipt": "PKKPR-7", "code": code})
    assert "dianggap disetujui menurut hukum (fiktif positif)" in page.text
    english = client.post("/status", data={"receipt": "PKKPR-7", "code": code, "lang": "en"})
    assert "deemed approved by law" in english.text


def test_a_wrong_code_and_an_unknown_case_answer_alike(catalog: Catalog) -> None:
    now = datetime(2026, 3, 20, 3, 0, tzinfo=UTC)
    client = make_client(catalog, ready_book(pbg_case("PBG-9", now)), Sent(), now)
    wrong = client.post("/v1/status", json={"case_id": "PBG-9", "code": "AAAA-AAAA"})
    unknown = client.post(
        "/v1/status", json={"case_id": "PBG-404", "code": check_code(KEY, MALANG, "PBG-404")}
    )
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.content == unknown.content
    assert dict(wrong.headers) == dict(unknown.headers)
    wrong_page = client.post("/status", data={"receipt": "PBG-9", "code": "AAAA-AAAA"})
    unknown_page = client.post("/status", data={"receipt": "PBG-404", "code": "AAAA-AAAA"})
    assert wrong_page.status_code == unknown_page.status_code == 404
    assert wrong_page.text.replace("PBG-9", "X") == unknown_page.text.replace("PBG-404", "X")


def test_a_hundred_wrong_tries_from_one_address_are_refused(catalog: Catalog) -> None:
    now = datetime(2026, 3, 20, 3, 0, tzinfo=UTC)
    client = make_client(catalog, ready_book(pbg_case("PBG-9", now)), Sent(), now, burst=20)
    codes = [
        client.post("/v1/status", json={"case_id": "PBG-9", "code": f"AAAA-{n:04d}"}).status_code
        for n in range(100)
    ]
    assert codes[:20] == [404] * 20
    assert codes[20:] == [429] * 80
    right = client.post(
        "/v1/status", json={"case_id": "PBG-9", "code": check_code(KEY, MALANG, "PBG-9")}
    )
    assert right.status_code == 429  # the right code does not get through a spent budget
    assert int(right.headers["Retry-After"]) >= 1


def test_a_report_becomes_one_alert_per_kind_per_day(catalog: Catalog) -> None:
    now = datetime(2026, 3, 20, 3, 0, tzinfo=UTC)
    sent = Sent()
    client = make_client(catalog, ready_book(pbg_case("PBG-9", now)), sent, now)
    code = check_code(KEY, MALANG, "PBG-9")
    body = {"case_id": "PBG-9", "code": code, "kind": "overcharge", "text": "WA 081234567890"}
    sent.down = True
    assert client.post("/v1/reports", json=body).status_code == 503  # not acknowledged: no 2xx
    sent.down = False
    first = client.post("/v1/reports", json=body)
    assert first.status_code == 202, first.text
    again = client.post("/v1/reports", json=body)
    assert again.status_code == 409
    assert again.json()["alert_id"] == first.json()["alert_id"]
    assert client.post("/v1/reports", json={**body, "kind": "stalled"}).status_code == 202
    assert client.post("/v1/reports", json={**body, "kind": "bribe"}).status_code == 422
    wrong = client.post("/v1/reports", json={**body, "code": "AAAA-AAAA", "kind": "other"})
    assert wrong.status_code == 404
    assert len(sent.records) == 2
    key, value = sent.records[0]
    assert key == f"{MALANG}|PBG-9"
    alert = Alert.from_json_bytes(value)
    assert alert.rule == "citizen.report"
    assert alert.category is Category.IMPROPER_REQUEST
    assert "081234567890" not in value.decode()
    assert alert.evidence["text"] == "WA [TELEPON]"


def test_a_report_already_on_the_alerts_topic_is_not_taken_twice(catalog: Catalog) -> None:
    now = datetime(2026, 3, 20, 3, 0, tzinfo=UTC)
    sent = Sent()
    book = ready_book(pbg_case("PBG-9", now))
    earlier = report_alert(
        agency=MALANG,
        service="pbg",
        case_id="PBG-9",
        step="verified",
        kind=ReportKind.UNOFFICIAL_CHANNEL,
        text="",
        now=now - timedelta(hours=1),
        timezone="Asia/Jakarta",
    )
    book.on_alert(None, earlier.to_json_bytes())  # e.g. taken by another instance
    client = make_client(catalog, book, sent, now)
    code = check_code(KEY, MALANG, "PBG-9")
    reply = client.post(
        "/report", data={"receipt": "PBG-9", "code": code, "kind": "unofficial_channel"}
    )
    assert reply.status_code == 409
    assert "sudah diterima hari ini" in reply.text
    assert sent.records == []


def test_not_ready_answers_503_and_tombstones_remove_cases(catalog: Catalog) -> None:
    now = datetime(2026, 3, 20, 3, 0, tzinfo=UTC)
    book = ready_book(pbg_case("PBG-9", now))
    book.on_case(f"{MALANG}|PBG-9".encode(), None)
    client = make_client(catalog, book, Sent(), now)
    code = check_code(KEY, MALANG, "PBG-9")
    assert client.post("/v1/status", json={"case_id": "PBG-9", "code": code}).status_code == 404
    book.ready = False
    assert client.post("/v1/status", json={"case_id": "PBG-9", "code": code}).status_code == 503


# --- every response over a run of simulated cases ----------------------------------------------


def test_no_response_over_simulated_cases_carries_personal_data(catalog: Catalog) -> None:
    """Fold a simulated run through the tracker's core, publish its case views into the read
    model, then look up every case (JSON and HTML, both languages) and report on some: no
    response holds an officer id, an applicant ref, a reason or anything like a NIK."""
    standards = Standards(catalog)
    states: dict[tuple[str, str], CaseState] = {}
    book = CaseBook()
    officers: set[str] = set()
    refs: set[str] = set()
    reasons: set[str] = set()
    last = START
    for emission in Simulation(
        catalog, seed=16, start=START, cases=160, anomaly_rate=0.5, regime="live"
    ):
        event = emission.event
        if event.officer is not None:
            officers.add(event.officer.id)
        if event.applicant is not None:
            refs.add(event.applicant.ref)
        if event.reason:
            reasons.add(event.reason.lower())
        standard = standards.for_case(event.agency, event.service)
        assert standard is not None
        key = (event.agency, event.case_id)
        outcome = handle_event(states.get(key), event, emission.sent_at, standard)
        if outcome.state is not None:
            states[key] = outcome.state
            view = case_view(outcome.state, standard)
            book.on_case(event_key(event.agency, event.case_id), json.dumps(view).encode())
        last = emission.sent_at
    book.ready = True
    assert len(book) == len(states) >= 150
    assert officers
    assert refs
    assert reasons
    # The read model is fed what the tracker publishes, personal data included.
    assert any(
        officer in json.dumps(case_view(s, standards.for_case(s.agency, s.service)))  # type: ignore[arg-type]
        for s in states.values()
        for officer in officers
    )

    sent = Sent()
    client = make_client(catalog, book, sent, last + timedelta(hours=1))
    responses: list[str] = []
    for n, (agency, case_id) in enumerate(sorted(states)):
        code = check_code(KEY, agency, case_id)
        reply = client.post("/v1/status", json={"case_id": case_id, "code": code})
        assert reply.status_code == 200, reply.text
        responses.append(reply.text)
        for lang in ("id", "en"):
            page = client.post("/status", data={"receipt": case_id, "code": code, "lang": lang})
            assert page.status_code == 200
            responses.append(page.text)
        if n % 10 == 0:
            report = client.post(
                "/v1/reports",
                json={"case_id": case_id, "code": code, "kind": "other", "text": "x"},
            )
            assert report.status_code == 202
            responses.append(report.text)
    assert len(sent.records) == 16
    for text in responses:
        low = text.lower()
        assert not has_standalone_nik_run(text)
        assert not any(officer in text for officer in officers)
        assert not any(ref.lower() in low for ref in refs)
        assert not any(reason in low for reason in reasons)


def test_the_readme_example_code_is_what_the_dev_key_gives() -> None:
    """README's check-code example uses `make up`'s dev key (deploy/stack.sh)."""
    repo = CATALOG.parent
    dev_key = re.search(r'PANTAU_STATUS_KEY:-([^}"]+)', (repo / "deploy/stack.sh").read_text())
    assert dev_key is not None
    code = check_code(dev_key.group(1).encode(), MALANG, "PBG-2026-000123")
    assert f'"code":"{code}"' in (repo / "README.md").read_text()


def test_agency_systems_get_the_code_to_print_with_their_api_key(catalog: Catalog) -> None:
    from pantau_intake.api_keys import AgencyKeyring, key_digest

    keyring = AgencyKeyring.from_yaml(
        f"keys:\n  - {{agency: {MALANG}, sha256: {key_digest('malang-key')}}}\n", "keys.yaml"
    )
    app = create_app(
        ready_book(),
        catalog,
        KEY,
        Sent(),
        lambda: START,
        AddressLimiter(per_minute=1, burst=1),
        keyring,
    )
    client = TestClient(app)
    reply = client.get("/v1/check-codes/PBG-NEW-1", headers={"Authorization": "Bearer malang-key"})
    assert reply.status_code == 200
    assert reply.json() == {
        "agency": MALANG,
        "case_id": "PBG-NEW-1",
        "code": check_code(KEY, MALANG, "PBG-NEW-1"),
    }
    assert client.get("/v1/check-codes/PBG-NEW-1").status_code == 401
    wrong = client.get("/v1/check-codes/PBG-NEW-1", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_the_refusal_page_speaks_the_applicants_language(catalog: Catalog) -> None:
    now = datetime(2026, 3, 20, 3, 0, tzinfo=UTC)
    client = make_client(catalog, ready_book(pbg_case("PBG-9", now)), Sent(), now, burst=1)
    client.post("/status", data={"receipt": "PBG-9", "code": "x", "lang": "en"})
    refused = client.post("/status", data={"receipt": "PBG-9", "code": "x", "lang": "en"})
    assert refused.status_code == 429
    assert 'lang="en"' in refused.text
    assert "Too many tries" in refused.text


# --- the version of the standards a case follows ------------------------------------------------

CHANGE = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # version 2 shortens the PBG limit from here


def pbg_versions() -> tuple[StandardVersion, StandardVersion]:
    """The repository catalog as version 1, and as version 2 with PBG at 20 working days."""

    def shorter(pbg: dict[str, Any]) -> None:
        pbg["sla"] = "20 working_days"

    return sample_versions(CHANGE, shorter, second_published_at=CHANGE)


def test_a_case_is_shown_against_the_version_it_follows_for_its_whole_life(
    catalog: Catalog,
) -> None:
    """PBG's limit is shortened from 28 to 20 working days while a case is open: that case's
    page keeps showing 28 days and the deadline the tracker fixed under version 1, also when
    its state names no version (it opened before the change); a case submitted after the change
    shows 20 days and its shorter deadline. The case states come from the tracker's own core."""
    v1, v2 = pbg_versions()
    tracker = Standards(book=StandardsBook((v1,)))
    states: dict[str, dict[str, Any]] = {}

    def submit(case_id: str, at: datetime) -> None:
        event = Event.model_validate(
            {
                "event_id": f"e-{case_id}",
                "agency": MALANG,
                "service": "pbg",
                "case_id": case_id,
                "step": "submitted",
                "occurred_at": at.isoformat(),
            }
        )
        standard = tracker.for_event(None, event)
        assert standard is not None
        outcome = handle_event(None, event, at, standard)
        assert outcome.state is not None
        states[case_id] = case_view(outcome.state, standard)

    submit("PBG-OLD", CHANGE - timedelta(days=3))
    assert tracker.learn(v2)  # published while PBG-OLD is open
    submit("PBG-NEW", CHANGE + timedelta(days=1))
    assert states["PBG-OLD"]["standard_version"] == 1  # the tracker's record carries it
    assert states["PBG-NEW"]["standard_version"] == 2
    unversioned = {**states["PBG-OLD"], "case_id": "PBG-KEPT", "standard_version": None}
    assert states["PBG-OLD"]["due_at"] > states["PBG-NEW"]["due_at"]  # 28 vs 20 working days

    now = CHANGE + timedelta(days=2)
    client = make_client(
        catalog, ready_book(*states.values(), unversioned), Sent(), now, burst=1000
    )
    shown = client.app.state.standards  # type: ignore[attr-defined]
    assert shown.learn(v1)
    assert shown.learn(v2)
    assert not shown.learn(v2)  # read again from the topic: nothing new

    def view(case_id: str) -> dict[str, Any]:
        code = check_code(KEY, MALANG, case_id)
        reply = client.post("/v1/status", json={"case_id": case_id, "code": code})
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        return answer

    for case_id in ("PBG-OLD", "PBG-KEPT"):
        old = view(case_id)
        assert old["service"]["time_limit"] == {"amount": 28, "unit": "working_days"}
        assert old["due_at"] == states["PBG-OLD"]["due_at"]
        assert old["late"] is False
    new = view("PBG-NEW")
    assert new["service"]["time_limit"] == {"amount": 20, "unit": "working_days"}
    assert new["due_at"] == states["PBG-NEW"]["due_at"]
    code = check_code(KEY, MALANG, "PBG-OLD")
    page = client.post("/status", data={"receipt": "PBG-OLD", "code": code}).text
    assert "28 hari kerja" in page
    assert "20 hari kerja" not in page
    code = check_code(KEY, MALANG, "PBG-NEW")
    page = client.post("/status", data={"receipt": "PBG-NEW", "code": code}).text
    assert "20 hari kerja" in page
    assert "28 hari kerja" not in page
