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
from samples import AGENCY
from strategies import (
    AMOUNTS,
    broken_documents,
    event_documents,
    json_documents,
    json_scalars,
    optional_event_fields,
    plain_attributes,
    rfc3339_texts,
)

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
_SCALARS = json_scalars(_TEXT, ["a:b"])
_JSON = json_documents(_TEXT, ["a:b"])
# Mostly ids as agencies write them, so that the other fields get checked too; else any text.
_CASE_IDS = (
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ./:_-]{0,40}", fullmatch=True)
    | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ./:_-]{0,40}", fullmatch=True)
    | st.text(_PRINTABLE, min_size=1, max_size=130)
)


def _timestamps() -> st.SearchStrategy[str]:
    fractions = ["", "3", "3z", "6", "6z", "9"]
    return rfc3339_texts(datetime(1, 1, 2), datetime(9999, 12, 30), fractions) | st.sampled_from(
        ["2026-11-27T09:15:00+07:00", "2026-11-27T02:15:00+00:00", "2026-11-27t09:15:00z"]
    )


_OPTIONAL = optional_event_fields(_PRINTABLE, _TEXT, _JSON, r"[a-z0-9][a-z0-9_.-]{0,63}")
# An applicant by NIK too (the intake pseudonymises it), and assessed amounts, valid or not.
_NIK = st.from_regex(r"[0-9]{16}", fullmatch=True)
_OPTIONAL["applicant"] = (
    st.fixed_dictionaries({"nik": _NIK})
    | st.fixed_dictionaries(
        {"ref": st.text(_PRINTABLE, min_size=1, max_size=40)},
        optional={"nik": st.none()},
    )
    | st.fixed_dictionaries({"nik": _NIK}, optional={"ref": st.none()})
    | st.none()
)
_OPTIONAL["attributes"] |= st.fixed_dictionaries(
    {"assessed_amount": AMOUNTS | st.just(150000) | st.just("-1")}
)


def documents(steps: list[tuple[str, str, str]] = OWN_STEPS) -> st.SearchStrategy[dict[str, Any]]:
    """An event of the key's agency, of any shape the contract allows (some are refused: a
    step without its officer or reason, a NIK-like ref, an assessment without its amount).
    An officer and a reason are given more often: many steps require them."""
    return event_documents(steps, _CASE_IDS, _timestamps(), _OPTIONAL, ("officer", "reason"))


def broken() -> st.SearchStrategy[dict[str, Any]]:
    """A document with one field (or one nested field) replaced, removed or added; beside the
    values that break any event, those that break an event of the key's agency."""
    return broken_documents(
        documents(STEPS),
        ["nik", "events"],
        [
            "pbg",
            "submitted",
            AGENCY,
            OTHER_AGENCY,
            "KOTA-MALANG.DPMPTSP",
            "123456789012345a",
            "１２３４５６７８９０１２３４５６",
            "a\n",
            {"id": "OP 1", "role": "operator"},
            {"ref": None, "nik": None},
            {"nik": "1234567890123456", "x": 1},
            {"amount": "150000", "receipt": "a\tb"},
            {"assessed_amount": "1.5e3"},
        ],
    )


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
        plain_attributes(event.get("attributes", {}), 2**63 - 1) for event in events
    ):
        assert taken, f"the fast path deferred a valid body: {body!r}"


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken(), st.booleans(), st.booleans())
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


@pytest.mark.parametrize(
    "member",
    [
        b'"attributes":{"a":1,"a":1}',
        b'"attributes":{"a":NaN}',
        b'"attributes":{"a":1e400}',
        b'"attributes":{"a":1.5}',
        b'"attributes":{"a":18446744073709551616}',
        b'"attributes":{"a":"\\ud800"}',
        b'"seq":1.0',
        b'"seq":true',
        b'"mode":null',
        b'"attributes":null',
    ],
)
def test_bodies_with_a_crafted_member_agree(member: bytes) -> None:
    """The common event with its `channel` member replaced by `member`."""
    body = SUBMITTED.replace(b'"channel":"online"', member)
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
