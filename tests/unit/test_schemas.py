"""The committed JSON Schemas match the models, and the contract's examples fit the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pantau.core.alerts import Alert
from pantau.core.events import Event, IncomingEvent
from pantau.core.schemas import (
    SCHEMA_FILES,
    alert_schema,
    event_schema,
    incoming_event_schema,
    main,
    render_schema,
    write_schemas,
)
from samples import CONTRACT_ALERT, CONTRACT_EVENT, REQUIRED_EVENT_FIELDS

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize("filename", sorted(SCHEMA_FILES))
def test_committed_schema_is_up_to_date(filename: str) -> None:
    """schemas/<file> equals what the models generate (run `python -m pantau.core.schemas`)."""
    committed = (SCHEMA_DIR / filename).read_text(encoding="utf-8")
    assert committed == render_schema(SCHEMA_FILES[filename]())


def test_contract_example_event_validates() -> None:
    """The contract's example event is a valid Kafka event and a valid intake event."""
    Event.model_validate_json(CONTRACT_EVENT)
    IncomingEvent.model_validate_json(CONTRACT_EVENT)


def test_contract_example_alert_validates() -> None:
    """The contract's example alert is a valid alert."""
    Alert.model_validate_json(CONTRACT_ALERT)


@pytest.mark.parametrize(
    ("build", "schema_id", "title"),
    [
        (event_schema, "urn:pantau:contract:v1:event", "Pantau event (Kafka record)"),
        (
            incoming_event_schema,
            "urn:pantau:contract:v1:incoming-event",
            "Pantau event (HTTP intake)",
        ),
        (alert_schema, "urn:pantau:contract:v1:alert", "Pantau alert"),
    ],
)
def test_schemas_are_identified(build: Any, schema_id: str, title: str) -> None:
    """Each schema names its dialect (2020-12), its $id and a title, and forbids extra fields."""
    schema = build()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == schema_id
    assert schema["title"] == title
    assert schema["additionalProperties"] is False
    for name, definition in schema.get("$defs", {}).items():
        if definition.get("type") == "object":
            assert definition["additionalProperties"] is False, name


def test_event_schema_has_the_contract_fields() -> None:
    """The event schema lists the contract's fields and requires the six required ones."""
    schema = event_schema()
    assert set(schema["properties"]) == set(json.loads(CONTRACT_EVENT))
    assert set(schema["required"]) == set(REQUIRED_EVENT_FIELDS)


def test_only_the_intake_schema_admits_a_nik() -> None:
    """applicant.nik exists in the intake schema only, as 16 digits."""
    kafka_applicant = event_schema()["$defs"]["Applicant"]
    assert set(kafka_applicant["properties"]) == {"ref"}
    intake_applicant = incoming_event_schema()["$defs"]["IncomingApplicant"]
    assert intake_applicant["properties"]["nik"]["anyOf"][0]["pattern"] == "^[0-9]{16}$"


# Optional alert fields added by docs/contract-extensions.md; a contract consumer may ignore them.
ADDITIVE_ALERT_FIELDS = {"standard_version"}


def test_alert_schema_has_the_contract_fields() -> None:
    """The alert schema lists exactly the contract's alert fields and the additive optional
    ones, which no alert is required to carry."""
    schema = alert_schema()
    assert set(schema["properties"]) == set(json.loads(CONTRACT_ALERT)) | ADDITIVE_ALERT_FIELDS
    assert not ADDITIVE_ALERT_FIELDS & set(schema.get("required", []))


def test_write_schemas_writes_every_file(tmp_path: Path) -> None:
    """write_schemas creates the directory and writes the three files."""
    written = write_schemas(tmp_path / "out")
    assert sorted(path.name for path in written) == sorted(SCHEMA_FILES)
    for path in written:
        assert json.loads(path.read_text(encoding="utf-8"))["$id"].startswith("urn:pantau:")


def test_module_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m pantau.core.schemas DIR` writes the files and prints their paths."""
    assert main([str(tmp_path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(SCHEMA_FILES)
    assert main(["a", "b"]) == 2
