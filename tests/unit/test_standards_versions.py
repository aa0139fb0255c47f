"""Versioned service standards: the book of versions, their records, what changed between two,
and cases pinned for life to the version in force when they were submitted."""

from __future__ import annotations

import copy
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from pantau.adapters.standards_topic import NewestStandards
from pantau.catalog_publish import history_lines
from pantau.core.alerts import Alert
from pantau.core.catalog import CatalogError
from pantau.core.events import event_key
from pantau.core.standards import (
    StandardsBook,
    StandardVersion,
    canonical_document,
    catalog_changes,
    content_hash,
    new_version,
)
from pantau_tracker.domain.batches import (
    CaseBatch,
    RuleBatch,
    decode_state,
    encode_state,
    hand_over_value,
)
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.decoded import DecodedTable
from pantau_tracker.domain.ordering import END_OF_TIME, PROGRESS_KEY, StepOrder, progress_value
from pantau_tracker.domain.rulebook import STATEFUL_RULES
from pantau_tracker.domain.standards import Standards, TrackerPolicy
from tracker_harness import case_table, rule_tables

AGENCY = "kota-malang.dpmptsp"
LOG = logging.getLogger("test.standards")
PUBLISHED = datetime(2026, 1, 1, tzinfo=UTC)
CHANGE = datetime(2026, 3, 1, tzinfo=UTC)  # the shorter limit takes effect


def document(sla: str = "10 days", verify_sla: str = "3 days") -> dict[str, Any]:
    return {
        "calendars": {
            "id-gov": {
                "timezone": "Asia/Jakarta",
                "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                "hours": {"mon-fri": "08:00-16:00"},
                "holidays": "ID",
            }
        },
        "agencies": [{"code": AGENCY, "name": "DPMPTSP Kota Malang", "calendar": "id-gov"}],
        "services": [
            {
                "code": "sku",
                "agency": AGENCY,
                "name": "Surat Keterangan Usaha",
                "sla": sla,
                "fee": 0,
                "steps": [
                    {"code": "submitted", "start": True},
                    {"code": "verified", "roles": ["verifier"], "sla": verify_sla},
                    {"code": "issued", "terminal": True},
                ],
            }
        ],
    }


def version(
    number: int, doc: dict[str, Any], valid_from: datetime = PUBLISHED, by: str = "dinas"
) -> StandardVersion:
    return new_version(number, doc, valid_from=valid_from, published_by=by, published_at=valid_from)


def book(*versions: StandardVersion) -> StandardsBook:
    found = StandardsBook()
    for each in versions:
        found = found.with_version(each)
    return found


# --- the book ----------------------------------------------------------------------------------


def test_in_force_is_the_newest_version_whose_valid_from_has_come() -> None:
    """Before the first valid_from the first version judges; a scheduled version takes effect
    exactly at its valid_from; a later publication supersedes an earlier one from its own
    valid_from on."""
    v1 = version(1, document())
    v2 = version(2, document(sla="5 days"), valid_from=CHANGE)
    v3 = version(3, document(sla="7 days"), valid_from=CHANGE + timedelta(days=30))
    standards = book(v3, v1, v2)
    assert [v.number for v in standards.versions] == [1, 2, 3]
    assert standards.in_force(PUBLISHED - timedelta(days=400)) == v1
    assert standards.in_force(CHANGE - timedelta(microseconds=1)) == v1
    assert standards.in_force(CHANGE) == v2
    assert standards.in_force(CHANGE + timedelta(days=31)) == v3
    assert standards.next_number == 4
    assert StandardsBook().in_force(CHANGE) is None


def test_a_version_read_again_is_learned_once_and_a_changed_one_replaces_it() -> None:
    """Every reader takes versions in through `StandardsBook.learned`: the same version read
    again gives nothing new; a version of the same number with other content replaces it."""
    v1 = version(1, document())
    first = StandardsBook().learned(v1)
    assert first is not None
    assert first.versions == (v1,)
    assert first.learned(v1) is None
    changed = version(1, document(sla="4 days"))
    replaced = first.learned(changed)
    assert replaced is not None
    assert replaced.versions == (changed,)


