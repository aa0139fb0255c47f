"""`pantau catalog` warns about a service that has no overall time limit, and about a payment
that the process lets come before the fee is assessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantau.catalog_check import main

# One agency whose clock never stops; each catalog below adds its services.
DEMO_AGENCY = """
calendars:
  always: {timezone: UTC, weekdays: all, hours: "00:00-24:00"}
agencies:
  - {code: demo.agency, name: Demo, calendar: always}
services:
"""

CATALOG = (
    DEMO_AGENCY
    + """\
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
)


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


PAYING = (
    DEMO_AGENCY
    + """\
  - code: assessed
    agency: demo.agency
    name: Assessed
    fee: {min: 1000, max: 90000}
    sla: 10 days
    steps:
      - {code: opened, start: true}
      - {code: assessed, assessment: true}
      - {code: paid, payment: true}
      - {code: closed, terminal: true}
    next:
      opened: [assessed, PAY_EARLY]
      assessed: [paid]
      paid: [closed]
"""
)


@pytest.mark.parametrize(
    ("early", "warned"), [("closed", False), ("paid", True)], ids=["always-assessed", "pay-early"]
)
def test_a_payment_reachable_before_any_assessment_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], early: str, warned: bool
) -> None:
    """A flow that lets a case pay without passing its assessing step would make every such
    payment fee.paid_before_assessment; one that always assesses first draws no warning."""
    path = tmp_path / "catalog.yaml"
    path.write_text(PAYING.replace("PAY_EARLY", early), encoding="utf-8")
    assert main([str(path)]) == 0
    err = capsys.readouterr().err
    warning = (
        "services[assessed@demo.agency]: payment step paid can be reached without an assessing "
        "step; such payments are fee.paid_before_assessment"
    )
    assert (warning in err) is warned
