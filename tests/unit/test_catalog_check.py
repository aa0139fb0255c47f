"""`pantau catalog` warns about a service that has no overall time limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantau.catalog_check import main

CATALOG = """
calendars:
  always: {timezone: UTC, weekdays: all, hours: "00:00-24:00"}
agencies:
  - {code: demo.agency, name: Demo, calendar: always}
services:
  - code: limited
    agency: demo.agency
    name: Limited
    fee: 0
    sla: 10 days
    steps:
      - {code: opened, start: true}
      - {code: closed, terminal: true}
  - code: unlimited
    agency: demo.agency
    name: Unlimited
    fee: 0
    steps:
      - {code: opened, start: true}
      - {code: closed, terminal: true}
"""


def test_a_service_without_overall_sla_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    assert main([str(path)]) == 0
    err = capsys.readouterr().err
    assert "services[unlimited@demo.agency]: no overall sla" in err
    assert "limited@" not in err.replace("unlimited@", "")


def test_a_limit_from_a_named_step_is_valid_and_not_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A limit that names its start is counted from it by the tracker: nothing to warn of."""
    path = tmp_path / "catalog.yaml"
    path.write_text(
        CATALOG.replace(
            "      - {code: opened, start: true}\n      - {code: closed, terminal: true}\n"
            "  - code: unlimited",
            "      - {code: opened, start: true}\n"
            "      - {code: sent}\n"
            "      - {code: closed, terminal: true, sla: {within: 90 days, from: opened}}\n"
            "  - code: unlimited",
        ),
        encoding="utf-8",
    )
    assert main([str(path)]) == 0
    err = capsys.readouterr().err
    assert "limited@demo.agency].steps" not in err
    assert "services[unlimited@demo.agency]: no overall sla" in err
