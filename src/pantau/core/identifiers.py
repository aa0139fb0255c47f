"""The identifiers of the contract, defined once: what a code, a role or an id may look like.

The catalog checks its codes with these, and the event model, the fast event check and the JSON
schemas check events with the same patterns, so anything the catalog names (an agency, a
service, a step, a role) can be recorded in an event, and the other way round. Each pattern is
anchored (`^...$`) as JSON Schema writes it.
"""

from __future__ import annotations

EVENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
AGENCY_PATTERN = r"^[a-z0-9][a-z0-9.-]{2,63}$"
SERVICE_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,63}$"
STEP_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ROLE_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"  # roles may be dotted: kepala.bidang
CALENDAR_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
OFFICER_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,64}$"


def bare(pattern: str) -> str:
    """A pattern without its anchors, for messages that show what was expected."""
    return pattern.removeprefix("^").removesuffix("$")
