"""The rulebook: every rule in one registry with a detector, a planter and a scenario test; the
rules document's table written from it; its messages in both languages; and a rule added as one
module taken in by the rulebook, the document, the simulator and the reference oracle."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import rulebook_shouted_reason as shouted
from pantau.core.alerts import Alert, Rule
from pantau.core.catalog import load_catalog
from pantau.core.rule_table import LANGUAGES, RULES, Kind, placeholders, render_message
from pantau.traffic.generator import ALL_RULES, Simulation
from pantau.traffic.planters import PLANTERS
from pantau.traffic.reference import Delivery, rules_raised
from pantau_status.domain.reports import ReportKind, report_alert
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.rulebook import (
    MODULES,
    RULEBOOK,
    STATEFUL_RULES,
    Rulebook,
    StatefulRule,
)
from pantau_tracker.domain.standards import Standards
from pantau_tracker.domain.tracking import check_deadlines, handle_event
from pantau_tracker.rulebook_doc import END, START, rulebook_markdown

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "catalog"
START_AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
# The tests that give each rule its scenarios drive a detector: the tracker's core, its harness,
# the cross-case scenarios or the simulator judged by the tracker.
_DRIVES = ("handle_event", "check_deadlines", "pantau_tracker.domain.rulebook", "tracker_harness")


def _rule_table_ids(text: str) -> set[str]:
    """The ids in the first column of every Markdown table whose first column is `rule`."""
    ids: set[str] = set()
    in_rule_table = False
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if not line.startswith("|"):
            in_rule_table = False
            continue
        following = lines[number + 1] if number + 1 < len(lines) else ""
        if following.startswith("|---"):  # a header row
            in_rule_table = line.split("|")[1].strip() == "rule"
            continue
        found = re.match(r"^\| `([a-z_]+\.[a-z_]+)` \|", line)
        if in_rule_table and found:
            ids.add(found.group(1))
    return ids


def test_every_rule_of_the_contract_and_its_extensions_is_in_the_rule_table_once() -> None:
    """The rule table has one row per rule id of the contract and its extensions, in order."""
    assert list(RULES) == [rule.value for rule in Rule]
    assert all(RULES[rule].rule is rule for rule in Rule)
    # The rule tables of the contract and its extensions name exactly these (the applicant's
    # report has a section of its own, not a table row).
    documented: set[str] = set()
    for name in ("contract.md", "contract-extensions.md"):
        documented |= _rule_table_ids((ROOT / "docs" / name).read_text(encoding="utf-8"))
    assert documented == set(RULES) - {Rule.CITIZEN_REPORT}
    assert "### `citizen.report`" in (ROOT / "docs" / "contract-extensions.md").read_text("utf-8")


def test_every_rule_of_the_tracker_has_exactly_one_detector() -> None:
    """Every rule but the applicants' report is raised by exactly one family of the rulebook."""
    tracked = {rule for rule, info in RULES.items() if info.kind is not Kind.REPORTED}
    assert set(RULEBOOK.by_rule) == tracked
    declared = [rule for family in RULEBOOK.families for rule in family.rules]
    assert sorted(declared) == sorted(tracked)  # none twice
    for family in RULEBOOK.families:
        detector = family.detector
        assert (
            callable(detector) or isinstance(detector, StatefulRule) or hasattr(detector, "fire")
        ), family.name
        assert family.module.startswith("pantau_tracker.domain.rulebook."), family.name


def test_the_applicants_report_is_made_by_the_status_page() -> None:
    """The one reported rule, `citizen.report`, is what the status page makes of a report."""
    [reported] = [rule for rule, info in RULES.items() if info.kind is Kind.REPORTED]
    alert = report_alert(
        agency="dpmptsp-kota-bandung",
        service="pbg",
        case_id="PBG-1",
        step=None,
        kind=ReportKind.STALLED,
        text="",
        now=START_AT,
        timezone="Asia/Jakarta",
    )
    assert alert.rule == reported == Rule.CITIZEN_REPORT


