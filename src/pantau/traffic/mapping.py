"""Declarative mappings from a real event log (CSV rows) to Pantau events (pure).

A mapping is YAML: which column is the case, the step (with a value map from the log's activity
names to catalog step codes), the time (and the timezone of times written without an offset),
the officer, the channel and attributes, plus constants for the agency and service. Optionally
`case_end` turns a per-case end column into one closing event. See deploy/replay/wabo/mapping.yaml.
The `event_id` template takes `{column}`, `{agency}`, `{service}`, `{case}` and `{line}` (for
logs without an id column: a CSV row's line, the header being line 1; an XES event's position + 1).

`LogMapping.events(rows)` returns every case's events in time order with `seq` numbered, and a
`MappingReport` counting what was read, emitted and dropped (and why).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import yaml

from pantau.core.events import Event

_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


class MappingError(ValueError):
    """The mapping file is unusable, or a row cannot be mapped; the message says where."""


@dataclass(frozen=True)
class Column:
    """Where one event field comes from: a column, a value map, a default, or a constant."""

    column: str | None = None
    values: Mapping[str, str | None] = field(default_factory=dict)
    default: str | None = None
    constant: str | None = None
    slug: bool = False
    time: bool = False

    def read(self, row: Mapping[str, str], zone: ZoneInfo) -> str | None:
        """The value for `row`: mapped, slugged or kept; None when empty or mapped to null."""
        if self.constant is not None:
            return self.constant
        raw = (row.get(self.column or "") or "").strip()
        if not raw:
            return self.default
        if raw in self.values:
            return self.values[raw]
        if self.time:
            return parse_log_time(raw, zone).isoformat(timespec="microseconds")
        if self.slug:
            return slug(raw)
        return raw if not self.values else self.default


@dataclass(frozen=True)
class CaseEnd:
    """A closing event made from a per-case end column (e.g. the case's recorded end date)."""

    column: str
    step: str
    event_id: str


@dataclass
class MappingReport:
    """What a mapping did with a log: rows read and mapped, events made, rows dropped by reason."""

    rows: int = 0
    mapped_rows: int = 0
    closing_events: int = 0
    cases: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    @property
    def events(self) -> int:
        return self.mapped_rows + self.closing_events


@dataclass(frozen=True)
class LogMapping:
    """A parsed mapping file."""

    agency: str
    service: str
    case: Column
    step: Column
    time: Column
    timezone: ZoneInfo
    event_id: str
    mode: str = "backfill"
    officer_id: Column | None = None
    officer_role: Column | None = None
    channel: Column | None = None
    reason: Column | None = None
    attributes: Mapping[str, Column] = field(default_factory=dict)
    case_end: CaseEnd | None = None
    unmapped_steps: str = "error"  # or "drop"
    format: str = "csv"  # or "xes": rows from `xes_rows`, trace attributes as `case:<key>`

    @classmethod
    def load(cls, path: Path) -> LogMapping:
        """Read and check a mapping file; MappingError names the file and the problem."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise MappingError(f"{path}: cannot read the mapping: {error}") from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: object, source: str) -> LogMapping:
        if not isinstance(data, dict):
            raise MappingError(f"{source}: a mapping must be a YAML mapping")
        known = {
            "format", "agency", "service", "mode", "case", "step", "time", "event_id",
            "officer", "channel", "reason", "attributes", "case_end", "unmapped_steps",
        }  # fmt: skip
        unknown = set(data) - known
        if unknown:
            raise MappingError(
                f"{source}: unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(known))}"
            )
        for required in ("agency", "service", "case", "step", "time", "event_id"):
            if required not in data:
                raise MappingError(f"{source}: {required} is required")
        if data.get("format", "csv") not in ("csv", "xes"):
            raise MappingError(f"{source}: format must be csv or xes")
        time = data["time"] if isinstance(data["time"], dict) else {"column": data["time"]}
        officer = data.get("officer") or {}
        end = data.get("case_end")
        return cls(
            agency=str(data["agency"]),
            service=str(data["service"]),
            case=_column(data["case"], source, "case"),
            step=_column(data["step"], source, "step"),
            time=_column({k: v for k, v in time.items() if k != "timezone"}, source, "time"),
            timezone=ZoneInfo(str(time.get("timezone", "UTC"))),
            event_id=_template(data["event_id"], source, "event_id"),
            mode=str(data.get("mode", "backfill")),
            officer_id=_column(officer["id"], source, "officer.id") if "id" in officer else None,
            officer_role=(
                _column(officer["role"], source, "officer.role") if "role" in officer else None
            ),
            channel=_column(data["channel"], source, "channel") if "channel" in data else None,
            reason=_column(data["reason"], source, "reason") if "reason" in data else None,
            attributes={
                str(name): _column(spec, source, f"attributes.{name}")
                for name, spec in (data.get("attributes") or {}).items()
            },
            case_end=(
                CaseEnd(
                    str(end["column"]),
                    str(end["step"]),
                    _template(end["event_id"], source, "case_end.event_id"),
                )
                if isinstance(end, dict)
                else None
            ),
            unmapped_steps=str(data.get("unmapped_steps", "error")),
            format=str(data.get("format", "csv")),
        )

    def events(
        self, rows: Iterable[Mapping[str, str]], *, case_suffix: str = ""
    ) -> tuple[list[Event], MappingReport]:
        """Every event of the log, each case in time order with `seq` 1..n; and the report.

        Cases are ordered by their first event, so the list reads like the history unfolding.
        `case_suffix` is appended to case ids (to replay one log several times as new cases).
        """
        report = MappingReport()
        by_case: dict[str, list[tuple[datetime, int, dict[str, Any]]]] = defaultdict(list)
        ends: dict[str, tuple[datetime, dict[str, str], int]] = {}
        for number, row in enumerate(rows, 2):  # line 1 is the header
            report.rows += 1
            case = self.case.read(row, self.timezone)
            if not case:
                report.dropped["no case id"] += 1
                continue
            case += case_suffix
            step = self.step.read(row, self.timezone)
            if step is None:
                if self.unmapped_steps == "drop":
                    report.dropped[f"step not mapped: {row.get(self.step.column or '')}"] += 1
                    continue
                raise MappingError(
                    f"line {number}: activity {row.get(self.step.column or '')!r} has no step code"
                )
            when = self.time.read(row, self.timezone)
            if when is None:
                report.dropped["no time"] += 1
                continue
            at = parse_log_time(when, self.timezone)
            by_case[case].append((at, number, self._document(row, case, step, at, number)))
            report.mapped_rows += 1
            if self.case_end is not None and case not in ends:
                raw = (row.get(self.case_end.column) or "").strip()
                if raw:
                    ends[case] = (parse_log_time(raw, self.timezone), dict(row), number)
        events: list[tuple[datetime, int, Event]] = []
        for case, items in by_case.items():
            items.sort(key=lambda item: (item[0], item[1]))
            documents = [doc for _, _, doc in items]
            if case in ends and self.case_end is not None:
                at, row, line = ends[case]
                # The end goes where its time falls, after events at the very same instant.
                position = sum(1 for when, _, _ in items if when <= at)
                closing = self._document(row, case, self.case_end.step, at, line)
                closing["event_id"] = self._render(self.case_end.event_id, row, case, line)
                closing.pop("officer", None)
                closing["attributes"] = {
                    **closing.get("attributes", {}),
                    "derived_from": self.case_end.column,
                }
                documents.insert(position, closing)
                report.closing_events += 1
            first = min(items[0][0], ends[case][0]) if case in ends else items[0][0]
            for seq, document in enumerate(documents, 1):
                document["seq"] = seq
                events.append((first, len(events), Event.model_validate(document)))
        report.cases = len(by_case)
        events.sort(key=lambda item: (item[0], item[1]))
        return [event for _, _, event in events], report

    def _document(
        self, row: Mapping[str, str], case: str, step: str, at: datetime, line: int
    ) -> dict[str, Any]:
        zone = self.timezone
        document: dict[str, Any] = {
            "event_id": self._render(self.event_id, row, case, line),
            "agency": self.agency,
            "service": self.service,
            "case_id": case,
            "step": step,
            "occurred_at": at,
            "mode": self.mode,
        }
        if self.officer_id is not None:
            officer = self.officer_id.read(row, zone)
            if officer:
                role = self.officer_role.read(row, zone) if self.officer_role else None
                document["officer"] = {"id": officer, "role": role or "unassigned"}
        for name, column in (("channel", self.channel), ("reason", self.reason)):
            value = column.read(row, zone) if column is not None else None
            if value is not None:
                document[name] = value
        attributes = {name: c.read(row, zone) for name, c in self.attributes.items()}
        document["attributes"] = {k: v for k, v in attributes.items() if v is not None}
        return document

    def _render(self, template: str, row: Mapping[str, str], case: str, line: int) -> str:
        # `{line}`: the row's line in the file (the header is line 1), unique within one log.
        names = {"agency": self.agency, "service": self.service, "case": case, "line": str(line)}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in names:
                return names[name]
            if name not in row:
                raise MappingError(f"event_id template names an unknown column {name!r}")
            return row[name]

        return _TEMPLATE_FIELD.sub(value, template)


def _template(spec: object, source: str, where: str) -> str:
    """A template whose every brace pair names a placeholder; `{}` or a stray brace is refused."""
    text = str(spec)
    if "{" in _TEMPLATE_FIELD.sub("", text) or "}" in _TEMPLATE_FIELD.sub("", text):
        raise MappingError(
            f"{source}: {where} {text!r}: every {{...}} must name a column or placeholder, "
            "e.g. {case}"
        )
    return text


def _column(spec: object, source: str, where: str) -> Column:
    if isinstance(spec, str):
        return Column(column=spec)
    if not isinstance(spec, dict):
        raise MappingError(f"{source}: {where} must be a column name or a mapping")
    allowed = {"column", "values", "default", "constant", "slug", "time"}
    if set(spec) - allowed:
        raise MappingError(
            f"{source}: {where}: unknown keys {sorted(set(spec) - allowed)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    if "column" not in spec and "constant" not in spec:
        raise MappingError(f"{source}: {where} needs a column or a constant")
    values = spec.get("values") or {}
    return Column(
        column=None if spec.get("column") is None else str(spec["column"]),
        values={str(k): None if v is None else str(v) for k, v in values.items()},
        default=None if spec.get("default") is None else str(spec["default"]),
        constant=None if spec.get("constant") is None else str(spec["constant"]),
        slug=bool(spec.get("slug", False)),
        time=bool(spec.get("time", False)),
    )


def slug(text: str) -> str:
    """A catalog-safe code: lower case, runs of other characters as `-`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "none"


def parse_log_time(text: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 time from a log (`T` or space); a time without offset is in `zone`."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MappingError(f"not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def xes_rows(source: Path | IO[bytes]) -> Iterator[dict[str, str]]:
    """The events of an XES log as flat rows, like a CSV export of it (as pm4py writes one).

    Each event's attributes keep their keys (`concept:name`, `time:timestamp`, ...); its trace's
    attributes come as `case:<key>` (`case:concept:name` is the case id); the children of nested
    attributes are flattened by key, the first value winning. Streams the file, so a large log
    needs no more memory than one trace.
    """
    case: dict[str, str] = {}
    depth = 0  # of <event> nesting: attributes of an event are not those of its trace
    event: dict[str, str] = {}
    # The log is the operator's own file, given on the command line, not input from the network.
    for action, element in ElementTree.iterparse(source, events=("start", "end")):  # noqa: S314
        tag = element.tag.rsplit("}", 1)[-1]
        if action == "start":
            if tag == "trace":
                case = {}
            elif tag == "event":
                depth += 1
                event = {}
            continue
        if tag == "event":
            depth -= 1
            yield {**case, **event}
            element.clear()
        elif tag == "trace":
            element.clear()
        elif "key" in element.attrib and "value" in element.attrib:
            parent_is_event = depth > 0
            key, value = element.attrib["key"], element.attrib["value"]
            if parent_is_event:
                event.setdefault(key, value)
            else:
                case.setdefault(f"case:{key}", value)
