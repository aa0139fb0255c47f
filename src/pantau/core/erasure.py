"""The record of an erasure: who destroyed which applicant's data keys, when and why.

It names the applicant only by its key id (`pantau.core.sealing.applicant_key_id`) and the data
keys destroyed; it never holds the erased data, and its free text is refused when it looks like
it carries a raw NIK.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pantau.core.events import format_rfc3339
from pantau.core.pseudonym import has_standalone_nik_run

ERASURE_FORMAT = "pantau.erasure/v1"
TEXT_MAX_CHARS = 500


def _checked_text(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{name} is required")
    if len(value) > TEXT_MAX_CHARS or not value.isprintable():
        raise ValueError(f"{name} must be 1-{TEXT_MAX_CHARS} printable characters")
    if has_standalone_nik_run(value):
        raise ValueError(
            f"{name} holds what looks like a raw NIK; name the request, not the person"
        )
    return value


@dataclass(frozen=True)
class Erasure:
    """One applicant's erasure. `scope` says what was asked: `applicant` or `case <agency>/<id>`."""

    erasure_id: str
    erased_at: datetime
    erased_by: str
    why: str
    scope: str
    applicant_key: str
    data_keys: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "erased_by", _checked_text("who", self.erased_by))
        object.__setattr__(self, "why", _checked_text("why", self.why))
        if self.erased_at.utcoffset() is None:
            raise ValueError("the erasure time must carry its offset")

    def to_record(self) -> bytes:
        """The record on the erasures topic: compact JSON with sorted keys."""
        document = {
            "format": ERASURE_FORMAT,
            "erasure_id": self.erasure_id,
            "erased_at": format_rfc3339(self.erased_at),
            "erased_by": self.erased_by,
            "why": self.why,
            "scope": self.scope,
            "applicant_key": self.applicant_key,
            "data_keys": list(self.data_keys),
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
