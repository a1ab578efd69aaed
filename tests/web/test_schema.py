"""The JSON API checked against its own OpenAPI document by schemathesis: requests
generated from the document (valid ones, and invalid ones) against the real service find
no server error (5xx) and no answer that breaks the document's schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.web.conftest import Running, start_service

EXAMPLES = 20


@pytest.fixture(scope="module")
def api_service(service_db: Path) -> Iterator[Running]:
    yield from start_service(service_db)


def operations(service: Running) -> list[object]:
    schema = schemathesis.openapi.from_url(f"{service.url}/api/v1/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_answers_by_its_document(api_service: Running, mode: GenerationMode) -> None:
    ops = operations(api_service)
    assert len(ops) >= 11
    ran = 0
    for op in ops:

        @given(case=op.as_strategy(generation_mode=mode))  # type: ignore[attr-defined]
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)  # fmt: skip
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

        try:
            check()
        except Unsatisfiable:  # no invalid request can be made (no parameters)
            assert mode is GenerationMode.NEGATIVE
            continue
        ran += 1
    assert ran >= 8
