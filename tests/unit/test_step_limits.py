"""When a step's time limit runs: from the step before it, or from a step it names; a step the
case has done is not awaited again (but after a clock resume), also when reported late."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import samples
from pantau.core.alerts import Alert
from pantau.core.catalog import CatalogError, parse_catalog
from pantau.core.events import Event
from pantau_tracker.domain.case import CaseState
from pantau_tracker.domain.standards import CaseStandard, Standards
from pantau_tracker.domain.tracking import check_deadlines, handle_event

AGENCY = "comune.polizia"
T0 = datetime(2007, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def catalog(send_fine_sla: Any) -> dict[str, Any]:
    """Road-traffic fines: a fine must be sent within 90 days; one may be paid before that."""
    return {
        "calendars": {"always": {"timezone": "UTC", "weekdays": "all", "hours": "00:00-24:00"}},
        "agencies": [{"code": AGENCY, "name": "Polizia Locale", "calendar": "always"}],
        "services": [
            {
                "code": "fine",
                "agency": AGENCY,
                "name": "Road traffic fine",
                "fee": {"min": 0, "max": 10000},
                "steps": [
                    {"code": "create_fine", "start": True},
                    {"code": "send_fine", "sla": send_fine_sla},
                    {"code": "insert_notification"},
                    {"code": "payment", "payment": True},
                    {"code": "closed", "terminal": True},
                ],
                "next": {
                    "create_fine": ["send_fine", "payment"],
                    "send_fine": ["insert_notification", "payment"],
                    "insert_notification": ["payment", "closed"],
                    "payment": ["payment", "send_fine", "closed"],
                },
            }
        ],
    }


def standard(send_fine_sla: Any) -> CaseStandard:
    found = Standards(parse_catalog(catalog(send_fine_sla), "test")).for_case(AGENCY, "fine")
    assert found is not None
    return found


FROM_CREATION = standard({"within": "90 days", "from": "create_fine"})
FROM_BEFORE = standard("90 days")


def event(step: str, at: datetime, n: int) -> Event:
    """Event `n` of fine A1 at the police, backfilled without a `seq`; a payment pays 35.00."""
    paid = {"payment": {"amount": "35.00", "currency": "IDR"}} if step == "payment" else {}
    return samples.numbered_event(
        "A1", "fine", step, at, n, agency=AGENCY, seq=None, mode="backfill", **paid
    )


def run(events: Iterable[Event], rules: CaseStandard) -> tuple[CaseState, list[Alert]]:
    return samples.fold_case(events, rules, received=timedelta(minutes=1))


def overdue(alerts: Iterable[Alert]) -> list[tuple[str | None, object, datetime]]:
    return [
        (a.step, a.evidence["after_step"], a.detected_at)
        for a in alerts
        if a.rule.value == "sla.step_overdue"
    ]


def later(state: CaseState, rules: CaseStandard) -> list[Alert]:
    """What a timer finds a year on."""
    return check_deadlines(state, T0 + 365 * DAY, rules).alerts


def test_a_limit_from_a_named_step_runs_across_other_steps() -> None:
    """Paid on day 10, sent on day 100: late by the 90 days from creation, not from payment."""
    _, alerts = run(
        [event("create_fine", T0, 1), event("payment", T0 + 10 * DAY, 2),
         event("send_fine", T0 + 100 * DAY, 3)],
        FROM_CREATION,
    )  # fmt: skip
    assert overdue(alerts) == [("send_fine", "create_fine", T0 + 90 * DAY)]


@pytest.mark.parametrize(
    ("steps", "catalog"),
    [
        pytest.param(
            [("create_fine", 0), ("send_fine", 30), ("payment", 60), ("payment", 200)],
            FROM_CREATION,
            id="test_a_limit_from_a_named_step_is_met_once_the_step_is_done",
        ),
        pytest.param(
            [("create_fine", 0), ("send_fine", 5), ("payment", 10)],
            FROM_BEFORE,
            id="test_a_step_done_is_not_awaited_again_after_an_ordinary_step",
        ),
    ],
)
def test_a_step_done_in_time_is_awaited_no_more(
    steps: list[tuple[str, int]], catalog: CaseStandard
) -> None:
    """Sent on day 30, paid twice after: no payment starts a new wait for the fine (a limit
    from a named step). The default reading: payment may lead to send_fine, but a fine already
    sent is not awaited again, and nothing is raised however long the case stays open."""
    state, alerts = run(
        [event(step, T0 + day * DAY, n) for n, (step, day) in enumerate(steps, start=1)], catalog
    )
    assert alerts == []
    assert state.awaiting == ()
    assert later(state, catalog) == []


def test_the_timer_raises_a_named_step_limit_once() -> None:
    """Nothing sent: the timer raises it at day 90 from creation, once; a payment after that
    starts no new wait, and a later timer only repeats the same alert."""
    state, _ = run([event("create_fine", T0, 1)], FROM_CREATION)
    fired = check_deadlines(state, T0 + 91 * DAY, FROM_CREATION)
    assert overdue(fired.alerts) == [("send_fine", "create_fine", T0 + 90 * DAY)]
    assert fired.state is not None
    paid = handle_event(
        fired.state, event("payment", T0 + 95 * DAY, 2), T0 + 95 * DAY, FROM_CREATION
    )
    assert paid.alerts == []
    assert paid.state is not None
    assert [(w.step, w.anchor_step, w.fired) for w in paid.state.awaiting] == [
        ("send_fine", "create_fine", True)
    ]
    again = check_deadlines(paid.state, T0 + 400 * DAY, FROM_CREATION)
    assert again.changed is False
    assert [a.alert_id for a in again.alerts] == [a.alert_id for a in fired.alerts]


def test_a_step_reported_late_ends_its_wait() -> None:
    """Paid on day 10; the sending, done on day 5, reported after that (out of order): the wait
    the payment started for it ends, and no timer raises it."""
    state, _ = run([event("create_fine", T0, 1), event("payment", T0 + 10 * DAY, 2)], FROM_BEFORE)
    assert [w.step for w in state.awaiting] == ["send_fine"]
    outcome = handle_event(state, event("send_fine", T0 + 5 * DAY, 3), T0 + 11 * DAY, FROM_BEFORE)
    assert outcome.state is not None
    assert outcome.state.awaiting == ()
    assert overdue(later(outcome.state, FROM_BEFORE)) == []


@pytest.mark.parametrize(
    ("sla", "message"),
    [
        ({"within": "90 days", "from": "notice"}, "unknown step 'notice'"),
        ({"within": "90 days", "from": "send_fine"}, "cannot be counted from the step itself"),
        ({"within": "90 days", "from": "closed"}, "terminal step 'closed' ends the case"),
        ({"from": "create_fine"}, "missing required key 'within'"),
        ({"within": "90 days", "since": "create_fine"}, "unknown key 'since'"),
    ],
)
def test_a_broken_named_step_limit_is_refused(sla: dict[str, str], message: str) -> None:
    """The catalog says what is wrong with a limit it could not apply."""
    with pytest.raises(CatalogError, match=message):
        parse_catalog(catalog(sla), "test")
