"""applicant.broker: given filings naming a representative, a calo filing for many applicants is
alerted once, and an ordinary representative never."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from oversight_scenarios import AGENCY, NOW, Cases, observe_keyed, wib
from pantau.core.alerts import Alert, Category, Rule, alert_id
from pantau_tracker.domain.rulebook.applicants import (
    RepresentativeActivity,
    observe_representative,
    representative_key,
)
from pantau_tracker.domain.rulebook.case_step import CaseStep

BROKER = "k1:ab12cd34"


def run(
    steps: list[CaseStep], states: dict[str, RepresentativeActivity] | None = None
) -> tuple[dict[str, RepresentativeActivity], list[Alert]]:
    """Feed the steps in order to the state of their representative key, as the tracker would,
    collecting every alert."""
    return observe_keyed(
        observe_representative, representative_key, RepresentativeActivity, steps, states
    )


def filings(
    cases: Cases,
    applicants: list[str],
    start: datetime,
    every: timedelta = timedelta(days=1),
    representative: str = BROKER,
    prefix: str = "F",
) -> list[CaseStep]:
    """One submission per applicant, `every` apart, each filed by `representative`."""
    return [
        cases.step(
            f"{prefix}{n}",
            "submitted",
            start + n * every,
            applicant=applicant,
            attributes={"representative_ref": representative},
        )
        for n, applicant in enumerate(applicants)
    ]


def people(count: int) -> list[str]:
    """`count` distinct pseudonymous applicant refs."""
    return [f"k1:applicant{n:03d}" for n in range(count)]


def test_filing_for_six_applicants_in_a_month_is_a_broker() -> None:
    """The sixth distinct applicant in 30 days raises one alert; the seventh, same episode, none."""
    cases = Cases()
    _states, alerts = run(filings(cases, people(7), wib(2)))
    assert [(alert.rule, alert.case_id) for alert in alerts] == [(Rule.APPLICANT_BROKER, "F5")]
    alert = alerts[0]
    assert alert.category is Category.IMPROPER_REQUEST
    assert alert.evidence["applicants"] == 6
    assert alert.evidence["representative_ref"] == BROKER
    assert alert.evidence["case_ids"] == [f"F{n}" for n in range(6)]
    event_id = f"{AGENCY}:F5:1"
    assert alert.alert_id == alert_id(Rule.APPLICANT_BROKER, AGENCY, "F5", event_id)


def test_five_applicants_is_within_the_limit() -> None:
    """A representative filing for five applicants (max_applicants) raises nothing."""
    assert run(filings(Cases(), people(5), wib(2)))[1] == []


def test_applicants_spread_beyond_the_window_raise_nothing() -> None:
    """Ten applicants a week apart never make more than five within 30 days."""
    cases = Cases()
    assert run(filings(cases, people(10), wib(2, month=6), timedelta(days=7)))[1] == []


def test_one_applicant_filing_often_is_one_applicant() -> None:
    """A family member filing ten times for the same applicant is not a broker."""
    cases = Cases()
    assert run(filings(cases, ["k1:same"] * 10, wib(2)))[1] == []


def test_a_representative_filing_for_themselves_is_not_counted() -> None:
    """A person filing their own case and five others' has filed for five other applicants."""
    cases = Cases()
    assert run(filings(cases, [BROKER, *people(5)], wib(2)))[1] == []


def test_a_raw_nik_as_representative_is_ignored_and_never_stored() -> None:
    """A representative_ref that looks like a raw NIK is not used as a key nor kept in state."""
    cases = Cases()
    steps = filings(cases, people(8), wib(2), representative="3507012345678901")
    assert all(representative_key(step.event) is None for step in steps)
    state = RepresentativeActivity()
    for step in steps:
        assert observe_representative(state, step, NOW) == (RepresentativeActivity(), [])


def test_catalog_thresholds_are_used() -> None:
    """With max_applicants 2 within 7 days, three applicants in three days are a broker."""
    cases = Cases({"applicant_broker": {"max_applicants": 2, "window": "7 days"}})
    assert [alert.case_id for alert in run(filings(cases, people(3), wib(2)))[1]] == ["F2"]


def test_a_new_episode_is_alerted_again() -> None:
    """After a quiet month, a new run of filings is a new alert."""
    cases = Cases()
    steps = filings(cases, people(6), wib(2, month=6))
    steps += filings(cases, people(12)[6:], wib(2, month=9), prefix="G")
    assert [alert.case_id for alert in run(steps)[1]] == ["F5", "G5"]


def test_disabled_rule_raises_nothing() -> None:
    """`enabled: false` turns the rule off for the service."""
    cases = Cases({"applicant_broker": {"enabled": False}})
    assert run(filings(cases, people(8), wib(2)))[1] == []


def test_state_is_bounded() -> None:
    """Per service only the latest max_applicants + 1 distinct applicants are kept."""
    cases = Cases()
    states, _ = run(filings(cases, people(40), wib(2), timedelta(hours=1)))
    assert len(states[f"{AGENCY}|pbg|{BROKER}"].filings["pbg"]) == 6


def test_state_round_trips_through_json_and_replays_identically() -> None:
    """The state survives JSON, and a restart from it alerts as an uninterrupted run does."""
    cases = Cases()
    steps = filings(cases, people(7), wib(2))
    states, early = run(steps[:3])
    stored: dict[str, Any] = json.loads(
        json.dumps({key: state.to_dict() for key, state in states.items()})
    )
    restored = {key: RepresentativeActivity.from_dict(data) for key, data in stored.items()}
    assert restored == states
    assert early + run(steps[3:], restored)[1] == run(steps)[1] != []


def test_a_large_limit_still_gives_a_valid_alert() -> None:
    """A limit too large to list in an alert names the latest filings and counts them all."""
    cases = Cases({"applicant_broker": {"max_applicants": 300}})
    alerts = run(filings(cases, people(301), wib(2), timedelta(minutes=1)))[1]
    assert len(alerts) == 1
    assert alerts[0].evidence["applicants"] == 301
    shown = alerts[0].evidence["case_ids"]
    assert isinstance(shown, list)
    assert len(shown) == 99
    assert shown[-1] == "F300"
