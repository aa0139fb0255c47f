"""The operators' dashboard names every rule in Bahasa Indonesia and English, never by raw id."""

from __future__ import annotations

from pathlib import Path

from pantau.core.alerts import RULES, Rule

APP = Path(__file__).resolve().parents[2] / "services/alerts/pantau_alerts/dashboard/app.js"


def test_every_rule_has_a_title_in_both_languages() -> None:
    """The dashboard's titles (the rule catalogue it loads from the alerts API, read off the rule
    table) have exactly the rule table's ids, each with two titles."""
    script = APP.read_text(encoding="utf-8")
    assert 'api("/v1/rules")' in script
    assert "const RULES" not in script  # no second copy of the titles in the page
    rows = [info.catalogue_entry() for info in RULES.values()]
    assert sorted(str(row["rule"]) for row in rows) == sorted(rule.value for rule in Rule)
    for row in rows:
        title = row["title"]
        assert isinstance(title, dict)
        assert title["id"] != title["en"]
        assert row["rule"] not in (title["id"], title["en"])
