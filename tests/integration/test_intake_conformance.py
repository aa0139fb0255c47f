"""The intake against its own OpenAPI: generated requests never get a 5xx or an undocumented reply.

Runs in-process with the in-memory publisher (no broker needed), bounded in examples and time.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pantau.core.catalog import load_catalog
from pantau.settings import REPO_DIR, SAMPLE_CATALOG
from pantau_intake.app import create_app
from pantau_intake.domain.publishing import InMemoryPublisher
from pantau_intake.settings import IntakeSettings

KEY = "dev-kota-malang.dpmptsp"
EXAMPLES = {"/v1/events": 150}  # the endpoint with a body; the others take only a key
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _intake_schema() -> Any:
    settings_ = IntakeSettings(
        api_keys=REPO_DIR / "deploy" / "dev-api-keys.yaml",
        pseudonym_key="conformance-test-pseudonym-key",
        intake_rate=1_000_000.0,
        intake_burst=1_000_000,
    )
    app = create_app(settings_, publisher=InMemoryPublisher(), catalog=load_catalog(SAMPLE_CATALOG))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi(mode: GenerationMode) -> None:
    """Generated valid and invalid requests get documented statuses, bodies and headers."""
    schema = _intake_schema()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/events", "/v1/catalog", "/readyz"}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not operation.body:
            continue  # nothing to make invalid: the operation takes no body or parameters

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES.get(operation.path, 10),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS)

        call()
