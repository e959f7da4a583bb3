"""The API against its own OpenAPI schema, by schemathesis: no 5xx, responses as documented.

Bounded (a few examples per operation, a short deadline): it adds seconds, not minutes."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from pixrescue.web.app import create_app  # noqa: E402
from pixrescue.web.jobs import Settings  # noqa: E402


# Each call starts and stops the app (its lifespan): a job queue, and its folder, per call.
schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(Settings(workers=1, max_bytes=100_000,
                                                                                 job_seconds=5)))


@schema.parametrize()
@settings(max_examples=8, deadline=5000, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_schema(case):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance])
