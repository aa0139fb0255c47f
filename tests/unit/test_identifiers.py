"""The contract's identifiers are defined once: what the catalog names, an event can record."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from pantau.core import catalog, identifiers
from pantau.core.events import Event
from pantau.core.fast_events import checked_event

EVENT = {
    "event_id": "kota-malang.dpmptsp:PBG-1:4",
    "agency": "kota-malang.dpmptsp",
    "service": "pbg",
    "case_id": "PBG-1",
    "step": "approved",
    "occurred_at": "2026-11-24T10:00:00+07:00",
    "officer": {"id": "198702142010011003", "role": "kepala.bidang"},
}


def test_the_catalog_checks_its_codes_with_the_patterns_events_are_checked_with() -> None:
    pairs = [
        (catalog.AGENCY_CODE, identifiers.AGENCY_PATTERN),
        (catalog.SERVICE_CODE, identifiers.SERVICE_PATTERN),
        (catalog.STEP_CODE, identifiers.STEP_PATTERN),
        (catalog.ROLE_NAME, identifiers.ROLE_PATTERN),
        (catalog.CALENDAR_ID, identifiers.CALENDAR_PATTERN),
    ]
    for compiled, anchored in pairs:
        assert f"^{compiled.pattern}$" == anchored


def test_an_officer_with_a_dotted_role_the_catalog_accepts_can_be_recorded() -> None:
    """A catalog may name the role `kepala.bidang`; an event of an officer holding it is valid,
    for the model and for the sink's fast check alike (it was refused before)."""
    assert catalog.ROLE_NAME.fullmatch("kepala.bidang")
    event = Event.model_validate(EVENT)
    assert event.officer is not None
    assert event.officer.role == "kepala.bidang"
    checked = checked_event(json.dumps(EVENT).encode())
    assert checked is not None


@pytest.mark.parametrize("role", [".kepala", "Kepala", "kepala bidang", "k" * 65, ""])
def test_roles_the_catalog_refuses_are_refused_in_events_too(role: str) -> None:
    assert not catalog.ROLE_NAME.fullmatch(role)
    document = {**EVENT, "officer": {"id": "198702142010011003", "role": role}}
    with pytest.raises(ValidationError):
        Event.model_validate(document)
    assert checked_event(json.dumps(document).encode()) is None


def test_every_pattern_is_anchored() -> None:
    names = [name for name in dir(identifiers) if name.endswith("_PATTERN")]
    assert len(names) == 7
    for name in names:
        pattern = getattr(identifiers, name)
        assert pattern.startswith("^")
        assert pattern.endswith("$")
        re.compile(pattern)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("event_id",), "kota-malang.dpmptsp:PBG 1:4"),
        (("event_id",), "x" * 129),
        (("agency",), "Kota-Malang"),
        (("agency",), "km"),
        (("service",), "pbg!"),
        (("step",), "-approved"),
        (("officer", "id"), "1987 0214"),
        (("officer", "id"), ""),
        (("officer", "role"), "kepala bidang"),
    ],
)
def test_every_code_is_checked_by_the_fast_reading_even_after_valid_ones(
    path: tuple[str, ...], value: str
) -> None:
    """The fast reading checks the codes once per distinct set of them and remembers the valid
    ones: a wrong code is refused however many valid events came before it."""
    for _ in range(3):
        assert checked_event(json.dumps(EVENT).encode()) is not None
    document = json.loads(json.dumps(EVENT))
    *parents, last = path
    target = document
    for name in parents:
        target = target[name]
    target[last] = value
    with pytest.raises(ValidationError):
        Event.model_validate(document)
    assert checked_event(json.dumps(document).encode()) is None