def test_every_rule_the_tracker_raises_has_a_planter() -> None:
    """The simulator plants every rule the tracker raises, read off the rule table."""
    tracked = [rule for rule, info in RULES.items() if info.kind is not Kind.REPORTED]
    assert list(ALL_RULES) == tracked
    assert set(PLANTERS) == set(tracked)


def test_every_rule_has_a_scenario_test() -> None:
    """Every rule the tracker raises is named by a test that drives a detector."""
    tests = [
        path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "tests").glob("**/test_*.py"))
        if path.name != Path(__file__).name
    ]
    scenario_tests = [text for text in tests if any(drive in text for drive in _DRIVES)]
    for rule in Rule:
        if RULES[rule].kind is Kind.REPORTED:
            continue
        named = (f'"{rule.value}"', f"Rule.{rule.name}")
        assert any(any(name in text for name in named) for text in scenario_tests), rule


def test_the_rules_document_has_the_rulebook_table() -> None:
    """docs/rules.md holds the table written from the rulebook, every rule in table order."""
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    table = text.split(START + "\n", 1)[1].split(END, 1)[0]
    assert table == rulebook_markdown(), "run: python -m pantau_tracker.rulebook_doc"
    listed = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", table, re.M)
    assert listed == list(RULES)


def test_a_rulebook_refuses_a_rule_declared_twice() -> None:
    """Two families raising one rule make no rulebook."""
    with pytest.raises(ValueError, match="raised by process and process_again"):
        Rulebook(
            (
                *RULEBOOK.families,
                RULEBOOK.families[0].__class__(
                    "process_again", RULEBOOK.families[0].stage, (Rule.PROCESS_UNKNOWN_CASE,), None
                ),
            )
        )


# --- messages in both languages ---------------------------------------------------------------


def _simulated_alerts() -> list[Alert]:
    """Every alert the tracker's core raises on simulated traffic with every rule planted."""
    catalog = load_catalog(CATALOG)
    standards = Standards(catalog)
    states: dict[tuple[str, str], CaseState] = {}
    records: dict[tuple[str, str], Any] = {}
    alerts: list[Alert] = []
    simulation = Simulation(catalog, seed=19, start=START_AT, cases=1500, anomaly_rate=0.6)
    for emission in simulation:
        event = emission.event
        key = (event.agency, event.case_id)
        standard = standards.for_case(event.agency, event.service)
        assert standard is not None
        outcome = handle_event(states.get(key), event, emission.sent_at, standard)
        alerts.extend(outcome.alerts)
        if outcome.state is not None:
            states[key] = outcome.state
        if outcome.observation is not None:
            step, now = outcome.observation.step, outcome.observation.received_at
            for rule in STATEFUL_RULES:
                state_key = rule.key(step.event)
                if state_key is None:
                    continue
                stored = records.get((rule.name, state_key)) or rule.read(None)
                records[(rule.name, state_key)], found = rule.fold(stored, step, now)
                alerts.extend(found)
    later = START_AT + timedelta(days=400)
    for state in states.values():
        standard = standards.for_case(state.agency, state.service)
        assert standard is not None
        alerts.extend(check_deadlines(state, later, standard).alerts)
    return alerts


def _values(alert: Alert) -> dict[str, Any]:
    fields = alert.model_dump(mode="json", exclude_none=True)
    event_ids = fields.pop("event_ids", [])
    return {**fields, "event_id": event_ids[-1] if event_ids else None, **alert.evidence}


def test_every_alert_has_its_message_in_both_languages() -> None:
    """Every alert of simulated traffic with every rule planted has a message in both languages."""
    alerts = _simulated_alerts()
    seen = {alert.rule.value for alert in alerts}
    assert seen == set(ALL_RULES)
    for alert in alerts:
        info = RULES[alert.rule]
        for language in LANGUAGES:
            message = render_message(info, language, _values(alert))
            assert message is not None, (alert.rule, language, alert.evidence)
            assert "{" not in message
            assert "None" not in message
        assert render_message(info, "id", _values(alert)) != render_message(
            info, "en", _values(alert)
        )