def test_a_reader_shows_a_case_against_the_version_it_follows() -> None:
    """What the status page and the alerts service show a case against: the version its state
    or alert records; without one, the version in force when it opened (or the first later one
    that has its service); without a time, or a version the book lacks and no time, the newest."""
    with_siup = document()
    siup = copy.deepcopy(with_siup["services"][0])
    siup["code"] = "siup"
    with_siup["services"].append(siup)
    v1 = version(1, document())
    v2 = version(2, with_siup, valid_from=CHANGE)
    v3 = version(3, with_siup, valid_from=CHANGE + timedelta(days=30))
    standards = book(v1, v2, v3)
    before = CHANGE - timedelta(days=1)
    assert standards.followed(AGENCY, "sku", 1, CHANGE + timedelta(days=40)) == v1
    assert standards.followed(AGENCY, "sku", None, before) == v1
    assert standards.followed(AGENCY, "sku", None, CHANGE) == v2
    assert standards.followed(AGENCY, "siup", None, before) == v2  # brought by version 2
    assert standards.followed(AGENCY, "sku", 9, before) == v1  # unknown version: by its time
    assert standards.followed(AGENCY, "sku", None, None) == v3
    assert standards.followed(AGENCY, "nib", None, before) == v3  # no version has it
    assert StandardsBook().followed(AGENCY, "sku", 1, before) is None


def test_a_record_round_trips_and_a_tampered_one_is_refused() -> None:
    """A version read back from its record equals the published one; a record whose catalog
    no longer matches its content hash, or whose catalog is broken, is not a version."""
    v1 = version(1, document())
    assert StandardVersion.from_record(v1.to_record()) == v1
    record = orjson.loads(v1.to_record())
    record["catalog"]["services"][0]["sla"] = "30 days"
    with pytest.raises(ValueError, match="content hash"):
        StandardVersion.from_record(orjson.dumps(record))
    record["content_hash"] = content_hash(record["catalog"])
    record["catalog"]["services"][0]["steps"] = []
    record["content_hash"] = content_hash(record["catalog"])
    with pytest.raises(CatalogError, match="steps must be a non-empty list"):
        StandardVersion.from_record(orjson.dumps(record))


def test_the_canonical_form_does_not_depend_on_how_the_catalog_is_split_or_keyed() -> None:
    """The same catalog split over files, or with its keys in another order, has one hash."""
    whole = document()
    calendars = {"calendars": whole["calendars"]}
    rest = {"agencies": whole["agencies"], "services": whole["services"]}
    reordered = json.loads(json.dumps(whole, sort_keys=True))
    assert content_hash(canonical_document([calendars, rest])) == content_hash(
        canonical_document([reordered])
    )
    assert content_hash(canonical_document([document(sla="9 days")])) != content_hash(
        canonical_document([whole])
    )


def test_changes_name_services_steps_limits_and_fees() -> None:
    """What changed from one version to the next, in the words of the catalog."""
    old = document()
    new = copy.deepcopy(old)
    service = new["services"][0]
    service["sla"] = "5 days"
    service["fee"] = 10000
    service["steps"][1]["sla"] = "2 days"
    service["steps"].insert(2, {"code": "approved", "roles": ["head"]})
    added = copy.deepcopy(service)
    added["code"] = "siup"
    new["services"].append(added)
    lines = catalog_changes(version(1, old).catalog, version(2, new).catalog)
    assert lines == [
        f"+ service siup@{AGENCY}",
        f"~ service sku@{AGENCY}: limit (sla) 10 days -> 5 days",
        f"~ service sku@{AGENCY}: fee 0 -> 10000",
        f"~ service sku@{AGENCY}: + step approved",
        f"~ service sku@{AGENCY}: step verified limit (sla) 3 days -> 2 days",
        f"~ service sku@{AGENCY}: allowed transitions (next) changed",
    ]
    assert catalog_changes(version(2, new).catalog, version(3, old).catalog)[0] == (
        f"- service siup@{AGENCY}"
    )


