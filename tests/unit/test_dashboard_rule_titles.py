"""The operators' dashboard names every rule in Bahasa Indonesia and English, never by raw id."""

from __future__ import annotations

import re
from pathlib import Path

from pantau.core.alerts import Rule

APP = Path(__file__).resolve().parents[2] / "services/alerts/pantau_alerts/dashboard/app.js"


def test_every_rule_has_a_title_in_both_languages() -> None:
    """The dashboard's title table has exactly the rule table's ids, each with two titles."""
    table = re.search(r"const RULES = \{(.*?)\n\};", APP.read_text(encoding="utf-8"), re.S)
    assert table is not None
    rows = re.findall(r'^\s*"([a-z_.]+)": \["([^"]+)", "([^"]+)"\],$', table.group(1), re.M)
    assert sorted(rule for rule, _, _ in rows) == sorted(rule.value for rule in Rule)
    assert all(indonesian != english for _, indonesian, english in rows)
