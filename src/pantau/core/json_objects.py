"""Reading other services' records tolerantly: a record that is not a JSON object is skipped,
not a crash."""

from __future__ import annotations

import json
from typing import Any


def json_object(value: bytes | str) -> dict[str, Any] | None:
    """The JSON object `value` holds, or None when it is not JSON or holds anything else."""
    try:
        document = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None
