"""Declarative mappings from a real event log (CSV rows or XES events) to Pantau events (pure).

A mapping is YAML: which column is the case, the step (with a value map from the log's activity
names to catalog step codes), the time (and the timezone of times written without an offset),
the officer, the payment, the channel and attributes, plus constants for the agency and service.
Optionally `case_end` turns a per-case end column into one closing event. docs/replay.md
describes every key; deploy/replay/*/mapping.yaml are worked examples.
The `event_id` template takes `{column}`, `{agency}`, `{service}`, `{case}` and `{line}` (for
logs without an id column: a CSV row's line, the header being line 1; an XES event's position + 1).

`LogMapping.events(rows)` returns the events in time order (`order="time"`: the whole log by
occurred_at) or case by case (`order="case"`), each case's `seq` numbered 1..n in its own time
order, and a `MappingReport` counting what was read, emitted and dropped (and why). A row that
cannot be mapped raises MappingError naming the log, the line, the field and the value.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypedDict, Unpack
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from pantau.core.events import Event
from pantau.traffic.xes import xes_rows

_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
MAPPING_KEYS = (
    "format", "agency", "service", "mode", "case", "step", "time", "event_id", "officer",
    "payment", "channel", "reason", "attributes", "case_end", "unmapped_steps",
)  # fmt: skip
COLUMN_KEYS = ("column", "values", "default", "constant", "slug", "time")
OFFICER_KEYS = ("id", "role")
PAYMENT_KEYS = ("amount", "receipt")
CASE_END_KEYS = ("column", "step", "event_id")
ORDERS = ("time", "case")
__all__ = ["LogMapping", "MappingError", "MappingReport", "xes_rows"]


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


class ReadOptions(TypedDict, total=False):
    """How a log is read into events (see `LogMapping.event_records`)."""

    case_suffix: str
    order: str
    log_name: str
    progress: Callable[[int], None] | None


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
    payment_amount: Column | None = None
    payment_receipt: Column | None = None
    attributes: Mapping[str, Column] = field(default_factory=dict)
    case_end: CaseEnd | None = None
    unmapped_steps: str = "error"  # or "drop"
    # "csv", "xes" (rows from `xes_rows`, trace attributes as `case:<key>`), or "" to choose
    # by the log's name (see `format_of`), so one mapping serves a log's CSV and XES forms.
    format: str = ""

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
        _refuse_unknown(data, MAPPING_KEYS, source, "")
        for required in ("agency", "service", "case", "step", "time", "event_id"):
            if required not in data:
                raise MappingError(f"{source}: {required} is required")
        if data.get("format", "") not in ("", "csv", "xes"):
            raise MappingError(f"{source}: format must be csv or xes (or left out)")
        if data.get("unmapped_steps", "error") not in ("error", "drop"):
            raise MappingError(f"{source}: unmapped_steps must be error or drop")
        time = data["time"] if isinstance(data["time"], dict) else {"column": data["time"]}
        officer = _section(data, "officer", OFFICER_KEYS, source)
        payment = _section(data, "payment", PAYMENT_KEYS, source)
        if payment and "amount" not in payment:
            raise MappingError(f"{source}: payment needs an amount (and may have a receipt)")
        end = _section(data, "case_end", CASE_END_KEYS, source)
        if end and set(CASE_END_KEYS) - set(end):
            raise MappingError(
                f"{source}: case_end needs {', '.join(sorted(set(CASE_END_KEYS) - set(end)))}"
            )
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
            payment_amount=(
                _column(payment["amount"], source, "payment.amount") if payment else None
            ),
            payment_receipt=(
                _column(payment["receipt"], source, "payment.receipt")
                if "receipt" in payment
                else None
            ),
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
                if end
                else None
            ),
            unmapped_steps=str(data.get("unmapped_steps", "error")),
            format=str(data.get("format", "")),
        )

    def format_of(self, log: Path) -> str:
        """How to read `log`: the mapping's `format`, or else `xes` for a name ending in `.xes`
        or `.xes.gz` and `csv` for any other."""
        if self.format:
            return self.format
        return "xes" if log.name.lower().endswith((".xes", ".xes.gz")) else "csv"

    def events(
        self, rows: Iterable[Mapping[str, str]], **options: Unpack[ReadOptions]
    ) -> tuple[list[Event], MappingReport]:
        """Every event of the log, and the report (see `event_records`)."""
        records, report = self.event_records(rows, **options)
        return [Event.model_validate_json(record) for record in records], report

    def event_records(
        self,
        rows: Iterable[Mapping[str, str]],
        *,
        case_suffix: str = "",
        order: str = "time",
        log_name: str = "log",
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[bytes], MappingReport]:
        """Every event of the log as its contract JSON (validated), and the report. JSON is a
        fifth of the memory of the event objects, which a long log's replay holds until sent.

        `order="time"`: the whole log by occurred_at (events at one instant case by case, each
        case's in its `seq` order), as the history happened; `order="case"`: case after case,
        cases by their first event. Either way each case's `seq` is 1..n in its time order.
        `case_suffix` is appended to case ids (to replay one log several times as new cases).
        `log_name` names the log in errors; `progress` is told the rows read so far.
        MappingError names the log, the line, the field and the value of a row that cannot be
        mapped.
        """
        if order not in ORDERS:
            raise MappingError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
        report = MappingReport()
        by_case: dict[str, list[tuple[datetime, int, dict[str, Any]]]] = defaultdict(list)
        ends: dict[str, tuple[datetime, dict[str, str], int]] = {}
        for number, row in enumerate(rows, 2):  # line 1 is the header
            report.rows += 1
            if progress is not None and report.rows % 10_000 == 0:
                progress(report.rows)
            try:
                self._map_row(row, number, case_suffix, report, by_case, ends)
            except MappingError as error:
                raise MappingError(f"{log_name}: line {number}: {error}") from None
        events: list[tuple[datetime, int, int, bytes]] = []
        for case_index, (case, items) in enumerate(by_case.items()):
            items.sort(key=lambda item: (item[0], item[1]))
            documents = list(items)
            if case in ends and self.case_end is not None:
                at, row, line = ends[case]
                # The end goes where its time falls, after events at the very same instant.
                position = sum(1 for when, _, _ in items if when <= at)
                closing = self._document(row, case, self.case_end.step, at, line)
                closing["event_id"] = self._render(self.case_end.event_id, row, case, line)
                for derived in ("officer", "payment"):
                    closing.pop(derived, None)
                closing["attributes"] = {
                    **closing.get("attributes", {}),
                    "derived_from": self.case_end.column,
                }
                documents.insert(position, (at, line, closing))
                report.closing_events += 1
            first = min(items[0][0], ends[case][0]) if case in ends else items[0][0]
            for seq, (at, line, document) in enumerate(documents, 1):
                document["seq"] = seq
                event = _validated(document, f"{log_name}: line {line}").to_json_bytes()
                events.append((at if order == "time" else first, case_index, seq, event))
            items.clear()  # what is mapped is kept as JSON only
        report.cases = len(by_case)
        events.sort(key=lambda item: (item[0], item[1], item[2]))
        return [event for *_, event in events], report

    def _map_row(
        self,
        row: Mapping[str, str],
        number: int,
        case_suffix: str,
        report: MappingReport,
        by_case: dict[str, list[tuple[datetime, int, dict[str, Any]]]],
        ends: dict[str, tuple[datetime, dict[str, str], int]],
    ) -> None:
        case = _field("case", self.case, row, self.timezone)
        if not case:
            report.dropped["no case id"] += 1
            return
        case += case_suffix
        step = _field("step", self.step, row, self.timezone)
        if step is None:
            activity = row.get(self.step.column or "")
            if self.unmapped_steps == "drop":
                report.dropped[f"step not mapped: {activity}"] += 1
                return
            raise MappingError(
                f"step: activity {activity!r} has no step code (add it to step.values, or set "
                "unmapped_steps: drop)"
            )
        when = _field("time", self.time, row, self.timezone)
        if when is None:
            report.dropped["no time"] += 1
            return
        try:
            at = parse_log_time(when, self.timezone)
        except MappingError as error:
            raise MappingError(f"time ({self.time.column}): {error}") from None
        by_case[case].append((at, number, self._document(row, case, step, at, number)))
        report.mapped_rows += 1
        if self.case_end is not None and case not in ends:
            raw = (row.get(self.case_end.column) or "").strip()
            if raw:
                try:
                    ends[case] = (parse_log_time(raw, self.timezone), dict(row), number)
                except MappingError as error:
                    raise MappingError(f"case_end ({self.case_end.column}): {error}") from None

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
            officer = _field("officer.id", self.officer_id, row, zone)
            if officer:
                role = _field("officer.role", self.officer_role, row, zone)
                document["officer"] = {"id": officer, "role": role or "unassigned"}
        if self.payment_amount is not None:
            amount = _field("payment.amount", self.payment_amount, row, zone)
            if amount is not None:
                payment = {"amount": _amount(amount, self.payment_amount.column)}
                receipt = _field("payment.receipt", self.payment_receipt, row, zone)
                if receipt is not None:
                    payment["receipt"] = receipt
                document["payment"] = payment
        for name, column in (("channel", self.channel), ("reason", self.reason)):
            value = _field(name, column, row, zone)
            if value is not None:
                document[name] = value
        attributes = {
            name: _field(f"attributes.{name}", c, row, zone) for name, c in self.attributes.items()
        }
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
                raise MappingError(
                    f"event_id: {template!r} names {{{name}}}, which is no column of the log "
                    f"nor a placeholder (agency, service, case, line); columns: "
                    f"{', '.join(sorted(row))}"
                )
            return row[name]

        return _TEMPLATE_FIELD.sub(value, template)


def _field(name: str, column: Column | None, row: Mapping[str, str], zone: ZoneInfo) -> str | None:
    """`column.read(row)`, a failure naming the field and the value."""
    if column is None:
        return None
    try:
        return column.read(row, zone)
    except MappingError as error:
        raise MappingError(f"{name} ({column.column}): {error}") from None


def _amount(text: str, column: str | None) -> str:
    """A payment amount as a plain decimal string (`36.0` -> `36.00`); MappingError otherwise."""
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    exponent = value.as_tuple().exponent
    if not value.is_finite() or value < 0 or not isinstance(exponent, int) or exponent < -2:
        raise MappingError(
            f"payment.amount ({column}): {text!r} is not an amount (a number >= 0 with at most "
            "two decimals)"
        )
    return format(value.quantize(Decimal("0.01")), "f")


def _validated(document: dict[str, Any], where: str) -> Event:
    """The event of a mapped document; a field the contract refuses is named with `where`."""
    try:
        return Event.model_validate(document)
    except ValidationError as error:
        problem = error.errors()[0]
        name = ".".join(str(p) for p in problem["loc"])
        value = problem.get("input")
        raise MappingError(f"{where}: {name} {value!r}: {problem['msg']}") from None


def _refuse_unknown(
    data: Mapping[str, Any], allowed: Iterable[str], source: str, where: str
) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        prefix = f"{source}: {where}: " if where else f"{source}: "
        raise MappingError(
            f"{prefix}unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _section(
    data: Mapping[str, Any], name: str, allowed: Iterable[str], source: str
) -> dict[str, Any]:
    """An optional sub-mapping (officer, payment, case_end), its keys checked; {} when absent."""
    section = data.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise MappingError(f"{source}: {name} must be a mapping of {', '.join(allowed)}")
    _refuse_unknown(section, allowed, source, name)
    return section


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
    _refuse_unknown(spec, COLUMN_KEYS, source, where)
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
