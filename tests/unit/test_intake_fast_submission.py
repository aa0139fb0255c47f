"""The intake's fast path agrees with the models on every body.

`FastSubmission.records` may only accept what `decode_body`, `check_agency`, `validate_events`
and `to_records` accept, and then must give the very same records (key, value bytes, event id);
on everything else it defers (None) and the models refuse with their status and messages. The
bodies are generated: valid events of every shape, each broken in one place, batches, members
given twice, escapes; and the common valid event must be taken by the fast path itself.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantau.core.catalog import load_catalog
from pantau.core.pseudonym import PseudonymKey
from pantau.settings import SAMPLE_CATALOG
from pantau_intake.domain.fast_submission import FastSubmission
from pantau_intake.domain.publishing import OutgoingRecord
from pantau_intake.domain.submission import (
    Rejection,
    check_agency,
    decode_body,
    to_records,
    validate_events,
)
from samples import AGENCY, REQUIRED_EVENT_FIELDS

CATALOG = load_catalog(SAMPLE_CATALOG)
KEY = PseudonymKey(b"unit-test-pseudonym-key-0123", "k3")
FAST = FastSubmission(CATALOG, KEY)
OTHER_AGENCY = "kab-sleman.dpmptsp"
STEPS = [
    (service.agency, service.code, step.code)
    for service in CATALOG.services.values()
    for step in service.steps
]
OWN_STEPS = [step for step in STEPS if step[0] == AGENCY]

_PRINTABLE = st.characters(blacklist_categories=["Cs"]) | st.sampled_from(" \x7f\x85:")
_TEXT = st.characters(blacklist_categories=["Cs"]) | st.sampled_from("\t\n\r\x00\x1f:")
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_TEXT, max_size=20)
    | st.sampled_from(["1234567890123456", "x 1234567890123456 y", "[REDACTED]", "", "a:b"])
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(_TEXT, max_size=8) | st.sampled_from(["nik", "NIK", "applicant", "a:b"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=14,
)
# Mostly ids as agencies write them, so that the other fields get checked too; else any text.
_CASE_IDS = (
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ./:_-]{0,40}", fullmatch=True)
    | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ./:_-]{0,40}", fullmatch=True)
    | st.text(_PRINTABLE, min_size=1, max_size=130)
)
_AMOUNT = st.from_regex(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?", fullmatch=True)


def _timestamps() -> st.SearchStrategy[str]:
    moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
    offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)
    fractions = st.sampled_from(["", "3", "3z", "6", "6z", "9"])

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

    return st.builds(text, moments, offsets, fractions) | st.sampled_from(
        ["2026-11-27T09:15:00+07:00", "2026-11-27T02:15:00+00:00", "2026-11-27t09:15:00z"]
    )


@st.composite
def documents(draw: st.DrawFn, steps: list[tuple[str, str, str]] = OWN_STEPS) -> dict[str, Any]:
    """An event of the key's agency, of any shape the contract allows (some are refused: a
    step without its officer or reason, a NIK-like ref, an assessment without its amount)."""
    agency, service, step = draw(st.sampled_from(steps))
    document: dict[str, Any] = {
        "event_id": draw(st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True)),
        "agency": agency,
        "service": service,
        "case_id": draw(_CASE_IDS),
        "step": step,
        "occurred_at": draw(_timestamps()),
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "seq": st.integers(min_value=1, max_value=2**63 - 1) | st.none(),
        "officer": st.fixed_dictionaries(
            {
                "id": st.from_regex(r"[A-Za-z0-9._:@-]{1,64}", fullmatch=True),
                "role": st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,63}", fullmatch=True),
            }
        )
        | st.none(),
        "applicant": st.fixed_dictionaries({"nik": st.from_regex(r"[0-9]{16}", fullmatch=True)})
        | st.fixed_dictionaries(
            {"ref": st.text(_PRINTABLE, min_size=1, max_size=40)},
            optional={"nik": st.none()},
        )
        | st.fixed_dictionaries(
            {"nik": st.from_regex(r"[0-9]{16}", fullmatch=True)}, optional={"ref": st.none()}
        )
        | st.none(),
        "payment": st.fixed_dictionaries(
            {"amount": _AMOUNT},
            optional={
                "currency": st.just("IDR"),
                "receipt": st.text(_PRINTABLE, min_size=1, max_size=30) | st.none(),
                "channel": st.sampled_from(["bank", "online", "cash", "counter"]) | st.none(),
            },
        )
        | st.none(),
        "reason": st.text(_TEXT, min_size=1, max_size=200) | st.none(),
        "channel": st.sampled_from(["online", "counter", "mobile", "other"]) | st.none(),
        "mode": st.sampled_from(["live", "backfill"]),
        "attributes": st.dictionaries(
            st.text(_TEXT, max_size=10) | st.sampled_from(["nik", "applicant"]), _JSON, max_size=6
        )
        | st.fixed_dictionaries({"assessed_amount": _AMOUNT | st.just(150000) | st.just("-1")}),
    }
    for name, strategy in optional.items():
        # An officer and a reason are given more often: many steps require them.
        often = name in ("officer", "reason")
        if draw(st.sampled_from([True, True, False] if often else [True, False])):
            document[name] = draw(strategy)
    return document


# Values that break a field (or its nested fields) one way or another.
_WRONG = st.sampled_from(
    [
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
        "pbg",
        "submitted",
        AGENCY,
        OTHER_AGENCY,
        "KOTA-MALANG.DPMPTSP",
        "1234567890123456",
        "123456789012345a",
        "１２３４５６７８９０１２３４５６",
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
        "a\n",
        "\u2028",
        "x" * 129,
        "x" * 2001,
        [],
        {},
        {"id": "OP1"},
        {"id": "OP1", "role": "operator", "x": 1},
        {"id": "OP 1", "role": "operator"},
        {"ref": "k1:1234567890123456"},
        {"ref": "ok", "nik": "1234567890123456"},
        {"ref": None, "nik": None},
        {"nik": "1234567890123456", "x": 1},
        {"amount": 150000},
        {"amount": "150000", "currency": None},
        {"amount": "150000", "receipt": "a\tb"},
        {"nik": "1234567890123456"},
        {"applicant": {"no": 1234567890123456}},
        {"big": "x" * 9000},
        {"deep": json.loads("[" * 20 + "1" + "]" * 20)},
        {"assessed_amount": "1.5e3"},
    ]
)
_FIELDS = [
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
    "nik",
    "events",
]


@st.composite
def broken_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A document with one field (or one nested field) replaced, removed or added."""
    document = draw(documents(STEPS))
    field = draw(st.sampled_from(_FIELDS))
    action = draw(st.sampled_from(["replace", "remove", "nested"]))
    if action == "remove":
        document.pop(field, None)
    elif action == "nested" and isinstance(document.get(field), dict) and document[field]:
        inner = draw(st.sampled_from(sorted(document[field])))
        document[field] = {**document[field], inner: draw(_WRONG)}
    else:
        document[field] = draw(_WRONG)
    return document


