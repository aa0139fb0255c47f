"""NIK pseudonyms, and detection and redaction of raw NIKs in payloads that may be malformed."""

from __future__ import annotations

import hashlib
import hmac
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantau.core.pseudonym import (
    PseudonymKey,
    contains_raw_nik,
    document_contains_raw_nik,
    has_standalone_nik_run,
    is_valid_nik,
    pseudonymise_nik,
    redact_nik,
)
from strategies import json_documents

KEY = b"unit-test-pseudonym-key-32-bytes"
NIK = "3507123456780001"
NIP = "198702142010011003"


# --- pseudonyms ----------------------------------------------------------------------------------


def test_pseudonym_is_version_colon_hmac_sha256_hex() -> None:
    """The pseudonym is `<version>:<hex HMAC-SHA256(key, nik)>`."""
    expected = hmac.new(KEY, NIK.encode(), hashlib.sha256).hexdigest()
    assert pseudonymise_nik(NIK, KEY) == f"k1:{expected}"
    assert pseudonymise_nik(NIK, KEY, "k2") == f"k2:{expected}"


def test_pseudonym_is_pinned() -> None:
    """The pseudonym of a fixed NIK under a fixed key never changes (refs link cases over years)."""
    assert pseudonymise_nik(NIK, KEY) == (
        "k1:b69a150cc368008798a7b6a2bceb98047e335dbe5583bb3e1c5bcc63ae35c253"
    )


def test_pseudonym_depends_on_nik_and_key() -> None:
    """Different NIKs or different keys give different pseudonyms."""
    assert pseudonymise_nik(NIK, KEY) != pseudonymise_nik("3507123456780002", KEY)
    assert pseudonymise_nik(NIK, KEY) != pseudonymise_nik(NIK, b"another-key-of-sufficient-size")


@pytest.mark.parametrize(
    "nik",
    ["350712345678000", "35071234567800012", "35071234567800a1", "", " " + NIK[1:], int(NIK)],
)
def test_pseudonymise_rejects_an_invalid_nik_without_echoing_it(nik: object) -> None:
    """A malformed NIK is a ValueError with a fixed message that does not contain the input."""
    with pytest.raises(ValueError, match="16 digits") as caught:
        pseudonymise_nik(nik, KEY)  # type: ignore[arg-type]
    assert str(caught.value) == "a NIK is exactly 16 digits (0-9)"


@pytest.mark.parametrize("key", [b"", b"short", b"x" * 15, "a-text-key-not-bytes-32"])
def test_pseudonymise_rejects_a_short_key(key: object) -> None:
    """The key must be bytes of at least 16."""
    with pytest.raises(ValueError, match="at least 16 bytes"):
        pseudonymise_nik(NIK, key)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["", "k:1", "k 1", "v" * 17, "k1\n"])
def test_pseudonymise_rejects_a_bad_version(version: str) -> None:
    """The version is 1-16 characters of A-Za-z0-9_- and cannot contain the ':' separator."""
    with pytest.raises(ValueError, match="version"):
        pseudonymise_nik(NIK, KEY, version)


def test_pseudonym_key_hides_the_secret() -> None:
    """PseudonymKey's repr and str show the version but never the secret."""
    key = PseudonymKey(KEY, "k3")
    assert KEY.decode() not in repr(key)
    assert KEY.decode() not in str(key)
    assert "k3" in repr(key)
    assert key.pseudonymise(NIK) == pseudonymise_nik(NIK, KEY, "k3")


def test_pseudonym_key_is_checked_when_made() -> None:
    """A PseudonymKey with a short secret or bad version cannot be made."""
    with pytest.raises(ValueError, match="at least 16 bytes"):
        PseudonymKey(b"short")
    with pytest.raises(ValueError, match="version"):
        PseudonymKey(KEY, "k:1")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (NIK, True),
        ("0000000000000000", True),
        ("350712345678000", False),
        ("35071234567800012", False),
        ("35071234567800a1", False),
        (NIK + "\n", False),
        ("３５０７１２３４５６７８０００１", False),
        (3507123456780001, False),
        (None, False),
    ],
)
def test_is_valid_nik(value: object, valid: bool) -> None:
    """A valid NIK is a string of exactly 16 ASCII digits."""
    assert is_valid_nik(value) is valid


def test_pseudonyms_never_look_like_a_raw_nik() -> None:
    """Digit runs inside the hex digest touch letters, so a pseudonym never trips the NIK check."""
    rng = random.Random(20261127)
    for _ in range(2000):
        nik = "".join(rng.choice("0123456789") for _ in range(16))
        ref = pseudonymise_nik(nik, KEY)
        assert not has_standalone_nik_run(ref)
        assert not contains_raw_nik(json.dumps({"applicant": {"ref": ref}}))


