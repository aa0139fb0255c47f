"""Fixtures of the fault suite: each test runs the real processes on a stack of its own.

`make faults` runs this tier; `make test` leaves it out (it kills and freezes processes and takes
minutes).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def servers(local_servers: None) -> None:
    """The shared local Kafka broker and ClickHouse server, started or reused."""