def test_templates_of_both_languages_name_the_same_values() -> None:
    """A rule's templates say the same facts in Bahasa Indonesia and English."""
    for info in RULES.values():
        assert info.messages, info.rule
        for texts in info.messages:
            assert placeholders(texts.id) == placeholders(texts.en), (info.rule, texts)


# --- a rule added as one module ---------------------------------------------------------------


def test_a_rule_written_as_one_module_is_taken_in_everywhere() -> None:
    """A rule written as one module is in the rulebook, the rules document's table, the
    simulator's planting list and the reference oracle's reading."""
    book = Rulebook.of((*MODULES, shouted))
    assert book.by_rule[shouted.RULE].module == "rulebook_shouted_reason"
    assert book.table[shouted.RULE] is shouted.INFO

    # the rules document's table
    row = rulebook_markdown(book).splitlines()[-1]
    assert row.startswith(f"| `{shouted.RULE}` | per-case | impropriety | low |")
    assert "Alasan ditulis kapital semua" in row
    assert "`rulebook_shouted_reason`" in row

    # the simulator's planting list, with ground truth from the reference oracle
    catalog = load_catalog(CATALOG)
    simulation = Simulation(
        catalog,
        seed=7,
        start=START_AT,
        cases=200,
        anomaly_rate=0.5,
        planters={**PLANTERS, shouted.RULE: shouted.PLANTER},
        rules=(*ALL_RULES, shouted.RULE),
    )
    assert shouted.RULE in simulation.plantable
    emissions = list(simulation)
    planted = [
        e.truth for e in emissions if e.truth is not None and e.truth.planted == shouted.RULE
    ]
    assert planted
    assert all(truth.rules == (shouted.RULE,) for truth in planted)
    case_ids = {truth.case_id for truth in planted}

    # the reference oracle reads it through the planter's reading, and only there
    by_case: dict[str, list[Delivery]] = {}
    for emission in sorted(emissions, key=lambda e: e.sent_at):
        by_case.setdefault(emission.event.case_id, []).append(
            Delivery(emission.sent_at, emission.event)
        )
    for case_id, deliveries in by_case.items():
        event = deliveries[0].event
        service = catalog.service(event.agency, event.service)
        agency = catalog.agency(event.agency)
        assert service is not None
        assert agency is not None
        calendar = simulation.calendars[agency.calendar]
        with_it = rules_raised(
            service, calendar, deliveries, readings={shouted.RULE: shouted.shouted}
        )
        assert (shouted.RULE in with_it) == (case_id in case_ids)
        assert shouted.RULE not in rules_raised(service, calendar, deliveries)

    # the detector the module declares judges the planted event as the reading does
    standards = Standards(catalog)
    for emission in emissions:
        event = emission.event
        if event.case_id in case_ids and event.reason == shouted.SHOUTED:
            standard = standards.for_case(event.agency, event.service)
            assert standard is not None
            assert book.by_rule[shouted.RULE].detector(None, event, emission.sent_at, standard)


def test_messages_write_money_and_durations_as_each_language_does() -> None:
    """Rupiah amounts and durations are written as each language writes them."""
    no_receipt = RULES[Rule.FEE_NO_RECEIPT]
    assert render_message(no_receipt, "id", {"amount": "1500000.50"}) == (
        "Pembayaran Rp1.500.000,50 tanpa nomor bukti pembayaran resmi"
    )
    assert render_message(no_receipt, "en", {"amount": "1500000.50"}) == (
        "Payment of IDR 1,500,000.50 without an official receipt number"
    )
    overdue = RULES[Rule.SLA_CASE_OVERDUE]
    assert render_message(overdue, "id", {"sla": "5 working_days"}) == (
        "Kasus tidak selesai dalam standar pelayanan 5 hari kerja"
    )
    assert render_message(overdue, "en", {}) is None  # no template without its values