# --- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"applicant": {"nik": NIK}},
        {"applicant": {"nik": "35071234"}},
        {"applicant": {"nik": int(NIK)}},
        {"applicant": {"NIK": NIK}},
        {"attributes": {"pemohon": {"nik": NIK}}},
        {"attributes": {"list": [{"Nik": NIK}]}},
        {"applicant": {"ref": NIK}},
        {"applicant": {"ref": "NIK " + NIK}},
        {"applicant": {"id": int(NIK)}},
        {"attributes": {"applicant": [{"no": NIK}]}},
    ],
)
def test_contains_raw_nik_finds_nik_keys_and_applicant_runs(payload: object) -> None:
    """Any value under a nik key, or a 16-digit run under an applicant key, is found."""
    assert contains_raw_nik(json.dumps(payload))
    assert contains_raw_nik(json.dumps(payload).encode())


@pytest.mark.parametrize(
    "payload",
    [
        {"officer": {"id": NIP}},
        {"applicant": {"ref": NIP}},
        {"applicant": {"ref": "k1:" + "1234567890123456" + "ab" * 24}},
        {"applicant": {"ref": "12345678901234567"}},
        {"case_id": NIK, "event_id": f"a:{NIK}:1", "reason": f"nomor {NIK}"},
        {"applicant": {"nik": None}},
        {"applicant": {"nik": ""}},
        {"applicant": {"nik": "[REDACTED]"}},
        {"nikah": NIK, "teknik": NIK},
        {},
    ],
)
def test_contains_raw_nik_ignores_other_digit_runs(payload: object) -> None:
    """NIPs, hex digests, 17-digit runs, runs outside the applicant and empty niks are not NIKs."""
    assert not contains_raw_nik(json.dumps(payload))


def _judged_by_the_contract(
    value: object, under_nik: bool = False, under_app: bool = False
) -> bool:
    """The contract's judgement written out plainly: a present value under a nik key, or a
    standalone 16-digit run (or a 16-digit number) under an applicant key."""
    if isinstance(value, dict):
        return any(
            _judged_by_the_contract(
                child, under_nik or key.lower() == "nik", under_app or key.lower() == "applicant"
            )
            for key, child in value.items()
        )
    if isinstance(value, list):
        return any(_judged_by_the_contract(child, under_nik, under_app) for child in value)
    if under_nik and value not in (None, "", "[REDACTED]") and not isinstance(value, bool):
        return True
    if under_app and isinstance(value, str):
        return has_standalone_nik_run(value)
    return under_app and type(value) is int and len(str(value)) == 16 and value > 0


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=json_documents(st.sampled_from("nikNIKap 0123456789"), [NIK, "Applicant"]))
def test_a_parsed_document_is_judged_as_the_contract_says(document: object) -> None:
    """Generated documents, NIK-ish keys and values at any depth: the one-loop walk agrees with
    the judgement written out plainly."""
    assert document_contains_raw_nik(document) is _judged_by_the_contract(document)


@pytest.mark.parametrize(
    ("payload", "found"),
    [
        (b'{"applicant": {"nik": "3507123456780001", ', True),
        (b'{"applicant": {"nik": 35', True),
        (b'{"case_id": "3507123456780001", broken', True),
        (b'{"applicant": {"nik": null, broken', False),
        (b'{"applicant": {"nik": "[REDACTED]", broken', False),
        (b'{"officer": {"id": "198702142010011003"}, broken', False),
        (b"\xff\xfe not utf-8 3507123456780001", True),
        (b"\xff\xfe not utf-8", False),
    ],
)
def test_contains_raw_nik_is_conservative_on_malformed_input(payload: bytes, found: bool) -> None:
    """Without a parse, a nik member or a standalone 16-digit run anywhere counts."""
    assert contains_raw_nik(payload) is found


def test_has_standalone_nik_run() -> None:
    """Exactly 16 digits with no letter or digit touching them."""
    assert has_standalone_nik_run(NIK)
    assert has_standalone_nik_run(f"x-{NIK}_y")
    assert not has_standalone_nik_run(NIP)
    assert not has_standalone_nik_run(f"PBG{NIK}")
    assert not has_standalone_nik_run(f"{NIK}a")
    assert not has_standalone_nik_run(NIK[:15])


# --- redaction -----------------------------------------------------------------------------------


def test_redact_replaces_a_nik_value_in_place() -> None:
    """The nik value becomes "[REDACTED]" and the rest of the bytes stay as received."""
    raw = b'{"event_id": "e1",\n "applicant": {"nik": "3507123456780001"}}'
    assert redact_nik(raw) == b'{"event_id": "e1",\n "applicant": {"nik": "[REDACTED]"}}'


def test_redact_leaves_an_18_digit_nip_alone() -> None:
    """Officer NIPs (18 digits) and 17-digit runs are not NIKs and stay untouched."""
    raw = json.dumps(
        {
            "officer": {"id": NIP, "role": "verifier"},
            "case_id": "12345678901234567",
            "applicant": {"nik": NIK},
        }
    ).encode()
    redacted = redact_nik(raw)
    assert NIP.encode() in redacted
    assert b"12345678901234567" in redacted
    assert NIK.encode() not in redacted


