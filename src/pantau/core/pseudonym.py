"""NIK privacy: keyed pseudonyms for applicants, and detection and redaction of raw NIKs.

A NIK (Nomor Induk Kependudukan, Indonesia's 16-digit national ID) is accepted only by the HTTP
intake. It becomes `applicant.ref` = `<version>:<hex HMAC-SHA256(key, nik)>`: stable for the same
person under the same key, so cases of one applicant can be linked, yet not reversible without the
key. The version prefix names the key that produced the ref, which makes key rotation possible:
a new key gets a new version (`k2`), refs made before the rotation keep saying `k1`, and nobody
mistakes refs of different keys for different people without knowing it.

`contains_raw_nik` and `redact_nik` are the downstream defence for payloads that did not come
through the intake (agencies may publish to Kafka directly) and may not even be valid JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

NIK_DIGITS = 16
MIN_KEY_BYTES = 16
REDACTED = "[REDACTED]"

_NIK = re.compile(r"[0-9]{16}")
_KEY_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}")

# A run of exactly 16 ASCII digits that no other letter or digit touches. The letter boundary
# keeps digit runs inside hex digests (our own refs) and alphanumeric ids from looking like NIKs;
# the digit boundary keeps 18-digit officer NIPs (e.g. 198702142010011003) untouched.
_STANDALONE_RUN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{16}(?![0-9A-Za-z])")
_STANDALONE_RUN = re.compile(rb"(?<![0-9A-Za-z])[0-9]{16}(?![0-9A-Za-z])")
# A `"nik": <string or number>` member, found textually so that malformed JSON is covered too.
_NIK_MEMBER = re.compile(rb'("nik"\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*)', re.IGNORECASE)
_NIK_MEMBER_WITH_VALUE = re.compile(
    rb'"nik"\s*:\s*(?!"\[REDACTED\]")(?:"(?:[^"\\]|\\.)+"|-?[0-9])', re.IGNORECASE
)


def is_valid_nik(value: object) -> bool:
    """True when `value` is a string of exactly 16 ASCII digits."""
    return isinstance(value, str) and _NIK.fullmatch(value) is not None


def has_standalone_nik_run(text: str | bytes) -> bool:
    """True when `text` holds exactly 16 digits that no other letter or digit touches."""
    if isinstance(text, bytes):
        return _STANDALONE_RUN.search(text) is not None
    return _STANDALONE_RUN_TEXT.search(text) is not None


def pseudonymise_nik(nik: str, key: bytes, version: str = "k1") -> str:
    """Return `<version>:<hex HMAC-SHA256(key, nik)>` for a valid 16-digit NIK.

    Raises ValueError for an invalid NIK (without echoing it), a key shorter than 16 bytes, or a
    version that is not 1-16 characters of `A-Za-z0-9_-` (it must not contain the `:` separator).
    """
    if not is_valid_nik(nik):
        raise ValueError("a NIK is exactly 16 digits (0-9)")
    _check_key(key, version)
    digest = hmac.new(key, nik.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{version}:{digest}"


@dataclass(frozen=True)
class PseudonymKey:
    """The pseudonymisation secret with its version; the secret never appears in a repr."""

    secret: bytes = field(repr=False)
    version: str = "k1"
    # HMAC-SHA256 keyed with `secret`, nothing hashed yet: each NIK continues a copy of it.
    # Copying it skips the key schedule and OpenSSL's digest lookup by name (4 -> 1.7 µs).
    _keyed: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_key(self.secret, self.version)
        object.__setattr__(self, "_keyed", hmac.new(self.secret, digestmod=hashlib.sha256))

    def pseudonymise(self, nik: str) -> str:
        """The versioned pseudonym of `nik` under this key (`pseudonymise_nik`, with the key
        checked and scheduled once, at construction)."""
        if not is_valid_nik(nik):
            raise ValueError("a NIK is exactly 16 digits (0-9)")
        digest = self._keyed.copy()
        digest.update(nik.encode("ascii"))
        return f"{self.version}:{digest.hexdigest()}"


def _check_key(key: bytes, version: str) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the pseudonym key must be at least {MIN_KEY_BYTES} bytes")
    if not isinstance(version, str) or _KEY_VERSION.fullmatch(version) is None:
        raise ValueError("the key version must be 1-16 characters of A-Z a-z 0-9 _ -")


def contains_raw_nik(data: bytes | str) -> bool:
    """True when a payload carries what looks like a raw NIK.

    For JSON: any string or number under a key named `nik` (any case, any depth) other than `""`
    and `"[REDACTED]"`, or a standalone 16-digit run in a string or number anywhere under an
    `applicant` key. Payloads that are not JSON are judged conservatively: a `"nik": <value>`
    member or a standalone 16-digit run anywhere counts.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return bool(_NIK_MEMBER_WITH_VALUE.search(raw) or _STANDALONE_RUN.search(raw))
    return document_contains_raw_nik(document)