def test_history_lists_versions_marks_the_one_in_force_and_compares_two() -> None:
    """`pantau catalog history`: every version with what changed from the one before, the
    version in force and a scheduled one marked; two numbers compare those two."""
    standards = book(
        version(1, document(), by="bootstrap"),
        version(2, document(sla="5 days"), valid_from=CHANGE),
    )
    lines = history_lines(standards, CHANGE - timedelta(days=1), [])
    assert lines[0].startswith("version 1 ")
    assert lines[0].endswith("[in force]")
    assert "by bootstrap" in lines[0]
    assert lines[1].startswith("version 2 ")
    assert lines[1].endswith("[scheduled]")
    assert lines[2] == f"  ~ service sku@{AGENCY}: limit (sla) 10 days -> 5 days"
    assert history_lines(standards, CHANGE, [2, 1]) == [
        "changes from version 2 to version 1:",
        f"  ~ service sku@{AGENCY}: limit (sla) 5 days -> 10 days",
    ]
    with pytest.raises(KeyError, match="no standards version 7"):
        history_lines(standards, CHANGE, [1, 7])


# --- cases pinned to their version -------------------------------------------------------------


class DictTable:
    """A `TablePort` over a dict."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes, partition: int) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, partition: int, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes, partition: int) -> None:
        self.data.pop(key, None)


class Tracker:
    """The tracker's batch fold over one table, one record per batch, as the agent runs it."""

    def __init__(self, standards: Standards) -> None:
        self.standards = standards
        self.stored = DictTable()
        self.table = case_table(100, self.stored)
        self.alerts: list[Alert] = []
        self.hand_overs: list[tuple[bytes, bytes]] = []  # (route, entry) for the cross-case rules
        self.offset = 0  # of the next record on the events partition

    def submit(self, case_id: str, at: datetime, step: str = "submitted", n: int = 1) -> None:
        value = orjson.dumps(
            {
                "event_id": f"{AGENCY}:{case_id}:{n}",
                "agency": AGENCY,
                "service": "sku",
                "case_id": case_id,
                "step": step,
                "occurred_at": at.isoformat(),
                "mode": "live",
                "officer": {"id": "198702142010011003", "role": "verifier"},
            }
        )
        fold = CaseBatch(self.standards.catalog, self.standards, self.table)
        self.offset += 1
        fold.event(event_key(AGENCY, case_id), value, 0, self.offset, at + timedelta(seconds=5))
        self._keep(fold)

    def check(self, case_id: str, now: datetime) -> None:
        fold = CaseBatch(self.standards.catalog, self.standards, self.table)
        fold.check(event_key(AGENCY, case_id), b"{}", 0, now)
        self._keep(fold)

    def _keep(self, fold: CaseBatch) -> None:
        outcome = fold.finish()
        assert not outcome.rejected
        for key, write in outcome.writes.items():
            if write.state is not None and write.store:
                self.table.save(key, 0, write.state, write.stored)
        self.alerts += [alert for _, alert in outcome.alerts]
        self.hand_overs += [(hand_over.route, hand_over.entry) for hand_over in outcome.hand_overs]

    def cross_case_alerts(self) -> list[Alert]:
        """What the cross-case rules raise from every step handed on, all released at once."""
        order_port = DictTable()
        order = StepOrder(1, order_port.get)
        tables = rule_tables(50, {rule.name: DictTable() for rule in STATEFUL_RULES})
        fold = RuleBatch(self.standards, tables, order)
        for route, entry in self.hand_overs:
            fold.record(route, hand_over_value([entry]), 0)
        fold.record(PROGRESS_KEY, progress_value({0: END_OF_TIME}), 0)
        outcome = fold.finish()
        assert not outcome.rejected
        return [alert for _, alert in outcome.alerts]

    def state(self, case_id: str) -> CaseState:
        found = self.table.load(event_key(AGENCY, case_id), 0)
        assert found is not None
        return found

    def overdue(self, case_id: str) -> list[Alert]:
        return [a for a in self.alerts if a.case_id == case_id and a.rule == "sla.case_overdue"]