def test_redact_leaves_ids_with_embedded_digit_runs_alone() -> None:
    """16 digits glued to letters or other digits (ids, hex digests) are not redacted."""
    raw = json.dumps(
        {
            "event_id": f"PBG{NIK}:1",
            "case_id": f"{NIK}9",
            "applicant": {"ref": "k1:" + "1234567890123456" + "ab" * 24},
        }
    ).encode()
    assert redact_nik(raw) is raw


def test_redact_replaces_standalone_runs_anywhere() -> None:
    """A standalone 16-digit run in any string (a reason, a case id) is redacted."""
    raw = json.dumps({"reason": f"NIK {NIK} salah", "case_id": f"C-{NIK}"}).encode()
    assert json.loads(redact_nik(raw)) == {
        "reason": "NIK [REDACTED] salah",
        "case_id": "C-[REDACTED]",
    }


def test_redact_replaces_a_numeric_nik_and_keeps_json_valid() -> None:
    """A NIK written as a JSON number becomes the string "[REDACTED]"; the output stays JSON."""
    raw = b'{"applicant": {"nik": 3507123456780001}, "x": [3507123456780002, 7]}'
    assert json.loads(redact_nik(raw)) == {
        "applicant": {"nik": "[REDACTED]"},
        "x": ["[REDACTED]", 7],
    }


def test_redact_catches_escaped_digits() -> None:
    """A NIK hidden behind \\u escapes is still redacted (via the parsed document)."""
    escaped = "".join(f"\\u{ord(c):04x}" for c in NIK)
    raw = ('{"applicant": {"no": "' + escaped + '"}, "note": "' + escaped + '"}').encode()
    redacted = redact_nik(raw)
    assert json.loads(redacted) == {"applicant": {"no": "[REDACTED]"}, "note": "[REDACTED]"}
    assert not contains_raw_nik(redacted)


@pytest.mark.parametrize(
    "value", [NIK, "35071234", {"number": NIK, "kind": "ktp"}, [NIK], 35071234]
)
def test_redact_removes_anything_under_a_nik_key(value: object) -> None:
    """Every scalar under a nik key is redacted, however it is shaped."""
    raw = json.dumps({"attributes": {"NIK": value}}).encode()
    redacted = redact_nik(raw)
    assert not contains_raw_nik(redacted)
    assert b"35071234" not in redacted


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b'{"applicant": {"nik": "3507123456780001", broken',
            b'{"applicant": {"nik": "[REDACTED]", broken',
        ),
        (b'{"applicant": {"nik": "35071234', b'{"applicant": {"nik": "35071234'),
        (b'{"applicant": {"nik": "3507123456780001', b'{"applicant": {"nik": "[REDACTED]'),
        (b'{"nik": "a \\" 3507123456780001" ,', b'{"nik": "[REDACTED]" ,'),
        (b'{"Nik" : 3507123456780001 }}', b'{"Nik" : "[REDACTED]" }}'),
        (b"\xff\xfe 3507123456780001 " + NIP.encode(), b"\xff\xfe [REDACTED] " + NIP.encode()),
    ],
)
def test_redact_works_on_malformed_payloads(raw: bytes, expected: bytes) -> None:
    """Malformed JSON and non-UTF-8 bytes are redacted textually."""
    assert redact_nik(raw) == expected


def test_redact_returns_clean_payloads_unchanged() -> None:
    """A payload without NIK comes back as the very same bytes."""
    raw = b'{"event_id": "e1", "officer": {"id": "198702142010011003"}}'
    assert redact_nik(raw) is raw


def test_redact_survives_deep_nesting() -> None:
    """A payload nested beyond json's recursion limit is still handled, not crashed on."""
    raw = b"[" * 100_000 + b'"3507123456780001"' + b"]" * 100_000
    assert NIK.encode() not in redact_nik(raw)
    assert contains_raw_nik(raw)


def test_redacted_output_passes_the_nik_check() -> None:
    """Whatever redact_nik returns no longer contains a raw NIK."""
    raw = json.dumps(
        {
            "applicant": {"nik": NIK, "alt": int(NIK)},
            "attributes": {"nik": {"value": NIK}, NIK: "key"},
            "reason": f"({NIK})",
        }
    ).encode()
    redacted = redact_nik(raw)
    assert contains_raw_nik(raw)
    assert not contains_raw_nik(redacted)
    assert NIK.encode() not in redacted


def test_redact_keeps_clean_payloads_with_nan_unchanged() -> None:
    """A clean payload is returned as is even when it holds values unequal to themselves (NaN)."""
    raw = b'{"x": NaN, "officer": {"id": "198702142010011003"}}'
    assert redact_nik(raw) is raw
