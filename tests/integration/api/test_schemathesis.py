"""Schemathesis over the OpenAPI schema of a running server: no server errors, responses match the schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


def _fuzz(operation: Any, key: str, failures: list[str], calls: list[int]) -> None:
    name = f"{operation.method.upper()} {operation.path}"

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        case.headers = {**(case.headers or {}), "X-API-Key": key}
        response = case.call()
        calls.append(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{name}: {response.status_code} {response.text[:200]}")
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Exception as error:  # collect every operation's failure, then assert once
        failures.append(f"{name}: {type(error).__name__}: {str(error)[:500]}")


def test_no_server_errors_over_the_openapi_schema(live_api_factory: Any) -> None:
    api = live_api_factory(
        command_timeout_s=0.2, rate_limit_capacity=100_000, rate_limit_refill_per_s=10_000.0
    )
    schema = schemathesis.openapi.from_url(api.base_url + "/openapi.json")
    failures: list[str] = []
    calls: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 26
    for operation in operations:
        _fuzz(operation, api.keys["admin"], failures, calls)
    assert failures == []
    assert len(calls) >= 100 and 200 in calls and 422 in calls
