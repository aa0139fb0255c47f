"""Loading a catalog from YAML: one file or a folder of them, validated as a whole.

Loading reports every problem at once, each naming the file, the entry and what is wrong, so a
catalog author can fix a catalog in one pass. The calendars and each service's process are read
by `calendars` and `process`; the `oversight:` section by `pantau.core.oversight_policy`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from pantau.core.catalog.calendars import CalendarReader
from pantau.core.catalog.model import (
    AGENCY_CODE,
    CALENDAR_ID,
    PAYMENT_CHANNELS,
    SERVICE_CODE,
    Agency,
    Catalog,
    CatalogError,
    CatalogProblem,
    DeemedApproval,
    Fee,
    Service,
)
from pantau.core.catalog.process import ProcessReader
from pantau.core.durations import Duration, DurationUnit
from pantau.core.entry_reader import EntryReader, listing
from pantau.core.oversight_policy import OversightPolicy, read_oversight
from pantau.core.working_time import CalendarSpec


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
    reader = CatalogReader()
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
    reader = CatalogReader()
    reader.read_document(data, source)
    return reader.build(source)


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


@dataclass
class _ServiceEntry:
    file: str
    label: str
    agency: str | None
    code: str | None
    service: Service | None


class CatalogReader(EntryReader):
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
                self.report("", f"unknown top-level key {key!r} (expected: {listing(sections)})")
        calendars = data.get("calendars", {})
        if isinstance(calendars, Mapping):
            for cal_id, body in calendars.items():
                self.read_calendar(cal_id, body)
        else:
            self.report("calendars", "must be a mapping of calendar id to calendar")
        for index, item in enumerate(self.listed(data, "agencies"), start=1):
            self.read_agency(index, item)
        for index, item in enumerate(self.listed(data, "services"), start=1):
            self.services.append(self.read_service(index, item))

    def listed(self, data: Mapping[str, Any], section: str) -> list[Any]:
        """The entries of the list `section` of a catalog file (none when it is absent); none,
        after reporting, when it is not a list."""
        entries = data.get(section, [])
        if isinstance(entries, list):
            return entries
        self.report(section, f"must be a list of {section}")
        return []

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
                    f"(calendars: {listing(sorted(self.calendars))})",
                )
        services: dict[tuple[str, str], Service] = {}
        first_file: dict[tuple[str, str], str] = {}
        for entry in self.services:
            if entry.agency is not None and entry.agency not in self.agencies and check_references:
                self.report_at(
                    entry.file,
                    f"{entry.label}.agency",
                    f"unknown agency {entry.agency!r} (agencies: {listing(sorted(self.agencies))})",
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
                self.report(entry, f"unknown key {key!r} (expected: {listing(allowed)})")
        for key in required:
            if key not in item:
                self.report(entry, f"missing required key {key!r}")

    def read_name(self, entry: str, item: Mapping[Any, Any]) -> str:
        name = item.get("name")
        if "name" in item and (not isinstance(name, str) or not name.strip()):
            self.report(f"{entry}.name", f"a name must be non-empty text, not {name!r}")
        return name.strip() if isinstance(name, str) else ""

    def read_flag(self, entry: str, item: Mapping[Any, Any], key: str) -> bool:
        """The flag `key` of `item`: False when absent, and after reporting a value not a flag."""
        return self.flag(f"{entry}.{key}", item.get(key, False)) or False

    # --- calendars

    def read_calendar(self, cal_id: object, body: object) -> None:
        entry = f"calendars[{cal_id}]"
        if not isinstance(cal_id, str) or not CALENDAR_ID.fullmatch(cal_id):
            self.report(entry, f"bad calendar id {cal_id!r}: expected {CALENDAR_ID.pattern}")
            return
        if cal_id in self.calendars:
            self.report(
                entry,
                f"duplicate calendar {cal_id!r} (first defined in {self.calendars[cal_id][0]})",
            )
            return
        self.calendars[cal_id] = (self.file, CalendarReader(self, cal_id).read(body))

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
        sla = self.duration(f"{label}.sla", item["sla"]) if "sla" in item else None
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
            process = ProcessReader(self, label, fee)
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
        warn = self.duration(f"{entry}.warn_before", value["warn_before"])
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
                entry, f"must be a non-empty list of {listing(PAYMENT_CHANNELS)}, not {value!r}"
            )
            return None
        mark = len(self.problems)
        for channel in value:
            if channel not in PAYMENT_CHANNELS:
                self.report(
                    entry, f"unknown channel {channel!r} (channels: {listing(PAYMENT_CHANNELS)})"
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
