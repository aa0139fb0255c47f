"""The service catalog as loaded: agencies, services and their process steps, and what can be
wrong with a catalog (`CatalogProblem`, `CatalogError`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from pantau.core.durations import Duration, DurationUnit
from pantau.core.identifiers import (
    AGENCY_PATTERN,
    CALENDAR_PATTERN,
    ROLE_PATTERN,
    SERVICE_PATTERN,
    STEP_PATTERN,
    bare,
)
from pantau.core.oversight_policy import OversightPolicy
from pantau.core.working_time import CalendarSpec

ClockAction = Literal["stop", "resume"]
PAYMENT_CHANNELS = ("bank", "online", "cash")  # the values of an event's `payment.channel`

# The contract's identifiers (`pantau.core.identifiers`), which events are checked with too.
AGENCY_CODE = re.compile(bare(AGENCY_PATTERN))
SERVICE_CODE = re.compile(bare(SERVICE_PATTERN))
STEP_CODE = re.compile(bare(STEP_PATTERN))
ROLE_NAME = re.compile(bare(ROLE_PATTERN))
CALENDAR_ID = re.compile(bare(CALENDAR_PATTERN))

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Fee:
    """The official tariff of a service in IDR: free (0), a fixed amount (min == max) or a range."""

    min: Decimal
    max: Decimal

    @property
    def is_free(self) -> bool:
        """True when the service may not be charged for at all."""
        return self.max == 0

    @property
    def is_fixed(self) -> bool:
        """True when the tariff is one amount rather than a range."""
        return self.min == self.max

    def allows(self, amount: Decimal) -> bool:
        """True when `amount` is within the tariff; a free service allows only 0."""
        return self.min <= amount <= self.max


@dataclass(frozen=True)
class Step:
    """One step of a service's process, as the service standard defines it.

    A terminal step ends the case. It is a *successful* end unless it has `reason_required`:
    the catalog format has no outcome field, and an end that must give a reason (a rejection,
    a withdrawal) is the unsuccessful kind. `mandatory` steps are owed only before successful ends.

    `sla_from` is the step the limit names as its start (`sla: {within: .., from: ..}`), checked
    to be another, non-terminal step of the service; None for a limit counted from the step
    before (`sla: <duration>`).
    """

    code: str
    start: bool = False
    terminal: bool = False
    roles: frozenset[str] = frozenset()
    sla: Duration | None = None
    payment: bool = False
    reason_required: bool = False
    clock: ClockAction | None = None
    sla_from: str | None = None  # the step the sla counts from; None: the step before this one
    assessment: bool = False  # the agency assesses the case's fee here (e.g. the SKRD issued)

    @property
    def is_success(self) -> bool:
        """True for a terminal step that ends the case successfully (no reason required)."""
        return self.terminal and not self.reason_required

    @property
    def is_rejection(self) -> bool:
        """True for a terminal step that ends the case unsuccessfully (a reason is required)."""
        return self.terminal and self.reason_required


DEEMED_APPROVAL_WARNING = Duration(8, DurationUnit.WORKING_HOURS)


@dataclass(frozen=True)
class DeemedApproval:
    """A service whose application is deemed approved (fiktif positif) when the agency lets the
    service `sla` pass without a terminal step, and how long before that the tracker warns."""

    warn_before: Duration = DEEMED_APPROVAL_WARNING


@dataclass(frozen=True)
class Service:
    """A public service of one agency and its published standard.

    `next` is always complete: every step is a key, a terminal step maps to no successors.
    When the YAML omits `next`, it is derived from the order of `steps`: each non-terminal step
    may be followed only by the step listed right after it. That suits a straight-line process;
    branches, rejections and clock stops need an explicit `next`.
    `oversight` holds the thresholds of the cross-case rules (the defaults when the YAML has none).
    `payment_channels`, when set, are the only channels the service may be paid through.
    """

    agency: str
    code: str
    name: str
    sla: Duration | None
    fee: Fee
    steps: tuple[Step, ...]
    next: Mapping[str, frozenset[str]]
    mandatory: frozenset[str] = frozenset()
    separate: tuple[tuple[str, str], ...] = ()
    oversight: OversightPolicy = field(default_factory=OversightPolicy)
    deemed_approval: DeemedApproval | None = None
    payment_channels: frozenset[str] | None = None
    _by_code: Mapping[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {step.code: step for step in self.steps})

    def step(self, code: str) -> Step | None:
        """The step named `code`, or None when the service has no such step."""
        return self._by_code.get(code)

    @property
    def start_steps(self) -> frozenset[str]:
        """Codes of the steps a case may begin with."""
        return frozenset(step.code for step in self.steps if step.start)

    @property
    def assessment_steps(self) -> frozenset[str]:
        """Codes of the steps at which the agency assesses a case's fee."""
        return frozenset(step.code for step in self.steps if step.assessment)

    @property
    def describes_payment(self) -> bool:
        """True when the catalog says how the service's fee is assessed or paid (an assessing
        step or `payment_channels`): its payments are then held to that (the fee rules)."""
        return bool(self.assessment_steps) or self.payment_channels is not None

    @property
    def terminal_steps(self) -> frozenset[str]:
        """Codes of the steps that end a case, successfully or not."""
        return frozenset(step.code for step in self.steps if step.terminal)

    @property
    def successful_terminal_steps(self) -> frozenset[str]:
        """Codes of the terminal steps that end a case successfully (see `Step`)."""
        return frozenset(step.code for step in self.steps if step.is_success)

    def allowed_after(self, step_code: str) -> frozenset[str]:
        """Codes of the steps that may follow `step_code`; empty for terminal or unknown steps."""
        return self.next.get(step_code, frozenset())


@dataclass(frozen=True)
class Agency:
    """A government agency (instansi) that delivers services, and the calendar it works by."""

    code: str
    name: str
    calendar: str


@dataclass(frozen=True)
class Catalog:
    """Every calendar, agency and service Pantau knows; services are keyed by (agency, code)."""

    calendars: Mapping[str, CalendarSpec]
    agencies: Mapping[str, Agency]
    services: Mapping[tuple[str, str], Service]

    def agency(self, code: str) -> Agency | None:
        """The agency with `code`, or None."""
        return self.agencies.get(code)

    def service(self, agency: str, code: str) -> Service | None:
        """The service `code` of `agency`, or None."""
        return self.services.get((agency, code))

    def services_of(self, agency: str) -> list[Service]:
        """The services of `agency` in catalog order; empty for an unknown agency."""
        return [service for service in self.services.values() if service.agency == agency]

    def calendar_of(self, agency: str) -> CalendarSpec | None:
        """The working calendar of `agency`, or None for an unknown agency."""
        found = self.agencies.get(agency)
        return None if found is None else self.calendars.get(found.calendar)


@dataclass(frozen=True)
class CatalogProblem:
    """One thing wrong with a catalog: where (file, entry) and what."""

    file: str
    entry: str
    message: str

    def __str__(self) -> str:
        if self.entry:
            return f"{self.file}: {self.entry}: {self.message}"
        return f"{self.file}: {self.message}"


class CatalogError(Exception):
    """The catalog cannot be used; `problems` lists everything found wrong with it."""

    def __init__(self, problems: Sequence[CatalogProblem]) -> None:
        self.problems: list[CatalogProblem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))