def _slow(body: bytes, agency: str = AGENCY) -> list[OutgoingRecord] | Rejection:
    """What the models decide (before the rate limit, which both ways take alike)."""
    try:
        items = decode_body(body)
        check_agency(items, agency)
        return to_records(validate_events(items, CATALOG), KEY)
    except Rejection as refusal:
        return refusal


def _agrees(body: bytes, agency: str = AGENCY) -> bool:
    """Checks the fast path against the models; True when the fast path took the body."""
    slow = _slow(body, agency)
    fast = FAST.records(body, agency)
    if fast is None:
        return False
    assert not isinstance(slow, Rejection), (body, slow)
    assert fast == slow, body
    return True


def _plain(value: Any, depth: int = 0) -> bool:
    """Attributes the fast path writes itself: no floats, no integer beyond 64 bits, at most
    16 levels deep."""
    if isinstance(value, dict):
        return depth < 16 and all(_plain(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return depth < 16 and all(_plain(v, depth + 1) for v in value)
    if isinstance(value, int):
        return -(2**63) <= value <= 2**63 - 1
    return not isinstance(value, float)


def _dumps(document: Any, ascii_only: bool, spaced: bool) -> bytes:
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(document, ensure_ascii=ascii_only, separators=separators).encode("utf-8")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(documents(), min_size=1, max_size=4),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_valid_bodies_are_taken_fast_with_the_records_the_models_give(
    events: list[dict[str, Any]], batched: bool, ascii_only: bool, spaced: bool
) -> None:
    document: Any = {"events": events} if batched or len(events) > 1 else events[0]
    body = _dumps(document, ascii_only, spaced)
    taken = _agrees(body)
    if not isinstance(_slow(body), Rejection) and all(
        _plain(event.get("attributes", {})) for event in events
    ):
        assert taken, f"the fast path deferred a valid body: {body!r}"


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_documents(), st.booleans(), st.booleans())
def test_broken_events_are_never_taken_by_the_fast_path_alone(
    document: dict[str, Any], batched: bool, ascii_only: bool
) -> None:
    body = _dumps({"events": [document]} if batched else document, ascii_only, False)
    _agrees(body)
    _agrees(body, OTHER_AGENCY)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents(), min_size=1, max_size=3), st.data())
