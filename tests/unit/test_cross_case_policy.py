"""The catalog's optional per-service `oversight:` section: defaults, values and clear problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oversight_scenarios import AGENCY, catalog
from pantau.core.catalog import CatalogError, load_catalog
from pantau.core.durations import Duration, DurationUnit
from pantau.core.oversight_policy import OversightPolicy

REPO = Path(__file__).resolve().parents[2]
LABEL = f"scenario.yaml: services[pbg@{AGENCY}].oversight"


def problems(oversight: Any) -> list[str]:
    """The problems the loader reports for a pbg service with this `oversight` value."""
    with pytest.raises(CatalogError) as caught:
        catalog(oversight)
    return [str(problem) for problem in caught.value.problems]


def test_absent_section_gives_the_defaults() -> None:
    """A service without `oversight:` is watched with the documented defaults."""
    policy = catalog().services[(AGENCY, "pbg")].oversight
    assert policy == OversightPolicy()
    assert policy.queue_jump.min_positions == 3
    assert policy.queue_jump.min_wait == Duration(2, DurationUnit.WORKING_DAYS)
    assert policy.speed_too_fast.quantile == 0.05
    assert policy.officer_burst.window == Duration(30, DurationUnit.MINUTES)
    assert policy.applicant_broker.window == Duration(30, DurationUnit.DAYS)
    assert policy.clock_reset.max_stops == 2
    assert policy.off_hours.enabled


def test_every_key_is_read() -> None:
    """Each rule's keys override its defaults; keys left out keep theirs."""
    policy = (
        catalog(
            {
                "automatic": ["issued"],
                "queue_jump": {"enabled": False, "min_positions": 5, "min_wait": "1 working_days"},
                "speed_too_fast": {
                    "quantile": 0.1,
                    "min_samples": 20,
                    "factor": 0.25,
                    "window": 50,
                    "steps": ["verified"],
                    "whole_case": False,
                },
                "officer_burst": {"max_steps": 10, "window": "15 minutes", "steps": ["approved"]},
                "applicant_broker": {"max_applicants": 3, "window": "7 days"},
                "clock_reset": {"max_stops": 0, "late_fraction": 0.3, "reason_required": False},
                "off_hours": {"grace": "10 minutes"},
            }
        )
        .services[(AGENCY, "pbg")]
        .oversight
    )
    assert policy.automatic == {"issued"}
    assert not policy.queue_jump.enabled
    assert policy.queue_jump.min_positions == 5
    assert policy.queue_jump.min_wait == Duration(1, DurationUnit.WORKING_DAYS)
    assert policy.queue_jump.max_waiting == 500
    assert policy.speed_too_fast.quantile == 0.1
    assert policy.speed_too_fast.steps == frozenset({"verified"})
    assert not policy.speed_too_fast.whole_case
    assert policy.officer_burst.steps == frozenset({"approved"})
    assert policy.applicant_broker.window == Duration(7, DurationUnit.DAYS)
    assert policy.clock_reset.max_stops == 0
    assert not policy.clock_reset.reason_required
    assert policy.off_hours.grace == Duration(10, DurationUnit.MINUTES)
    assert policy.off_hours.enabled


def test_other_services_keep_the_defaults() -> None:
    """An oversight section applies to its own service only."""
    found = catalog({"off_hours": {"enabled": False}})
    assert not found.services[(AGENCY, "pbg")].oversight.off_hours.enabled
    assert found.services[(AGENCY, "legalisir")].oversight == OversightPolicy()


def test_unknown_keys_are_named_with_the_allowed_ones() -> None:
    """Misspelt rule names and settings are reported with what is allowed."""
    assert problems({"queue_jmp": {}, "officer_burst": {"max_step": 3}}) == [
        f"{LABEL}: unknown key 'queue_jmp' (expected: automatic, queue_jump, speed_too_fast, "
        "officer_burst, applicant_broker, clock_reset, off_hours)",
        f"{LABEL}.officer_burst: unknown key 'max_step' (expected: enabled, max_steps, window, "
        "steps)",
    ]


@pytest.mark.parametrize(
    ("oversight", "message"),
    [
        (3, "oversight must be a mapping of rule settings, not 3"),
        ({"off_hours": True}, "must be a mapping such as {enabled: true}, not True"),
        ({"off_hours": {"enabled": "yes"}}, "must be true or false, not 'yes'"),
        ({"queue_jump": {"min_positions": 0}}, "must be a whole number of at least 1, not 0"),
        ({"clock_reset": {"max_stops": -1}}, "must be a whole number of at least 0, not -1"),
        ({"speed_too_fast": {"quantile": 1.5}}, "must be a number between 0 and 1"),
        ({"speed_too_fast": {"factor": 0}}, "must be a number above 0 and at most 1"),
        ({"queue_jump": {"min_wait": "2 weeks"}}, "unknown unit 'weeks'"),
        (
            {"officer_burst": {"window": "1 working_days"}},
            "a sliding window is wall-clock time: use days, hours or minutes, not 1 working_days",
        ),
        ({"automatic": ["isued"]}, "unknown step 'isued' (steps: submitted, verified"),
        ({"officer_burst": {"steps": ["approved", "approved"]}}, "step 'approved' is listed twice"),
        (
            {"speed_too_fast": {"window": 10}},
            "window (10 durations kept) is smaller than min_samples, so the rule could never fire",
        ),
    ],
)
def test_bad_values_are_reported(oversight: Any, message: str) -> None:
    """Each bad setting is one problem naming the service's oversight entry and what is wrong."""
    found = problems(oversight)
    assert len(found) == 1
    assert found[0].startswith(LABEL)
    assert message in found[0]


def test_the_sample_catalog_still_loads() -> None:
    """The committed catalog loads with its oversight sections."""
    loaded = load_catalog(REPO / "catalog")
    sleman = loaded.services[("kab-sleman.dpmptsp", "pbg")].oversight
    assert sleman.applicant_broker.max_applicants == 15
    akta = loaded.services[("kota-malang.disdukcapil", "akta-kelahiran")].oversight
    assert akta.officer_burst.steps == frozenset({"verified"})