def document_contains_raw_nik(document: object) -> bool:
    """`contains_raw_nik` of a payload already parsed as JSON (the same judgement)."""
    for value, under_nik, under_applicant in _walk(document):
        if under_nik and _is_present(value):
            return True
        if under_applicant and _has_standalone_run(value):
            return True
    return False


def redact_nik(raw: bytes) -> bytes:
    """Replace every `nik` value and every standalone 16-digit run by `"[REDACTED]"`.

    Meant for the dead-letter queue, where the payload may be malformed. The bytes are edited in
    place where possible so the DLQ keeps what was received; when that edit would leave valid JSON
    invalid or miss something (a NIK written with `\\u` escapes, a NIK as a bare number), the
    parsed document is redacted and re-serialised instead. Runs of other lengths (an 18-digit
    officer NIP) are left alone.
    """
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return _redact_text(raw)
    redacted, changed = _redact_document(document)
    if not changed:
        return raw
    textual = _redact_text(raw)
    try:
        if json.loads(textual) == redacted:
            return textual
    except (ValueError, RecursionError):
        pass
    return json.dumps(redacted, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _redact_text(raw: bytes) -> bytes:
    raw = _NIK_MEMBER.sub(rb'\1"' + REDACTED.encode() + rb'"', raw)
    return _STANDALONE_RUN.sub(REDACTED.encode(), raw)


def _redact_document(document: object) -> tuple[object, bool]:
    """A redacted copy of a parsed JSON document and whether anything was redacted.

    Built without recursion, so any depth json.loads produced is safe.
    """
    changed = False
    root: list[object] = [None]
    stack: list[tuple[object, bool, Callable[[object], None]]] = [
        (document, False, partial(root.__setitem__, 0))
    ]
    while stack:
        value, under_nik, put = stack.pop()
        if isinstance(value, dict):
            copy: dict[str, object] = {}
            put(copy)
            for key, child in value.items():
                new_key = _STANDALONE_RUN_TEXT.sub(REDACTED, key)
                changed = changed or new_key != key
                copy[new_key] = None  # a placeholder keeps the members in order
                child_under_nik = under_nik or key.lower() == "nik"
                stack.append((child, child_under_nik, partial(copy.__setitem__, new_key)))
        elif isinstance(value, list):
            items: list[object] = [None] * len(value)
            put(items)
            stack.extend(
                (child, under_nik, partial(items.__setitem__, index))
                for index, child in enumerate(value)
            )
        else:
            redacted = REDACTED if under_nik and _is_present(value) else _redact_scalar(value)
            changed = changed or (redacted is not value and redacted != value)
            put(redacted)
    return root[0], changed


def _redact_scalar(value: object) -> object:
    if isinstance(value, str):
        return _STANDALONE_RUN_TEXT.sub(REDACTED, value)
    if _is_nik_number(value):
        return REDACTED
    return value


def _walk(document: object) -> Iterator[tuple[object, bool, bool]]:
    """Yield (value, under a nik key, under an applicant key) for every value, iteratively."""
    stack: list[tuple[object, bool, bool]] = [(document, False, False)]
    while stack:
        value, under_nik, under_applicant = stack.pop()
        yield value, under_nik, under_applicant
        if isinstance(value, dict):
            for key, child in value.items():
                name = key.lower() if isinstance(key, str) else ""
                stack.append(
                    (child, under_nik or name == "nik", under_applicant or name == "applicant")
                )
        elif isinstance(value, list):
            stack.extend((child, under_nik, under_applicant) for child in value)


def _is_present(value: object) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return value not in ("", REDACTED)
    return isinstance(value, int | float)


def _has_standalone_run(value: object) -> bool:
    if isinstance(value, str):
        return has_standalone_nik_run(value)
    return _is_nik_number(value)


def _is_nik_number(value: object) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 10 ** (NIK_DIGITS - 1) <= value < 10**NIK_DIGITS
    )