def test_a_limit_shortened_while_a_case_is_open_does_not_make_it_overdue_early() -> None:
    """A case submitted under a 10-day limit keeps it when version 2 shortens the limit to 5
    days while the case is open (version 2 learnt live); a case submitted after the change is
    judged by the 5 days. Each alert names the version it was judged by."""
    standards = Standards(book=book(version(1, document(verify_sla="30 days"))))
    tracker = Tracker(standards)
    opened = CHANGE - timedelta(days=2)
    tracker.submit("OLD-1", opened)
    assert tracker.state("OLD-1").standard_version == 1

    shorter = version(2, document(sla="5 days", verify_sla="30 days"), valid_from=CHANGE)
    assert standards.learn(shorter)
    assert not standards.learn(shorter)  # read again from the topic: nothing new
    tracker.submit("NEW-1", CHANGE + timedelta(hours=1))
    assert tracker.state("NEW-1").standard_version == 2

    tracker.check("OLD-1", opened + timedelta(days=6))
    assert tracker.overdue("OLD-1") == []  # 6 days: late by version 2, not by its version 1
    tracker.check("NEW-1", CHANGE + timedelta(hours=1, days=5, minutes=1))
    [new_late] = tracker.overdue("NEW-1")
    assert new_late.standard_version == 2
    assert new_late.evidence["sla"] == "5 days"

    tracker.check("OLD-1", opened + timedelta(days=10, minutes=1))
    [old_late] = tracker.overdue("OLD-1")
    assert old_late.standard_version == 1
    assert old_late.evidence["sla"] == "10 days"
    assert b'"standard_version":1' in old_late.to_json_bytes()


def _with_burst_limit(max_steps: int) -> dict[str, Any]:
    doc = document()
    doc["services"][0]["oversight"] = {
        "officer_burst": {"max_steps": max_steps, "window": "60 minutes"}
    }
    return doc


@pytest.mark.parametrize(("opened", "judged_by", "bursts"), [("before", 1, 1), ("after", 2, 0)])
def test_the_cross_case_rules_judge_a_step_by_the_version_its_case_follows(
    opened: str, judged_by: int, bursts: int
) -> None:
    """Version 1 lets an officer verify 2 cases an hour; version 2, in force from CHANGE, 100.
    One officer verifies three cases within an hour after the change: cases opened before it
    follow version 1 and set off `officer.burst`; cases opened after it follow version 2 and
    do not."""
    standards = Standards(
        book=book(
            version(1, _with_burst_limit(2)),
            version(2, _with_burst_limit(100), valid_from=CHANGE),
        )
    )
    tracker = Tracker(standards)
    start = CHANGE - timedelta(days=1) if opened == "before" else CHANGE + timedelta(hours=1)
    verified = CHANGE + timedelta(days=1)
    for number in range(3):
        case = f"{opened.upper()}-{number}"
        tracker.submit(case, start)
        tracker.submit(case, verified + timedelta(minutes=10 * number), "verified", 2)
        assert tracker.state(case).standard_version == judged_by
    raised = [a for a in tracker.cross_case_alerts() if a.rule == "officer.burst"]
    assert len(raised) == bursts
    assert all(alert.standard_version == judged_by for alert in raised)


def test_a_scheduled_version_takes_effect_at_its_valid_from() -> None:
    """Published ahead with a valid_from, version 2 judges only the cases submitted from that
    instant on: a case one second earlier still follows version 1."""
    standards = Standards(
        book=book(
            version(1, document()),
            version(2, document(sla="5 days"), valid_from=CHANGE),
        )
    )
    tracker = Tracker(standards)
    tracker.submit("BEFORE", CHANGE - timedelta(seconds=1))
    tracker.submit("AT", CHANGE)
    assert tracker.state("BEFORE").standard_version == 1
    assert tracker.state("AT").standard_version == 2
    tracker.check("BEFORE", CHANGE + timedelta(days=6))
    tracker.check("AT", CHANGE + timedelta(days=6))
    assert tracker.overdue("BEFORE") == []
    assert [a.standard_version for a in tracker.overdue("AT")] == [2]


