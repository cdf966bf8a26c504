"""Schemathesis over both connectors' OpenAPI on the running stack: a linked employee's real
JWT, the real auth service and the emulated provider behind every request — no input may
produce a 5xx. (The auth and appointments services are fuzzed in-process in their own suites.)"""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from devstack.testing import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.broker]


def linked_token(running: RunningStack, provider: str) -> str:
    async def sign_in_and_link() -> str:
        employee = await running.sign_in(provider)
        try:
            await employee.ensure_linked(provider)
            return str(employee.auth.headers["Authorization"])
        finally:
            await employee.close()

    return asyncio.run(sign_in_and_link())


def connector_schema(running: RunningStack, service: str, provider: str) -> schemathesis.BaseSchema:
    base_url = running.stack.config.url(service)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.headers = {"Authorization": linked_token(running, provider)}
    return schema


FUZZ = settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


CONNECTORS = [("calendar-google", "google"), ("calendar-outlook", "microsoft")]


@pytest.mark.parametrize(("service", "provider"), CONNECTORS)
def test_no_input_makes_a_connector_fail(running_stack: RunningStack, service: str, provider: str) -> None:
    schema = connector_schema(running_stack, service, provider)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"/v1/rooms", "/v1/availability"} <= {operation.path for operation in operations}
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        call()
