"""Every example in docs/contract.md is executed: the catalog loads, the events and alerts fit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from pantau.core.alerts import (
    CROSS_CASE_RULES,
    DEEMED_APPROVAL_RULES,
    FEE_RULES,
    RULES,
    Alert,
    Rule,
)
from pantau.core.catalog import parse_catalog
from pantau.core.events import Event

DOC = Path(__file__).resolve().parents[2] / "docs" / "contract.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_catalog_example_loads() -> None:
    (block,) = _blocks("yaml")
    catalog = parse_catalog(yaml.safe_load(block), str(DOC))
    assert catalog is not None


def test_the_event_and_alert_examples_fit_the_models() -> None:
    event_block, alert_block = _blocks("json")
    Event.model_validate(json.loads(event_block))
    Alert.model_validate(json.loads(alert_block))


def test_the_rule_table_names_the_rules_the_code_raises() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|.*\| ([a-z_]+) \|$", text, re.M))
    # The cross-case rules, citizen reports, deemed approvals and the fee rules are extensions
    # (docs/contract-extensions.md).
    extensions = {*CROSS_CASE_RULES, Rule.CITIZEN_REPORT, *DEEMED_APPROVAL_RULES, *FEE_RULES}
    assert sorted(table) == sorted(str(rule) for rule in Rule if rule not in extensions)
    assert table == {rule: str(RULES[rule].category) for rule in table}
