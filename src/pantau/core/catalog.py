"""The service catalog: agencies, their working calendars and service standards, loaded from YAML.

Loading validates the whole catalog and reports every problem at once, each naming the file,
the entry and what is wrong, so a catalog author can fix a catalog in one pass.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import yaml

from pantau.core.durations import Duration, DurationUnit, parse_duration
from pantau.core.identifiers import (
    AGENCY_PATTERN,
    CALENDAR_PATTERN,
    ROLE_PATTERN,
    SERVICE_PATTERN,
    STEP_PATTERN,
    bare,
)
from pantau.core.oversight_policy import OversightPolicy, read_oversight
from pantau.core.working_time import MINUTES_PER_DAY, CalendarSpec

ClockAction = Literal["stop", "resume"]
PAYMENT_CHANNELS = ("bank", "online", "cash")  # the values of an event's `payment.channel`

# The contract's identifiers (`pantau.core.identifiers`), which events are checked with too.
AGENCY_CODE = re.compile(bare(AGENCY_PATTERN))
SERVICE_CODE = re.compile(bare(SERVICE_PATTERN))
STEP_CODE = re.compile(bare(STEP_PATTERN))
ROLE_NAME = re.compile(bare(ROLE_PATTERN))
CALENDAR_ID = re.compile(bare(CALENDAR_PATTERN))

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# --- the loaded catalog ---------------------------------------------------------------------


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


# --- problems ---------------------------------------------------------------------------------


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


# --- loading ----------------------------------------------------------------------------------


def load_catalog(path: str | Path) -> Catalog:
    """Load and validate the catalog at `path`: one YAML file, or a folder of *.yaml/*.yml files.

    The files of a folder (not its subfolders) are merged in name order; a calendar, agency or
    service defined twice, in one file or across files, is a problem. Raises CatalogError listing
    every problem found.
    """
    return load_catalog_documents(path)[0]


def load_catalog_documents(path: str | Path) -> tuple[Catalog, list[Mapping[str, Any]]]:
    """`load_catalog`, also giving the parsed YAML document of each file, in load order (what
    `pantau catalog publish` merges into one canonical document)."""
    root = Path(path)
    reader = _CatalogReader()
    if root.is_dir():
        files = sorted(
            p
            for p in root.iterdir()
            if p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
        )
        if not files:
            raise CatalogError([CatalogProblem(str(root), "", "no *.yaml or *.yml files here")])
    elif root.is_file():
        files = [root]
    else:
        raise CatalogError([CatalogProblem(str(root), "", "no such file or folder")])
    documents: list[Mapping[str, Any]] = []
    for file in files:
        data = reader.read_yaml(file)
        if data is not None:
            reader.read_document(data, str(file))
            if isinstance(data, Mapping):
                documents.append(data)
    return reader.build(str(root)), documents


def parse_catalog(data: Mapping[str, Any], source: str) -> Catalog:
    """Validate a catalog already parsed from YAML; `source` names it in problems."""
    reader = _CatalogReader()
    reader.read_document(data, source)
    return reader.build(source)


# --- the JSON view served to agencies -------------------------------------------------------


def catalog_summary(catalog: Catalog, agency: str) -> dict[str, Any]:
    """The agency's own part of the catalog as JSON-able data: the agency, its calendar, its
    services and their steps (the body of `GET /v1/catalog`). Raises KeyError for an unknown agency.
    """
    found = catalog.agencies.get(agency)
    if found is None:
        raise KeyError(f"agency {agency!r} is not in the catalog")
    calendar = catalog.calendars[found.calendar]
    return {
        "agency": {"code": found.code, "name": found.name},
        "calendar": {
            "id": calendar.id,
            "timezone": calendar.timezone,
            "hours": {
                WEEKDAY_NAMES[day]: [f"{_clock(a)}-{_clock(b)}" for a, b in intervals]
                for day, intervals in sorted(calendar.weekly_hours.items())
            },
            "holidays": calendar.holiday_country,
            "days_off": [day.isoformat() for day in sorted(calendar.days_off)],
        },
        "services": [_service_summary(service) for service in catalog.services_of(agency)],
    }


def _service_summary(service: Service) -> dict[str, Any]:
    order = {step.code: index for index, step in enumerate(service.steps)}
    return {
        "code": service.code,
        "name": service.name,
        "sla": None if service.sla is None else str(service.sla),
        "fee": {"min": str(service.fee.min), "max": str(service.fee.max)},
        "payment_channels": None
        if service.payment_channels is None
        else [c for c in PAYMENT_CHANNELS if c in service.payment_channels],
        "steps": [
            {
                "code": step.code,
                "start": step.start,
                "terminal": step.terminal,
                "roles": sorted(step.roles),
                "sla": None if step.sla is None else str(step.sla),
                "sla_from": step.sla_from,
                "payment": step.payment,
                "reason_required": step.reason_required,
                "clock": step.clock,
                "assessment": step.assessment,
            }
            for step in service.steps
        ],
        "next": {
            step.code: sorted(service.allowed_after(step.code), key=order.__getitem__)
            for step in service.steps
        },
        "mandatory": sorted(service.mandatory, key=order.__getitem__),
        "separate": [list(pair) for pair in service.separate],
        "deemed_approval": None
        if service.deemed_approval is None
        else {"warn_before": str(service.deemed_approval.warn_before)},
    }


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- YAML -------------------------------------------------------------------------------------


class _CatalogLoader(yaml.SafeLoader):
    """PyYAML's safe loader without two traps: a repeated key is an error instead of silently
    winning, and dates stay text so that a bad one (2026-02-30) is a catalog problem, not a crash.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_seen: dict[object, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                line = first_seen.get(key)
            except TypeError:  # unhashable: the base class reports it
                continue
            if line is not None:
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key!r} (first at line {line})",
                    problem_mark=key_node.start_mark,
                )
            first_seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _scalar_text(loader: _CatalogLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


_CatalogLoader.add_constructor("tag:yaml.org,2002:timestamp", _scalar_text)


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        what = error.problem or error.context or "unreadable YAML"
        if error.context and error.problem:
            what = f"{error.problem} ({error.context})"
        if mark is not None:
            return f"YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: {what}"
        return f"YAML syntax error: {what}"
    return f"YAML syntax error: {error}"


# --- validation -------------------------------------------------------------------------------


def _listing(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


@dataclass
class _ServiceEntry:
    file: str
    label: str
    agency: str | None
    code: str | None
    service: Service | None


class _CatalogReader:
    """Reads catalog documents one by one, collecting problems, then cross-checks and builds."""

    def __init__(self) -> None:
        self.problems: list[CatalogProblem] = []
        self.unreadable = False
        self.calendars: dict[str, tuple[str, CalendarSpec | None]] = {}
        self.agencies: dict[str, tuple[str, str, Agency | None]] = {}
        self.services: list[_ServiceEntry] = []
        self.file = ""  # the file being read, named in the problems reported meanwhile

    def report(self, entry: str, message: str) -> None:
        self.problems.append(CatalogProblem(self.file, entry, message))

    def report_at(self, file: str, entry: str, message: str) -> None:
        self.problems.append(CatalogProblem(file, entry, message))

    def read_yaml(self, path: Path) -> object | None:
        """The parsed content of one file ({} when empty), or None after reporting a problem."""
        self.file = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            self.report("", f"cannot read the file: {error}")
            self.unreadable = True
            return None
        loader = _CatalogLoader(text)
        try:
            data: object = loader.get_single_data()
        except yaml.YAMLError as error:
            self.report("", _yaml_problem(error))
            self.unreadable = True
            return None
        finally:
            loader.dispose()
        return {} if data is None else data

    def read_document(self, data: object, file: str) -> None:
        self.file = file
        if not isinstance(data, Mapping):
            self.report("", "the catalog must be a mapping with calendars, agencies and services")
            self.unreadable = True
            return
        sections = ("calendars", "agencies", "services")
        for key in data:
            if key not in sections:
                self.report("", f"unknown top-level key {key!r} (expected: {_listing(sections)})")
        calendars = data.get("calendars", {})
        if isinstance(calendars, Mapping):
            for cal_id, body in calendars.items():
                self.read_calendar(cal_id, body)
        else:
            self.report("calendars", "must be a mapping of calendar id to calendar")
        agencies = data.get("agencies", [])
        if isinstance(agencies, list):
            for index, item in enumerate(agencies, start=1):
                self.read_agency(index, item)
        else:
            self.report("agencies", "must be a list of agencies")
        services = data.get("services", [])
        if isinstance(services, list):
            for index, item in enumerate(services, start=1):
                self.services.append(self.read_service(index, item))
        else:
            self.report("services", "must be a list of services")

    def build(self, source: str) -> Catalog:
        """Cross-check what was read (references, duplicates) and build the catalog."""
        # A file that could not be parsed may define what others refer to; reporting those
        # references as unknown would bury the real problem under noise.
        check_references = not self.unreadable
        for file, label, agency in self.agencies.values():
            if agency is not None and agency.calendar not in self.calendars and check_references:
                self.report_at(
                    file,
                    f"{label}.calendar",
                    f"unknown calendar {agency.calendar!r} "
                    f"(calendars: {_listing(sorted(self.calendars))})",
                )
        services: dict[tuple[str, str], Service] = {}
        first_file: dict[tuple[str, str], str] = {}
        for entry in self.services:
            if entry.agency is not None and entry.agency not in self.agencies and check_references:
                self.report_at(
                    entry.file,
                    f"{entry.label}.agency",
                    f"unknown agency {entry.agency!r} "
                    f"(agencies: {_listing(sorted(self.agencies))})",
                )
            if entry.agency is None or entry.code is None:
                continue
            key = (entry.agency, entry.code)
            if key in first_file:
                self.report_at(
                    entry.file,
                    entry.label,
                    f"duplicate service code {entry.code!r} in agency "
                    f"{entry.agency!r} (first defined in {first_file[key]})",
                )
                continue
            first_file[key] = entry.file
            if entry.service is not None:
                services[key] = entry.service
        if not self.services and not self.problems:
            self.report_at(source, "", "the catalog declares no services")
        if self.problems:
            raise CatalogError(self.problems)
        return Catalog(
            calendars={cal_id: spec for cal_id, (_f, spec) in self.calendars.items() if spec},
            agencies={code: agency for code, (_f, _l, agency) in self.agencies.items() if agency},
            services=services,
        )

    # --- keys and scalars

    def check_keys(
        self,
        entry: str,
        item: Mapping[Any, Any],
        required: Sequence[str],
        optional: Sequence[str] = (),
    ) -> None:
        allowed = (*required, *optional)
        for key in item:
            if key not in allowed:
                self.report(entry, f"unknown key {key!r} (expected: {_listing(allowed)})")
        for key in required:
            if key not in item:
                self.report(entry, f"missing required key {key!r}")

    def read_name(self, entry: str, item: Mapping[Any, Any]) -> str:
        name = item.get("name")
        if "name" in item and (not isinstance(name, str) or not name.strip()):
            self.report(f"{entry}.name", f"a name must be non-empty text, not {name!r}")
        return name.strip() if isinstance(name, str) else ""

    def read_flag(self, entry: str, item: Mapping[Any, Any], key: str) -> bool:
        value = item.get(key, False)
        if not isinstance(value, bool):
            self.report(f"{entry}.{key}", f"must be true or false, not {value!r}")
            return False
        return value

    def read_duration(self, entry: str, value: object) -> Duration | None:
        if not isinstance(value, str):
            self.report(entry, f"a duration must be text like '3 working_days', not {value!r}")
            return None
        try:
            return parse_duration(value)
        except ValueError as error:
            self.report(entry, str(error))
            return None

    # --- calendars

    def read_calendar(self, cal_id: object, body: object) -> None:
        entry = f"calendars[{cal_id}]"
        mark = len(self.problems)
        if not isinstance(cal_id, str) or not CALENDAR_ID.fullmatch(cal_id):
            self.report(entry, f"bad calendar id {cal_id!r}: expected {CALENDAR_ID.pattern}")
            return
        if cal_id in self.calendars:
            self.report(
                entry,
                f"duplicate calendar {cal_id!r} (first defined in {self.calendars[cal_id][0]})",
            )
            return
        self.calendars[cal_id] = (self.file, None)
        if not isinstance(body, Mapping):
            self.report(entry, "a calendar must be a mapping with timezone, weekdays, hours")
            return
        self.check_keys(entry, body, ("timezone", "weekdays", "hours"), ("holidays", "days_off"))
        timezone = body.get("timezone")
        if "timezone" in body:
            self.check_timezone(f"{entry}.timezone", timezone)
        workdays = None
        if "weekdays" in body:
            workdays = self.read_weekdays(f"{entry}.weekdays", body["weekdays"])
        hours = None
        if "hours" in body:
            hours = self.read_weekly_hours(f"{entry}.hours", body["hours"], workdays)
        country = body.get("holidays")
        if country is not None and (
            not isinstance(country, str) or country not in holidays.list_supported_countries()
        ):
            self.report(
                f"{entry}.holidays",
                f"unknown holiday country {country!r}: "
                "expected an ISO country code the `holidays` package knows, such as 'ID'",
            )
        days_off = self.read_days_off(f"{entry}.days_off", body.get("days_off", []))
        if len(self.problems) > mark or not isinstance(timezone, str) or hours is None:
            return
        self.calendars[cal_id] = (
            self.file,
            CalendarSpec(
                id=cal_id,
                timezone=timezone,
                weekly_hours=hours,
                holiday_country=country if isinstance(country, str) else None,
                days_off=days_off,
            ),
        )

    def check_timezone(self, entry: str, timezone: object) -> None:
        if isinstance(timezone, str) and timezone:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                pass
            else:
                return
        self.report(
            entry, f"unknown timezone {timezone!r}: expected an IANA name such as 'Asia/Jakarta'"
        )

    def read_weekdays(self, entry: str, value: object) -> set[int] | None:
        if value == "all":
            return set(range(7))
        if not isinstance(value, list) or not value:
            self.report(
                entry,
                f"weekdays must be 'all' or a non-empty list such as "
                f"[mon, tue, wed, thu, fri], not {value!r}",
            )
            return None
        days: set[int] = set()
        mark = len(self.problems)
        for name in value:
            if name not in WEEKDAY_NAMES:
                self.report(
                    entry, f"unknown weekday {name!r} (expected: {_listing(WEEKDAY_NAMES)})"
                )
            elif WEEKDAY_NAMES.index(name) in days:
                self.report(entry, f"weekday {name!r} is listed twice")
            else:
                days.add(WEEKDAY_NAMES.index(name))
        return days if len(self.problems) == mark else None

    def read_weekly_hours(
        self, entry: str, value: object, workdays: set[int] | None
    ) -> dict[int, tuple[tuple[int, int], ...]] | None:
        mark = len(self.problems)
        if isinstance(value, str | list):
            intervals = self.read_intervals(entry, value)
            if intervals is None or workdays is None:
                return None
            return {day: intervals for day in sorted(workdays)}
        if not isinstance(value, Mapping):
            self.report(
                entry,
                "hours must be 'HH:MM-HH:MM' or a mapping of weekdays "
                "(mon, mon-thu, ...) to 'HH:MM-HH:MM'",
            )
            return None
        weekly: dict[int, tuple[tuple[int, int], ...]] = {}
        for key, span in value.items():
            days = self.read_day_range(entry, key)
            intervals = self.read_intervals(f"{entry}.{key}", span)
            if days is None or intervals is None:
                continue
            for day in days:
                name = WEEKDAY_NAMES[day]
                if day in weekly:
                    self.report(f"{entry}.{key}", f"weekday {name!r} is given hours twice")
                elif workdays is not None and day not in workdays:
                    self.report(
                        f"{entry}.{key}",
                        f"hours for {name!r}, which is not one of the calendar's weekdays",
                    )
                else:
                    weekly[day] = intervals
        uncovered = [WEEKDAY_NAMES[day] for day in sorted((workdays or set()) - weekly.keys())]
        # After a bad key above, that key is the likelier cause of the uncovered days.
        if uncovered and len(self.problems) == mark:
            listed = ", ".join(repr(day) for day in uncovered)
            have = "has" if len(uncovered) == 1 else "have"
            self.report(
                entry, f"working weekday{'s' * (len(uncovered) > 1)} {listed} {have} no hours"
            )
        if workdays is None or len(self.problems) > mark:
            return None
        return dict(sorted(weekly.items()))

    def read_day_range(self, entry: str, key: object) -> range | None:
        """The weekdays a key of `hours` names: one day (fri) or a range of them (mon-thu)."""
        parts: list[object] = list(key.split("-", 1)) if isinstance(key, str) else [key]
        names: list[str] = []
        for part in parts:
            if not isinstance(part, str) or part not in WEEKDAY_NAMES:
                self.report(
                    entry,
                    f"unknown weekday {part!r} in {key!r} "
                    f"(expected: {_listing(WEEKDAY_NAMES)}, or a range such as mon-thu)",
                )
                return None
            names.append(part)
        first, last = WEEKDAY_NAMES.index(names[0]), WEEKDAY_NAMES.index(names[-1])
        if first > last:
            self.report(entry, f"weekday range {key!r} must run forward, mon to sun")
            return None
        return range(first, last + 1)

    def read_intervals(self, entry: str, value: object) -> tuple[tuple[int, int], ...] | None:
        spans = [value] if isinstance(value, str) else value
        if not isinstance(spans, list) or not spans:
            self.report(
                entry,
                f"bad hours {value!r}: expected 'HH:MM-HH:MM' such "
                "as '07:30-16:00', or a list of them",
            )
            return None
        intervals: list[tuple[int, int]] = []
        for span in spans:
            interval = _interval(span)
            if isinstance(interval, str):
                self.report(entry, interval)
                return None
            intervals.append(interval)
        intervals.sort()
        for (_s1, end1), (start2, _e2) in itertools.pairwise(intervals):
            if start2 < end1:
                self.report(entry, f"bad hours {value!r}: the intervals overlap")
                return None
        return tuple(intervals)

    def read_days_off(self, entry: str, value: object) -> frozenset[date]:
        if not isinstance(value, list):
            self.report(entry, f"days_off must be a list of ISO dates, not {value!r}")
            return frozenset()
        days: set[date] = set()
        for item in value:
            day = _iso_date(item)
            if day is None:
                self.report(
                    entry, f"bad date {item!r}: expected an ISO date YYYY-MM-DD such as 2026-12-24"
                )
            elif day in days:
                self.report(entry, f"date {day.isoformat()} is listed twice")
            else:
                days.add(day)
        return frozenset(days)

    # --- agencies

    def read_agency(self, index: int, item: object) -> None:
        entry = f"agencies[#{index}]"
        if not isinstance(item, Mapping):
            self.report(entry, "an agency must be a mapping with code, name and calendar")
            return
        code = item.get("code")
        good_code = code if isinstance(code, str) and AGENCY_CODE.fullmatch(code) else None
        if good_code is not None:
            entry = f"agencies[{good_code}]"
        elif "code" in item:
            self.report(entry, f"bad agency code {code!r}: expected {AGENCY_CODE.pattern}")
        mark = len(self.problems)
        self.check_keys(entry, item, ("code", "name", "calendar"))
        name = self.read_name(entry, item)
        calendar = item.get("calendar")
        if "calendar" in item and not isinstance(calendar, str):
            self.report(f"{entry}.calendar", f"must be a calendar id, not {calendar!r}")
        if good_code is None:
            return
        if good_code in self.agencies:
            self.report(
                entry,
                f"duplicate agency code {good_code!r} "
                f"(first defined in {self.agencies[good_code][0]})",
            )
            return
        agency = None
        if len(self.problems) == mark and isinstance(calendar, str):
            agency = Agency(code=good_code, name=name, calendar=calendar)
        self.agencies[good_code] = (self.file, entry, agency)

    # --- services

    def read_service(self, index: int, item: object) -> _ServiceEntry:
        label = f"services[#{index}]"
        if not isinstance(item, Mapping):
            self.report(label, "a service must be a mapping with code, agency, name, fee, steps")
            return _ServiceEntry(self.file, label, None, None, None)
        code, agency = item.get("code"), item.get("agency")
        good_code = code if isinstance(code, str) and SERVICE_CODE.fullmatch(code) else None
        good_agency = agency if isinstance(agency, str) else None
        if good_code is not None:
            at = f"@{good_agency}" if good_agency else ""
            label = f"services[{good_code}{at}]"
        elif "code" in item:
            self.report(label, f"bad service code {code!r}: expected {SERVICE_CODE.pattern}")
        mark = len(self.problems)
        self.check_keys(
            label,
            item,
            ("code", "agency", "name", "fee", "steps"),
            (
                "sla",
                "next",
                "mandatory",
                "separate",
                "oversight",
                "deemed_approval",
                "payment_channels",
            ),
        )
        if "agency" in item and good_agency is None:
            self.report(f"{label}.agency", f"must be an agency code, not {agency!r}")
        name = self.read_name(label, item)
        sla = self.read_duration(f"{label}.sla", item["sla"]) if "sla" in item else None
        fee = self.read_fee(f"{label}.fee", item["fee"]) if "fee" in item else None
        channels = None
        if "payment_channels" in item:
            channels = self.read_payment_channels(
                f"{label}.payment_channels", item["payment_channels"], fee
            )
        deemed = None
        if "deemed_approval" in item:
            deemed = self.read_deemed_approval(f"{label}.deemed_approval", item, sla)
        service = None
        if "steps" in item:
            process = _ProcessReader(self, label, fee)
            process.read(item)
            oversight: OversightPolicy | None = OversightPolicy()
            if "oversight" in item:
                oversight = read_oversight(
                    f"{label}.oversight", item["oversight"], process.codes, self.report
                )
            if (
                len(self.problems) == mark
                and good_code
                and good_agency
                and fee is not None
                and oversight is not None
            ):
                service = Service(
                    agency=good_agency,
                    code=good_code,
                    name=name,
                    sla=sla,
                    fee=fee,
                    steps=tuple(process.steps),
                    next=process.transitions,
                    mandatory=frozenset(process.mandatory),
                    separate=tuple(process.separate),
                    oversight=oversight,
                    deemed_approval=deemed,
                    payment_channels=channels,
                )
        return _ServiceEntry(self.file, label, good_agency, good_code, service)

    def read_deemed_approval(
        self, entry: str, item: Mapping[str, Any], sla: Duration | None
    ) -> DeemedApproval | None:
        """`deemed_approval: true`, or `{warn_before: N working_hours}`; `false` is none."""
        value = item["deemed_approval"]
        if value is False:
            return None
        if "sla" not in item:
            self.report(
                entry,
                "a deemed approval needs the service's sla: the time limit whose passing "
                "approves the case",
            )
            return None
        if value is True:
            return DeemedApproval()
        if not isinstance(value, Mapping):
            self.report(entry, f"must be true, false or {{warn_before: ...}}, not {value!r}")
            return None
        self.check_keys(entry, value, (), ("warn_before",))
        if "warn_before" not in value:
            return DeemedApproval()
        warn = self.read_duration(f"{entry}.warn_before", value["warn_before"])
        if warn is None:
            return None
        if warn.unit is not DurationUnit.WORKING_HOURS:
            self.report(
                f"{entry}.warn_before",
                f"the warning time is counted in working_hours, not {warn.unit.value}",
            )
            return None
        if sla is not None and sla.unit is DurationUnit.WORKING_HOURS and warn.amount >= sla.amount:
            self.report(f"{entry}.warn_before", f"must be shorter than the service's sla ({sla})")
            return None
        return DeemedApproval(warn)

    def read_payment_channels(
        self, entry: str, value: object, fee: Fee | None
    ) -> frozenset[str] | None:
        """`payment_channels: [bank, online]`: the channels the service may be paid through."""
        if not isinstance(value, list) or not value:
            self.report(
                entry, f"must be a non-empty list of {_listing(PAYMENT_CHANNELS)}, not {value!r}"
            )
            return None
        mark = len(self.problems)
        for channel in value:
            if channel not in PAYMENT_CHANNELS:
                self.report(
                    entry, f"unknown channel {channel!r} (channels: {_listing(PAYMENT_CHANNELS)})"
                )
        if len(set(map(str, value))) < len(value):
            self.report(entry, "names a channel twice")
        if fee is not None and fee.is_free:
            self.report(entry, "a free service (fee 0) is paid through no channel")
        return frozenset(value) if len(self.problems) == mark else None

    def read_fee(self, entry: str, value: object) -> Fee | None:
        if isinstance(value, Mapping):
            mark = len(self.problems)
            self.check_keys(entry, value, ("min", "max"))
            low = self.read_amount(f"{entry}.min", value["min"]) if "min" in value else None
            high = self.read_amount(f"{entry}.max", value["max"]) if "max" in value else None
            if low is None or high is None or len(self.problems) > mark:
                return None
            if low > high:
                self.report(entry, f"fee min {low} is more than max {high}")
                return None
            return Fee(low, high)
        if isinstance(value, list | bool) or value is None:
            self.report(
                entry,
                f"fee must be 0 (free), an amount such as 150000, or "
                f"{{min: .., max: ..}}, not {value!r}",
            )
            return None
        amount = self.read_amount(entry, value)
        return None if amount is None else Fee(amount, amount)

    def read_amount(self, entry: str, value: object) -> Decimal | None:
        amount: Decimal | None = None
        if isinstance(value, int | float | Decimal | str) and not isinstance(value, bool):
            try:
                amount = Decimal(str(value).strip())
            except InvalidOperation:
                amount = None
        if amount is None or not amount.is_finite():
            self.report(entry, f"bad amount {value!r}: expected a number of rupiah")
            return None
        if amount < 0:
            self.report(entry, f"a fee cannot be negative: {value}")
            return None
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            self.report(entry, f"bad amount {value}: at most two decimal places")
            return None
        return amount


class _ProcessReader:
    """Reads and checks the process of one service: steps, next, mandatory, separate."""

    def __init__(self, catalog: _CatalogReader, label: str, fee: Fee | None) -> None:
        self.catalog = catalog
        self.label = label
        self.fee = fee
        self.codes: list[str] = []  # every well-formed step code, even of otherwise bad steps
        self.steps: list[Step] = []
        self.broken = False  # some step could not be read: start/terminal/flow checks would guess
        self.transitions: dict[str, frozenset[str]] = {}
        self.mandatory: list[str] = []
        self.separate: list[tuple[str, str]] = []

    def report(self, entry: str, message: str) -> None:
        self.catalog.report(entry, message)

    def unknown(self, entry: str, code: object) -> None:
        self.report(entry, f"unknown step {code!r} (steps: {_listing(self.codes)})")

    def read(self, item: Mapping[Any, Any]) -> None:
        steps = item["steps"]
        if not isinstance(steps, list) or not steps:
            self.report(f"{self.label}.steps", "steps must be a non-empty list of steps")
            return
        for index, raw in enumerate(steps, start=1):
            mark = len(self.catalog.problems)
            self.read_step(index, raw)
            self.broken = self.broken or len(self.catalog.problems) > mark
        by_code = {step.code: step for step in self.steps}
        self.check_sla_starts(by_code)
        if not self.broken:
            self.check_ends()
        if "next" in item:
            flow_known = self.read_next(item["next"], by_code)
        else:
            self.derive_next()
            flow_known = True
        if flow_known and not self.broken:
            self.check_flow(explicit="next" in item)
        self.check_clock()
        if "mandatory" in item:
            self.read_mandatory(item["mandatory"], by_code)
        if "separate" in item:
            self.read_separate(item["separate"])

    def read_step(self, index: int, raw: object) -> None:
        entry = f"{self.label}.steps[#{index}]"
        if not isinstance(raw, Mapping):
            self.report(entry, f"a step must be a mapping such as {{code: verified}}, not {raw!r}")
            return
        code = raw.get("code")
        if isinstance(code, str) and STEP_CODE.fullmatch(code):
            entry = f"{self.label}.steps[{code}]"
            if code in self.codes:
                self.report(entry, f"duplicate step code {code!r}")
                return
            self.codes.append(code)
        elif "code" in raw:
            self.report(entry, f"bad step code {code!r}: expected {STEP_CODE.pattern}")
        catalog = self.catalog
        mark = len(catalog.problems)
        catalog.check_keys(
            entry,
            raw,
            ("code",),
            (
                "start",
                "terminal",
                "roles",
                "sla",
                "payment",
                "reason_required",
                "clock",
                "assessment",
            ),
        )
        start = catalog.read_flag(entry, raw, "start")
        terminal = catalog.read_flag(entry, raw, "terminal")
        payment = catalog.read_flag(entry, raw, "payment")
        assessment = catalog.read_flag(entry, raw, "assessment")
        reason_required = catalog.read_flag(entry, raw, "reason_required")
        roles = self.read_roles(f"{entry}.roles", raw["roles"]) if "roles" in raw else frozenset()
        sla, sla_from = (
            self.read_step_sla(f"{entry}.sla", raw["sla"]) if "sla" in raw else (None, None)
        )
        clock = raw.get("clock")
        if clock not in (None, "stop", "resume"):
            self.report(f"{entry}.clock", f"clock must be 'stop' or 'resume', not {clock!r}")
        if start and terminal:
            self.report(entry, "a step cannot be both start and terminal")
        if (start or terminal) and clock is not None:
            self.report(entry, "a start or terminal step cannot stop or resume the clock")
        if start and sla is not None and sla_from is None:
            self.report(f"{entry}.sla", "a start step has no step before it to count its sla from")
        if sla_from is not None and sla_from == code:
            self.report(
                f"{entry}.sla.from", "a step's limit cannot be counted from the step itself"
            )
        if payment and self.fee is not None and self.fee.is_free:
            self.report(
                entry,
                "a payment step in a free service (fee 0): every payment would be a fee.mismatch",
            )
        if assessment and (start or terminal or payment):
            self.report(
                entry,
                "an assessing step cannot be a start, terminal or payment step: the fee is "
                "assessed during the case, and paid at a step of its own",
            )
        if assessment and self.fee is not None and self.fee.is_free:
            self.report(entry, "an assessing step in a free service (fee 0): nothing to assess")
        if len(catalog.problems) == mark and isinstance(code, str):
            self.steps.append(
                Step(
                    code=code,
                    start=start,
                    terminal=terminal,
                    roles=roles,
                    sla=sla,
                    payment=payment,
                    reason_required=reason_required,
                    clock="stop" if clock == "stop" else "resume" if clock == "resume" else None,
                    sla_from=sla_from,
                    assessment=assessment,
                )
            )

    def read_step_sla(self, entry: str, value: object) -> tuple[Duration | None, str | None]:
        """A step's limit: a duration (counted from the step before), or `{within: <duration>,
        from: <step>}` (counted from the named step, checked once every step is known)."""
        if not isinstance(value, Mapping):
            return self.catalog.read_duration(entry, value), None
        self.catalog.check_keys(entry, value, ("within",), ("from",))
        within = (
            self.catalog.read_duration(f"{entry}.within", value["within"])
            if "within" in value
            else None
        )
        start = value.get("from")
        if "from" in value and (not isinstance(start, str) or not STEP_CODE.fullmatch(start)):
            self.report(f"{entry}.from", f"must be a step code, not {start!r}")
            start = None
        return within, start if isinstance(start, str) else None

    def read_roles(self, entry: str, value: object) -> frozenset[str]:
        if not isinstance(value, list) or not value:
            self.report(
                entry,
                f"roles must be a non-empty list of role names (omit roles when "
                f"any officer may do the step), not {value!r}",
            )
            return frozenset()
        roles: set[str] = set()
        for role in value:
            if not isinstance(role, str) or not ROLE_NAME.fullmatch(role):
                self.report(entry, f"bad role name {role!r}: expected {ROLE_NAME.pattern}")
            elif role in roles:
                self.report(entry, f"role {role!r} is listed twice")
            else:
                roles.add(role)
        return frozenset(roles)

    def check_sla_starts(self, by_code: Mapping[str, Step]) -> None:
        """Each `sla.from` names another step of the service, one that does not end the case."""
        for step in self.steps:
            if step.sla_from is None:
                continue
            entry = f"{self.label}.steps[{step.code}].sla.from"
            start = by_code.get(step.sla_from)
            if step.sla_from not in self.codes:
                self.unknown(entry, step.sla_from)
            elif start is not None and start.terminal:
                self.report(
                    entry,
                    f"terminal step {step.sla_from!r} ends the case: nothing is awaited after it",
                )
            elif start is not None and start.clock is not None:
                self.report(
                    entry,
                    f"step {step.sla_from!r} stops or resumes the clock: a limit counts from a "
                    "step of the work",
                )

    def check_ends(self) -> None:
        entry = f"{self.label}.steps"
        if not any(step.start for step in self.steps):
            self.report(entry, "no start step: mark the step a case begins with `start: true`")
        if not any(step.terminal for step in self.steps):
            self.report(entry, "no terminal step: mark the steps a case ends with `terminal: true`")

    def read_next(self, value: object, by_code: Mapping[str, Step]) -> bool:
        """Read the explicit transitions; False when they are too broken to check the flow."""
        entry = f"{self.label}.next"
        if not isinstance(value, Mapping):
            self.report(
                entry, "next must be a mapping of step to the list of steps allowed after it"
            )
            return False
        for source, targets in value.items():
            if source not in self.codes:
                self.unknown(entry, source)
                continue
            where = f"{entry}.{source}"
            if not isinstance(targets, list):
                self.report(where, f"must be a list of steps, not {targets!r}")
                continue
            allowed: set[str] = set()
            for target in targets:
                if target not in self.codes:
                    self.unknown(where, target)
                elif target in allowed:
                    self.report(where, f"step {target!r} is listed twice")
                else:
                    allowed.add(target)
            step = by_code.get(source)
            if step is not None and step.terminal and targets:
                self.report(where, f"terminal step {source!r} cannot have successors")
                continue
            self.transitions[source] = frozenset(allowed)
        for step in self.steps:
            self.transitions.setdefault(step.code, frozenset())
        return True

    def derive_next(self) -> None:
        for step, following in zip(self.steps, [*self.steps[1:], None], strict=True):
            if step.terminal or following is None:
                self.transitions[step.code] = frozenset()
            else:
                self.transitions[step.code] = frozenset({following.code})

    def check_flow(self, *, explicit: bool) -> None:
        """Every step reachable from a start step, and every non-terminal step able to go on."""
        entry = f"{self.label}.next" if explicit else f"{self.label}.steps"
        why = ""
        if not explicit:
            why = " (without next, a step is followed only by the step listed after it)"
        for step in self.steps:
            if not step.terminal and not self.transitions.get(step.code):
                self.report(
                    entry,
                    f"step {step.code!r} has no successors, so a case reaching it "
                    f"can never finish{why}",
                )
        reached = {step.code for step in self.steps if step.start}
        frontier = list(reached)
        while frontier:
            for following in self.transitions.get(frontier.pop(), frozenset()):
                if following not in reached:
                    reached.add(following)
                    frontier.append(following)
        if reached:
            for step in self.steps:
                if step.code not in reached:
                    self.report(
                        entry, f"step {step.code!r} cannot be reached from a start step{why}"
                    )

    def check_clock(self) -> None:
        stops = [step.code for step in self.steps if step.clock == "stop"]
        resumes = [step.code for step in self.steps if step.clock == "resume"]
        if resumes and not stops:
            for code in resumes:
                self.report(
                    f"{self.label}.steps[{code}]",
                    "clock: resume, but no step of the service has clock: stop",
                )
        if stops and not resumes:
            for code in stops:
                self.report(
                    f"{self.label}.steps[{code}]",
                    "clock: stop, but no step of the "
                    "service has clock: resume, so the clock would never restart",
                )

    def read_mandatory(self, value: object, by_code: Mapping[str, Step]) -> None:
        entry = f"{self.label}.mandatory"
        if not isinstance(value, list):
            self.report(entry, f"mandatory must be a list of steps, not {value!r}")
            return
        for code in value:
            step = by_code.get(code) if isinstance(code, str) else None
            if code not in self.codes:
                self.unknown(entry, code)
            elif code in self.mandatory:
                self.report(entry, f"step {code!r} is listed twice")
            elif step is not None and step.terminal:
                self.report(
                    entry,
                    f"terminal step {code!r} cannot be mandatory: mandatory steps "
                    "must happen before a successful terminal step",
                )
            else:
                self.mandatory.append(code)

    def read_separate(self, value: object) -> None:
        entry = f"{self.label}.separate"
        if not isinstance(value, list):
            self.report(entry, f"separate must be a list of step pairs, not {value!r}")
            return
        for pair in value:
            if not isinstance(pair, list) or len(pair) != 2:
                self.report(
                    entry,
                    f"each entry must be a pair of steps such as "
                    f"[verified, approved], not {pair!r}",
                )
                continue
            first, second = pair
            known = True
            for code in pair:
                if code not in self.codes:
                    self.unknown(entry, code)
                    known = False
            if known and first == second:
                self.report(entry, f"a pair needs two different steps, not {pair!r}")
            elif known:
                self.separate.append((first, second))


def _interval(span: object) -> tuple[int, int] | str:
    """The (start, end) minutes of 'HH:MM-HH:MM', or a message saying what is wrong with it."""
    match = _HOURS.fullmatch(span) if isinstance(span, str) else None
    if match is None:
        return f"bad hours {span!r}: expected 'HH:MM-HH:MM' such as '07:30-16:00'"
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > MINUTES_PER_DAY:
        return f"bad hours {span!r}: times run from 00:00 to 23:59, with 24:00 allowed as an end"
    if start >= end:
        return f"bad hours {span!r}: the start must be before the end"
    return (start, end)


_HOURS = re.compile(r"\s*(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None
