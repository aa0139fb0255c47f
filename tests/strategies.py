"""Hypothesis strategies the tests share."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from samples import REQUIRED_EVENT_FIELDS


def rfc3339_texts(
    earliest: datetime, latest: datetime, fractions: Sequence[str] = ("", "3", "6", "9")
) -> st.SearchStrategy[str]:
    """Timestamps as an event may carry them: RFC 3339 text of a wall time from `earliest` to
    `latest` (naive), with no fraction or one of 3, 6 or 9 digits, and `Z` or an offset.

    `fractions` names the fractions drawn from: "" (none), "3", "6" and "9" digits of the wall
    time, "3z" (three zeros) and "6z" (the milliseconds written with six digits)."""
    moments = st.datetimes(min_value=earliest, max_value=latest)
    offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)

    def text(moment: datetime, offset: int, fraction: str) -> str:
        base = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
        if fraction == "3":
            base += f".{moment.microsecond // 1000:03d}"
        elif fraction == "3z":
            base += ".000"
        elif fraction == "6":
            base += f".{moment.microsecond:06d}"
        elif fraction == "6z":
            base += f".{moment.microsecond // 1000:03d}000"
        elif fraction == "9":
            base += f".{moment.microsecond:06d}789"
        if offset == 0:
            return base + "Z"
        sign = "-" if offset < 0 else "+"
        return base + f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"

    return st.builds(text, moments, offsets, st.sampled_from(list(fractions)))


# --- event documents, whole and broken, for the fast readings' tests --------------------------


def json_scalars(
    characters: st.SearchStrategy[str], extra: Sequence[str] = ()
) -> st.SearchStrategy[Any]:
    """JSON scalars of every kind (integers beyond 64 bits and floats too), texts of
    `characters`, and texts that look like a NIK, plus the texts `extra`."""
    return (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(characters, max_size=20)
        | st.sampled_from(["1234567890123456", "x 1234567890123456 y", "[REDACTED]", "", *extra])
    )


def json_documents(
    characters: st.SearchStrategy[str], extra: Sequence[str] = ()
) -> st.SearchStrategy[Any]:
    """JSON values nested from `json_scalars(characters, extra)`, with keys of `characters`,
    NIK-ish keys and the keys `extra`."""
    return st.recursive(
        json_scalars(characters, extra),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.text(characters, max_size=8)
                | st.sampled_from(["nik", "NIK", "applicant", *extra]),
                children,
                max_size=4,
            )
        ),
        max_leaves=14,
    )


EVENT_IDS = st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True)
AMOUNTS = st.from_regex(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?", fullmatch=True)


def optional_event_fields(
    printable: st.SearchStrategy[str],
    characters: st.SearchStrategy[str],
    attribute_values: st.SearchStrategy[Any],
    roles: str,
) -> dict[str, st.SearchStrategy[Any]]:
    """The optional fields of an event, each with the values it may take (null included where
    allowed): texts of `printable` or `characters`, officer roles matching `roles`, an applicant
    by `ref`, and `attributes` of `attribute_values`."""
    return {
        "seq": st.integers(min_value=1, max_value=2**63 - 1) | st.none(),
        "officer": st.fixed_dictionaries(
            {
                "id": st.from_regex(r"[A-Za-z0-9._:@-]{1,64}", fullmatch=True),
                "role": st.from_regex(roles, fullmatch=True),
            }
        )
        | st.none(),
        "applicant": st.fixed_dictionaries({"ref": st.text(printable, min_size=1, max_size=40)})
        | st.none(),
        "payment": st.fixed_dictionaries(
            {"amount": AMOUNTS},
            optional={
                "currency": st.just("IDR"),
                "receipt": st.text(printable, min_size=1, max_size=30) | st.none(),
                "channel": st.sampled_from(["bank", "online", "cash", "counter"]) | st.none(),
            },
        )
        | st.none(),
        "reason": st.text(characters, min_size=1, max_size=200) | st.none(),
        "channel": st.sampled_from(["online", "counter", "mobile", "other"]) | st.none(),
        "mode": st.sampled_from(["live", "backfill"]),
        "attributes": st.dictionaries(
            st.text(characters, max_size=10) | st.sampled_from(["nik", "applicant"]),
            attribute_values,
            max_size=6,
        ),
    }


@st.composite
def event_documents(
    draw: st.DrawFn,
    steps: Sequence[tuple[str, str, str]],
    case_ids: st.SearchStrategy[str],
    timestamps: st.SearchStrategy[str],
    optional: Mapping[str, st.SearchStrategy[Any]],
    often: Collection[str] = (),
) -> dict[str, Any]:
    """An event of one of `steps` (agency, service, step), with a case id of `case_ids`, an
    `occurred_at` of `timestamps`, and each field of `optional` given half the time (those
    named in `often`, two times in three)."""
    agency, service, step = draw(st.sampled_from(list(steps)))
    document: dict[str, Any] = {
        "event_id": draw(EVENT_IDS),
        "agency": agency,
        "service": service,
        "case_id": draw(case_ids),
        "step": step,
        "occurred_at": draw(timestamps),
    }
    for name, strategy in optional.items():
        if draw(st.sampled_from([True, True, False] if name in often else [True, False])):
            document[name] = draw(strategy)
    return document


# Values that break an event field (or its nested fields) one way or another.
_WRONG_VALUES: list[Any] = [
    None,
    True,
    0,
    1,
    -1,
    1.0,
    2**63,
    "",
    " ",
    "x",
    "live",
    "IDR",
    "USD",
    "1234567890123456",
    "2026-11-27T09:15:00",
    "2026-11-27 09:15:00+07:00",
    "2026-11-27T09:15:00+24:00",
    "2026-02-30T09:15:00Z",
    "2026-11-27T09:15:00.1234567890Z",
    "2026-11-27T24:00:00Z",
    "2026-11-27T09:15:60Z",
    "2026-11-27T09:15:00.5+07:00",
    "2026-11-27T09:15:00+05:60",
    "2026-11-27T09:15:00-00:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "２０２６-11-27T09:15:00Z",
    "150000.001",
    "-1",
    "01",
    "a\nb",
    "a\x00b",
    "\u2028",
    "x" * 129,
    "x" * 2001,
    [],
    {},
    {"id": "OP1"},
    {"id": "OP1", "role": "operator", "x": 1},
    {"ref": "k1:1234567890123456"},
    {"ref": "ok", "nik": "1234567890123456"},
    {"amount": 150000},
    {"amount": "150000", "currency": None},
    {"nik": "1234567890123456"},
    {"applicant": {"no": 1234567890123456}},
    {"big": "x" * 9000},
    {"deep": json.loads("[" * 20 + "1" + "]" * 20)},
]
# The fields of an event, and one it does not have.
_EVENT_FIELDS = (
    *REQUIRED_EVENT_FIELDS,
    "seq",
    "officer",
    "applicant",
    "payment",
    "reason",
    "channel",
    "mode",
    "attributes",
    "unknown",
)


@st.composite
def broken_documents(
    draw: st.DrawFn,
    documents: st.SearchStrategy[dict[str, Any]],
    extra_fields: Sequence[str] = (),
    extra_wrong: Sequence[Any] = (),
) -> dict[str, Any]:
    """A document of `documents` with one field (or one nested field) replaced by a value that
    breaks it, removed or added: the fields of an event and `extra_fields`; the values that
    break any event and `extra_wrong`."""
    document = draw(documents)
    field = draw(st.sampled_from([*_EVENT_FIELDS, *extra_fields]))
    wrong = st.sampled_from([*_WRONG_VALUES, *extra_wrong])
    action = draw(st.sampled_from(["replace", "remove", "nested"]))
    if action == "remove":
        document.pop(field, None)
    elif action == "nested" and isinstance(document.get(field), dict) and document[field]:
        inner = draw(st.sampled_from(sorted(document[field])))
        document[field] = {**document[field], inner: draw(wrong)}
    else:
        document[field] = draw(wrong)
    return document


def plain_attributes(value: Any, int_max: int, depth: int = 0) -> bool:
    """Attributes a fast reading writes itself: no floats, no integer below -2**63 or above
    `int_max`, at most 16 levels deep."""
    if isinstance(value, dict):
        return depth < 16 and all(plain_attributes(v, int_max, depth + 1) for v in value.values())
    if isinstance(value, list):
        return depth < 16 and all(plain_attributes(v, int_max, depth + 1) for v in value)
    if isinstance(value, int):
        return -(2**63) <= value <= int_max
    return not isinstance(value, float)
