"""JSON Schema of the contract's records, generated from the models; `python -m` writes the files.

The committed files under `schemas/` are for integrators who do not run Python; a unit test keeps
them equal to what the models generate. Some rules are beyond JSON Schema and are stated in the
descriptions instead: the 8 KiB bound of `attributes`, printable-only ids, the ban of 16-digit
runs in `applicant.ref`, and `nik` xor `ref` on the incoming applicant.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pantau.core.alerts import Alert
from pantau.core.events import Event, IncomingEvent

__all__ = [
    "SCHEMA_FILES",
    "alert_schema",
    "event_schema",
    "incoming_event_schema",
    "main",
    "render_schema",
    "write_schemas",
]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_ID_PREFIX = "urn:pantau:contract:v1:"


def _schema(model: type[BaseModel], name: str, title: str) -> dict[str, Any]:
    body = model.model_json_schema(mode="validation")
    body["title"] = title
    return {"$schema": DIALECT, "$id": f"{_ID_PREFIX}{name}", **body}


def event_schema() -> dict[str, Any]:
    """The event on Kafka (`pantau.events`): the applicant only by `ref`."""
    return _schema(Event, "event", "Pantau event (Kafka record)")


def incoming_event_schema() -> dict[str, Any]:
    """The event the HTTP intake accepts: the applicant by `nik` or by `ref`."""
    return _schema(IncomingEvent, "incoming-event", "Pantau event (HTTP intake)")


def alert_schema() -> dict[str, Any]:
    """The alert on `pantau.alerts`."""
    return _schema(Alert, "alert", "Pantau alert")


SCHEMA_FILES = {
    "event.schema.json": event_schema,
    "incoming-event.schema.json": incoming_event_schema,
    "alert.schema.json": alert_schema,
}


def render_schema(schema: dict[str, Any]) -> str:
    """The file text of a schema: indented, non-ASCII kept, with a final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: str | Path) -> list[Path]:
    """Write every schema file into `directory` (created if missing); return the paths."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, build in SCHEMA_FILES.items():
        path = target / filename
        path.write_text(render_schema(build()), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pantau.core.schemas [DIRECTORY]` (default `schemas`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print("usage: python -m pantau.core.schemas [DIRECTORY]", file=sys.stderr)
        return 2
    for path in write_schemas(args[0] if args else "schemas"):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
