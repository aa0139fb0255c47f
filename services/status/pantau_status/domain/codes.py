"""The check code printed on a receipt: a keyed digest of the case, so no table of codes is kept.

The code is the first 40 bits of HMAC-SHA256(key, "pantau.status/v1" NUL agency NUL case_id),
written as 8 characters of Crockford's base32 (no I, L, O, U) in two groups, e.g. `4PDV-SDYM`.
Whoever holds the key (the agency system, through the status service) can print it before the
case reaches Pantau; nobody without the key can compute it. Reading it back forgives case,
spaces, dashes and the look-alikes O/0 and I/L/1.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["CODE_CHARS", "MIN_KEY_BYTES", "check_code", "code_matches", "normalise_code"]

MIN_KEY_BYTES = 16
CODE_CHARS = 8
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DOMAIN = b"pantau.status/v1"
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})


def _digest(key: bytes, agency: str, case_id: str) -> str:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the status key must be at least {MIN_KEY_BYTES} bytes")
    message = b"\x00".join((_DOMAIN, agency.encode("utf-8"), case_id.encode("utf-8")))
    number = int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:5], "big")
    return "".join(_ALPHABET[(number >> shift) & 31] for shift in range(35, -1, -5))


def check_code(key: bytes, agency: str, case_id: str) -> str:
    """The code of a case as printed: `XXXX-XXXX`."""
    raw = _digest(key, agency, case_id)
    return f"{raw[:4]}-{raw[4:]}"


def normalise_code(text: str) -> str:
    """What an applicant typed, as the 8 characters compared (may be of any length)."""
    return text.strip().upper().translate(_LOOKALIKES)[:64]


def code_matches(key: bytes, agency: str, case_id: str, typed: str) -> bool:
    """True when `typed` is the case's code; compared in constant time."""
    return hmac.compare_digest(_digest(key, agency, case_id), normalise_code(typed))
