"""Versioned service standards: each published catalog is a numbered version, and the book of
versions says which one was in force at a time.

A version holds the catalog in a canonical form (the merged YAML documents as one JSON
document, entries in catalog order, keys sorted), its content hash, from when it is valid, who
published it and when. A case is judged by the version in force when it was submitted, for its
whole life. Nothing here reads a clock or does I/O: times are passed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from pantau.core.catalog import Catalog, Fee, Service, Step, parse_catalog
from pantau.core.events import format_rfc3339, parse_rfc3339

SECTIONS = ("calendars", "agencies", "services")

CatalogT = TypeVar("CatalogT", bound=Catalog | None)


def recorded_version(value: object) -> int | None:
    """A version of the standards as a record names it (the `standard_version` of a case
    state): a whole number from 1; None for anything else, or when it is absent."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def canonical_document(documents: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The documents of a valid catalog (one per file, in load order) merged into one: the
    calendars of every file, then the agencies and the services in catalog order. A catalog
    validates to the same `Catalog` from this one document as from its files."""
    calendars: dict[str, Any] = {}
    agencies: list[Any] = []
    services: list[Any] = []
    for document in documents:
        calendars.update(document.get("calendars") or {})
        agencies.extend(document.get("agencies") or [])
        services.extend(document.get("services") or [])
    return {"calendars": calendars, "agencies": agencies, "services": services}


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The canonical JSON of a catalog document: keys sorted, no spaces."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def content_hash(document: Mapping[str, Any]) -> str:
    """`sha256:<hex>` of the canonical JSON of a catalog document."""
    return "sha256:" + hashlib.sha256(canonical_bytes(document)).hexdigest()


@dataclass(frozen=True)
class StandardVersion:
    """One published version of the service standards."""

    number: int
    content_hash: str
    valid_from: datetime
    published_by: str
    published_at: datetime
    document: Mapping[str, Any]
    catalog: Catalog

    def to_record(self) -> bytes:
        """The version as the standards topic carries it (JSON)."""
        return orjson.dumps(
            {
                "version": self.number,
                "content_hash": self.content_hash,
                "valid_from": format_rfc3339(self.valid_from),
                "published_by": self.published_by,
                "published_at": format_rfc3339(self.published_at),
                "catalog": self.document,
            },
            option=orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def from_record(cls, value: bytes) -> StandardVersion:
        """A version from its record; raises ValueError (or CatalogError) for a record that is
        not one, whose hash does not match its catalog, or whose catalog does not validate."""
        data = orjson.loads(value)
        if not isinstance(data, dict):
            raise ValueError("a standards record must be a JSON object")
        number = data.get("version")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ValueError(f"bad version number {number!r}")
        document = data.get("catalog")
        if not isinstance(document, dict):
            raise ValueError(f"version {number}: the catalog must be a JSON object")
        found = content_hash(document)
        if data.get("content_hash") != found:
            raise ValueError(
                f"version {number}: content hash {data.get('content_hash')!r} does not match "
                f"its catalog ({found})"
            )
        return cls(
            number=number,
            content_hash=found,
            valid_from=parse_rfc3339(str(data["valid_from"])),
            published_by=str(data.get("published_by", "")),
            published_at=parse_rfc3339(str(data["published_at"])),
            document=document,
            catalog=parse_catalog(document, f"standards version {number}"),
        )


def new_version(
    number: int,
    document: Mapping[str, Any],
    *,
    valid_from: datetime,
    published_by: str,
    published_at: datetime,
) -> StandardVersion:
    """Version `number` of the catalog `document` (raises CatalogError when it is broken)."""
    # Through JSON and back, as a reader of the topic will see it.
    plain = orjson.loads(canonical_bytes(document))
    return StandardVersion(
        number=number,
        content_hash=content_hash(plain),
        valid_from=valid_from,
        published_by=published_by,
        published_at=published_at,
        document=plain,
        catalog=parse_catalog(plain, f"standards version {number}"),
    )


@dataclass(frozen=True)
class StandardsBook:
    """Every published version, by number.

    The version in force at a time is the highest-numbered version whose `valid_from` has come:
    a later publication supersedes the earlier ones from its `valid_from` on, a version whose
    `valid_from` is still ahead is scheduled. Before the first `valid_from`, the first version
    is in force (the first published standard judges what came before it).
    """

    versions: tuple[StandardVersion, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.versions, key=lambda v: v.number))
        object.__setattr__(self, "versions", ordered)

    def __len__(self) -> int:
        return len(self.versions)

    def with_version(self, version: StandardVersion) -> StandardsBook:
        """The book with `version` added, replacing one of the same number."""
        kept = [v for v in self.versions if v.number != version.number]
        return StandardsBook((*kept, version))

    def learned(self, version: StandardVersion) -> StandardsBook | None:
        """The book with `version`, read from the standards topic, taken in; None when the book
        has it already (the same number with the same content)."""
        known = self.version(version.number)
        if known is not None and known.content_hash == version.content_hash:
            return None
        return self.with_version(version)

    def version(self, number: int) -> StandardVersion | None:
        """Version `number`, or None."""
        for found in self.versions:
            if found.number == number:
                return found
        return None

    @property
    def latest(self) -> StandardVersion | None:
        """The highest-numbered version (perhaps scheduled), or None for an empty book."""
        return self.versions[-1] if self.versions else None

    @property
    def next_number(self) -> int:
        """The number the next publication gets."""
        return self.versions[-1].number + 1 if self.versions else 1

    def in_force(self, at: datetime) -> StandardVersion | None:
        """The version in force at `at`; None only for an empty book."""
        if not self.versions:
            return None
        valid = [v for v in self.versions if v.valid_from <= at]
        return valid[-1] if valid else self.versions[0]

    def judging(self, agency: str, service: str, step: str, at: datetime) -> StandardVersion | None:
        """The version a case submitted at `at` with `step` follows: the version in force at
        `at`; when that version does not know the service or the step, the first later version
        that does (a service introduced by a version is judged by it from its first case)."""
        first = self.in_force(at)
        if first is None:
            return None
        for candidate in self.versions:
            if candidate.number < first.number:
                continue
            known = candidate.catalog.service(agency, service)
            if known is not None and known.step(step) is not None:
                return candidate
        return None

    def followed(
        self, agency: str, service: str, recorded: int | None, at: datetime | None
    ) -> StandardVersion | None:
        """The version a reader of a case's state or alerts shows the case against.

        `recorded` is the version the tracker recorded (`standard_version` of the case state or
        of an alert); when the book has it, that is the one. Without it, the version in force
        at `at` (when the case opened, or what an alert is about) or the first later version
        that has the service, as the tracker fixes it for a case; without `at`, or when no
        version has the service, the newest. None only for an empty book."""
        if recorded is not None:
            found = self.version(recorded)
            if found is not None:
                return found
        first = None if at is None else self.in_force(at)
        if first is not None:
            for candidate in self.versions:
                if candidate.number >= first.number and candidate.catalog.service(agency, service):
                    return candidate
        return self.latest


class StandardsSoFar(Generic[CatalogT]):
    """The versions of the standards read so far from the standards topic (a `StandardsBook`,
    which only grows), and `unpublished`: the catalog of `PANTAU_CATALOG`, for before any is read.
    """

    def __init__(self, catalog: CatalogT, book: StandardsBook | None = None) -> None:
        self.unpublished: CatalogT = catalog
        self.book = book or StandardsBook()

    def learn(self, version: StandardVersion) -> bool:
        """Keep a version read from the standards topic; False when it was known already."""
        learned = self.book.learned(version)
        if learned is not None:
            self.book = learned
        return learned is not None


# --- what changed between two versions -----------------------------------------------------


def catalog_changes(old: Catalog, new: Catalog) -> list[str]:
    """What changed from `old` to `new`, one line per change: `+` added, `-` removed,
    `~` changed; services as `<service>@<agency>`."""
    lines: list[str] = []
    for code in sorted(new.calendars.keys() - old.calendars.keys()):
        lines.append(f"+ calendar {code}")
    for code in sorted(old.calendars.keys() - new.calendars.keys()):
        lines.append(f"- calendar {code}")
    for code in sorted(old.calendars.keys() & new.calendars.keys()):
        if old.calendars[code] != new.calendars[code]:
            lines.append(f"~ calendar {code}: hours, holidays or days off changed")
    for code in sorted(new.agencies.keys() - old.agencies.keys()):
        lines.append(f"+ agency {code}")
    for code in sorted(old.agencies.keys() - new.agencies.keys()):
        lines.append(f"- agency {code}")
    for code in sorted(old.agencies.keys() & new.agencies.keys()):
        before, after = old.agencies[code], new.agencies[code]
        if before != after:
            lines.append(f"~ agency {code}: {_pairs(before.__dict__, after.__dict__)}")
    for key in [k for k in new.services if k not in old.services]:
        lines.append(f"+ service {_label(key)}")
    for key in [k for k in old.services if k not in new.services]:
        lines.append(f"- service {_label(key)}")
    for key in [k for k in new.services if k in old.services]:
        lines.extend(_service_changes(old.services[key], new.services[key]))
    return lines


def _label(key: tuple[str, str]) -> str:
    return f"{key[1]}@{key[0]}"


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, frozenset | set):
        return "[" + ", ".join(sorted(str(v) for v in value)) + "]"
    return str(value)


def _pairs(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{name} {_shown(before[name])} -> {_shown(after[name])}"
        for name in before
        if not name.startswith("_") and before[name] != after.get(name)
    )


def _service_changes(old: Service, new: Service) -> list[str]:
    label = f"service {new.code}@{new.agency}"
    lines = _field_changes(label, old, new, _FIELDS_BEFORE_STEPS)
    old_steps = {step.code: step for step in old.steps}
    new_steps = {step.code: step for step in new.steps}
    for code in [c for c in new_steps if c not in old_steps]:
        lines.append(f"~ {label}: + step {code}")
    for code in [c for c in old_steps if c not in new_steps]:
        lines.append(f"~ {label}: - step {code}")
    for code in [c for c in new_steps if c in old_steps]:
        lines.extend(_step_changes(label, old_steps[code], new_steps[code]))
    lines.extend(_field_changes(label, old, new, _FIELDS_AFTER_STEPS))
    return lines


def _fee(fee: Fee) -> str:
    return f"{fee.min}" if fee.is_fixed else f"{fee.min}-{fee.max}"


# The fields of a service a change names, in the order it names them: how each is called, what
# is compared, and how a value is shown (None: the change is only said to have happened).
_Field = tuple[str, Callable[[Service], Any], Callable[[Any], str] | None]
_FIELDS_BEFORE_STEPS: tuple[_Field, ...] = (
    ("name", lambda service: service.name, repr),
    ("limit (sla)", lambda service: service.sla, _shown),
    ("fee", lambda service: service.fee, _fee),
)
_FIELDS_AFTER_STEPS: tuple[_Field, ...] = (
    ("allowed transitions (next)", lambda service: dict(service.next), None),
    ("mandatory", lambda service: service.mandatory, _shown),
    ("separate", lambda service: service.separate, lambda separate: str(list(separate))),
    ("deemed approval", lambda service: service.deemed_approval, None),
    ("oversight thresholds", lambda service: service.oversight, None),
)


def _field_changes(label: str, old: Service, new: Service, fields: tuple[_Field, ...]) -> list[str]:
    lines = []
    for title, value, shown in fields:
        before, after = value(old), value(new)
        if before != after:
            change = "changed" if shown is None else f"{shown(before)} -> {shown(after)}"
            lines.append(f"~ {label}: {title} {change}")
    return lines


def _step_changes(label: str, old: Step, new: Step) -> list[str]:
    if old == new:
        return []
    lines = []
    if old.sla != new.sla or old.sla_from != new.sla_from:
        lines.append(f"~ {label}: step {new.code} limit (sla) {_limit(old)} -> {_limit(new)}")
    rest = {
        name: value
        for name, value in old.__dict__.items()
        if name not in ("sla", "sla_from") and value != new.__dict__[name]
    }
    if rest:
        lines.append(
            f"~ {label}: step {new.code} "
            + ", ".join(
                f"{name} {_shown(value)} -> {_shown(new.__dict__[name])}"
                for name, value in rest.items()
            )
        )
    return lines


def _limit(step: Step) -> str:
    if step.sla is None:
        return "none"
    return f"{step.sla} from {step.sla_from}" if step.sla_from else str(step.sla)


def version_summary(version: StandardVersion) -> str:
    """One line about a version: number, hash, validity, who published it and when."""
    return (
        f"version {version.number}  {version.content_hash[:19]}  "
        f"valid from {format_rfc3339(version.valid_from)}  "
        f"published {format_rfc3339(version.published_at)} by {version.published_by or '?'}  "
        f"({len(version.catalog.services)} services)"
    )


def versions_in(book: StandardsBook, numbers: Sequence[int]) -> list[StandardVersion]:
    """The versions of `book` named by `numbers`; raises KeyError naming a missing one."""
    found = []
    for number in numbers:
        version = book.version(number)
        if version is None:
            raise KeyError(f"no standards version {number}")
        found.append(version)
    return found