def test_a_service_new_in_a_later_version_is_judged_by_the_version_that_brings_it() -> None:
    """A case of a service that the version in force at its submission does not have is
    judged by the first later version that has it (it passed the newest catalog's check)."""
    with_siup = document()
    siup = copy.deepcopy(with_siup["services"][0])
    siup["code"] = "siup"
    with_siup["services"].append(siup)
    standards = Standards(
        book=book(version(1, document()), version(2, with_siup, valid_from=CHANGE))
    )
    event = {
        "event_id": f"{AGENCY}:S-1:1",
        "agency": AGENCY,
        "service": "siup",
        "case_id": "S-1",
        "step": "submitted",
        "occurred_at": PUBLISHED.isoformat(),
        "mode": "live",
    }
    table = DecodedTable(DictTable(), decode_state, encode_state, 10)
    fold = CaseBatch(standards.catalog, standards, table)
    fold.event(event_key(AGENCY, "S-1"), orjson.dumps(event), 0, 0, PUBLISHED)
    outcome = fold.finish()
    assert not outcome.rejected
    assert outcome.writes[event_key(AGENCY, "S-1")].state.standard_version == 2  # type: ignore[union-attr]


def test_a_state_kept_from_before_versions_follows_the_version_in_force_when_it_opened() -> None:
    """A stored state without a version (kept by an earlier tracker) is judged by the version
    in force when it opened, and records it with its next event."""
    standards = Standards(
        book=book(version(1, document()), version(2, document(sla="5 days"), valid_from=CHANGE))
    )
    tracker = Tracker(standards)
    tracker.submit("LEGACY", CHANGE - timedelta(days=1))
    key = event_key(AGENCY, "LEGACY")
    stored = orjson.loads(tracker.stored.data[key])
    stored["state"].pop("standard_version")
    legacy = CaseState.from_document(stored["state"])
    assert legacy.standard_version is None
    standard = standards.for_state(legacy)
    assert standard is not None
    assert standard.version == 1
    assert str(standard.service.sla) == "10 days"
    tracker.table.save(key, 0, legacy)
    tracker.submit("LEGACY", CHANGE + timedelta(days=1), step="verified", n=2)
    assert tracker.state("LEGACY").standard_version == 1


def test_an_unpublished_catalog_judges_as_before_and_alerts_name_no_version() -> None:
    """Without a published version (a catalog file only) nothing changes: no version on the
    state, none on the alerts."""
    standards = Standards(version(1, document()).catalog, TrackerPolicy())
    tracker = Tracker(standards)
    tracker.submit("PLAIN", PUBLISHED)
    assert tracker.state("PLAIN").standard_version is None
    tracker.check("PLAIN", PUBLISHED + timedelta(days=11))
    [late] = tracker.overdue("PLAIN")
    assert late.standard_version is None
    assert b"standard_version" not in late.to_json_bytes()


def test_an_unpublished_catalog_judges_a_state_kept_under_a_version_by_itself() -> None:
    """A tracker run on a catalog file judges every case by that catalog, also a case whose
    state was kept under a published version (the tracker ran on the book before)."""
    published = Standards(book=book(version(1, document()), version(2, document(sla="5 days"))))
    tracker = Tracker(published)
    tracker.submit("KEPT", PUBLISHED)
    kept = tracker.state("KEPT")
    assert kept.standard_version == 2
    unpublished = Standards(version(1, document(sla="7 days")).catalog, TrackerPolicy())
    for state in (kept, CaseState.from_document(kept.to_document() | {"standard_version": None})):
        standard = unpublished.for_state(state)
        assert standard is not None
        assert standard.version is None
        assert str(standard.service.sla) == "7 days"
        assert standard is unpublished.for_case(state.agency, state.service)


def test_the_catalog_doc_lists_the_fields_of_a_version_record() -> None:
    """docs/catalog.md names every field a version record carries besides the catalog."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text()
    section = doc.split("## Versions: changing a standard", 1)[1]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    record = orjson.loads(version(1, document()).to_record())
    assert listed == set(record) - {"catalog"}


def test_a_process_on_the_newest_catalog_takes_each_newer_version_once() -> None:
    """The intake and the alerts service switch to a version when it is the newest they have
    read: a version read again, or an older one read after it, changes nothing."""
    taken: list[int] = []
    newest = NewestStandards(lambda v: taken.append(v.number), LOG)
    v1, v2 = version(1, document()), version(2, document(sla="5 days"), valid_from=CHANGE)
    newest.take(v2)
    newest.take(v1)
    newest.take(v2)
    assert taken == [2]
    assert [v.number for v in newest.book.versions] == [1, 2]