def test_a_member_given_twice_is_left_to_the_models(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Written by hand so that one object of the body has a member twice (at any level): the
    models refuse it with 400, so the fast path must not take it."""
    target = data.draw(st.integers(0, len(events) - 1))
    objects: list[tuple[int, tuple[str, ...]]] = [(target, ())]
    for name, value in events[target].items():
        if isinstance(value, dict) and value:
            objects.append((target, (name,)))
    where = data.draw(st.sampled_from(objects))[1]
    extra = data.draw(_SCALARS | st.just(None))

    def write(value: Any, path: tuple[str, ...], inside: tuple[str, ...]) -> str:
        if not isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False)
        members = [
            f"{json.dumps(k, ensure_ascii=False)}:{write(v, path, (*inside, k))}"
            for k, v in value.items()
        ]
        if inside == path and members:
            name = data.draw(st.sampled_from(sorted(value)))
            members.insert(
                data.draw(st.integers(0, len(members))),
                f"{json.dumps(name, ensure_ascii=False)}:"
                f"{json.dumps(data.draw(st.sampled_from([value[name], extra])))}",
            )
        return "{" + ",".join(members) + "}"

    written = [
        write(event, where, ()) if i == target else json.dumps(event)
        for i, event in enumerate(events)
    ]
    body = ("{" + '"events":[' + ",".join(written) + "]}").encode("utf-8")
    refusal = _slow(body)
    assert isinstance(refusal, Rejection)
    assert refusal.status == 400
    assert FAST.records(body, AGENCY) is None


def _event(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "event_id": "kota-malang.dpmptsp:C-1:submitted",
        "agency": AGENCY,
        "service": "pbg",
        "case_id": "C-1",
        "step": "submitted",
        "occurred_at": "2026-11-27T09:15:00+07:00",
        "applicant": {"nik": "3573010000000001"},
        "channel": "online",
    }
    document.update(changes)
    return document


SUBMITTED = json.dumps(_event(), separators=(",", ":")).encode()


def test_the_common_event_and_batch_are_taken_fast() -> None:
    assert _agrees(SUBMITTED)
    batch = {"events": [_event(case_id=f"C-{i}", event_id=f"e{i}") for i in range(100)]}
    assert _agrees(json.dumps(batch).encode())
    records = FAST.records(SUBMITTED, AGENCY)
    assert records is not None
    assert b"3573010000000001" not in records[0].value  # the NIK is pseudonymised
    assert KEY.pseudonymise("3573010000000001").encode() in records[0].value


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b"{}",
        b'{"events":[]}',
        b'{"events":{}}',
        b'{"events":null}',
        b"\xef\xbb\xbf" + SUBMITTED,
        SUBMITTED + b"x",
        SUBMITTED.replace(b"C-1", b"C\xff1"),
        SUBMITTED.replace(b'"channel":"online"', b'"channel":"online","channel":"online"'),
        SUBMITTED.replace(b'"channel":"online"', b'"channel":"online","channel":null'),
        # A member twice, and an escaped colon that would make the colons add up again.
        SUBMITTED.replace(b'"channel":"online"', b'"channel":"online","channel":"online"').replace(
            b"C-1", b"C\\u003a1", 1
        ),
        SUBMITTED.replace(b"C-1", b"C\\u003A1"),
        SUBMITTED.replace(b'"channel":"online"', b'"attributes":{"a":1,"a":1}'),
        SUBMITTED.replace(b'"channel":"online"', b'"attributes":{"a":NaN}'),
        SUBMITTED.replace(b'"channel":"online"', b'"attributes":{"a":1e400}'),
        SUBMITTED.replace(b'"channel":"online"', b'"attributes":{"a":1.5}'),
        SUBMITTED.replace(b'"channel":"online"', b'"attributes":{"a":18446744073709551616}'),
        SUBMITTED.replace(b'"channel":"online"', b'"attributes":{"a":"\\ud800"}'),
        SUBMITTED.replace(b'"channel":"online"', b'"seq":1.0'),
        SUBMITTED.replace(b'"channel":"online"', b'"seq":true'),
        SUBMITTED.replace(b'"channel":"online"', b'"mode":null'),
        SUBMITTED.replace(b'"channel":"online"', b'"attributes":null'),
        SUBMITTED.replace(b'"C-1"', b'"C-1\\n"'),
        SUBMITTED.replace(b"3573010000000001", b"357301000000000\\u0031"),
        b'{"events":[' + SUBMITTED + b"]," + b'"events":[' + SUBMITTED + b"]}",
        b'{"events":[' + SUBMITTED + b'],"extra":1}',
        b'{"events":[' + b",".join([SUBMITTED] * 1001) + b"]}",
        b'{"events":[' + SUBMITTED + b"," + b'"x"' + b"]}",
    ],
)
def test_crafted_bodies_agree(body: bytes) -> None:
    _agrees(body)
    _agrees(body, OTHER_AGENCY)


def test_an_escaped_colon_is_left_to_the_models_even_when_valid() -> None:
    body = SUBMITTED.replace(b"C-1", b"C\\u003a1")
    assert not isinstance(_slow(body), Rejection)
    assert FAST.records(body, AGENCY) is None


_TIMES_WRONG = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:59:59+01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:00:00-00:59",
        "9999-12-31T23:59:59Z",
        "2026-11-27T09:15:00",
        "2026-11-27T09:15:00+24:00",
        "2026-11-27T09:15:00+23:60",
        "2026-02-29T09:15:00Z",
        "2028-02-29T09:15:00Z",
        "2026-11-27T09:15:60Z",
        "2026-11-27T09:15:00.1Z",
        "2026-11-27T09:15:00.1234Z",
        "2026-11-27T09:15:00.000000000Z",
        "2026-11-27T09:15:00,5Z",
        "2026-11-27T09:15Z",
        "20261127T091500Z",
        "2026-11-27T09:15:00+0700",
        "2026-11-27T09:15:00 +07:00",
        "2026-11-27T09:15:00+07:00\n",
    ]
)


@settings(max_examples=600, deadline=None)
@given(_timestamps() | _TIMES_WRONG)
def test_times_agree(text: str) -> None:
    body = json.dumps(_event(occurred_at=text)).encode()
    taken = _agrees(body)
    assert taken or isinstance(_slow(body), Rejection), text


@pytest.mark.parametrize(
    ("amount", "valid"),
    [
        ("150000.00", True),
        ("0", True),
        (None, True),
        (150000, False),
        ("-1", False),
        ("1.5e3", False),
        ("01", False),
        ("150000.001", False),
    ],
)
def test_an_assessment_agrees(amount: Any, valid: bool) -> None:
    event = _event(step="fee_assessed", officer={"id": "OP1", "role": "operator"})
    event["attributes"] = {"assessed_amount": amount, "note": "x"}
    body = json.dumps(event).encode()
    assert _agrees(body) is valid
    assert isinstance(_slow(body), Rejection) is not valid
