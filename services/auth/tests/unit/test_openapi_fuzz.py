"""Property-based fuzzing of the OpenAPI document (schemathesis, in-process ASGI): no input may
produce a 5xx. Cases carry valid credentials so the fuzzer gets past authentication."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import schemathesis
from auth_testkit import OPERATOR_KEY, PASSWORD, SERVICE_CLIENT, FakeProvider
from hypothesis import HealthCheck, settings

from auth_service.bootstrap import create_app
from auth_service.domain.models import ProviderIdentity
from auth_service.service_layer import accounts
from auth_service.settings import Settings
from visitor_common.events import Provider


def _build() -> tuple[Any, dict[str, str]]:
    identity = ProviderIdentity(
        provider=Provider.GOOGLE, subject="g", email="a@acme.example", workspace="acme.example"
    )
    ms = ProviderIdentity(provider=Provider.OUTLOOK, subject="m", email="a@acme.example", workspace="tid")
    app = create_app(
        Settings(
            kafka_enabled=False,
            operator_key=OPERATOR_KEY,
            service_clients=SERVICE_CLIENT,
            token_encryption_keys={"k1": base64.b64encode(b"k" * 32).decode()},
        ),
        providers={
            Provider.GOOGLE: FakeProvider(Provider.GOOGLE, identity),
            Provider.OUTLOOK: FakeProvider(Provider.OUTLOOK, ms),
        },
    )
    context = app.state.context

    async def seed() -> dict[str, str]:
        await accounts.create_tenant(
            context,
            name="Acme",
            admin_name="A",
            admin_email="a@acme.example",
            admin_password=PASSWORD,
            tenant_id="acme",
        )
        pair = await accounts.sign_in(
            context, tenant_id="acme", email="a@acme.example", password=PASSWORD, address="127.0.0.1"
        )
        svc = accounts.service_token(
            context,
            grant_type="client_credentials",
            client_id="calendar-google",
            client_secret="svc-secret-google",
        )
        return {"employee": pair.access_token, "service": svc.access_token}

    return app, asyncio.run(seed())


APP, TOKENS = _build()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


# In-process calls; a loaded machine (two test workers on two cores) can take longer than
# schemathesis's 10 s default, which is about sockets, not about the answers under test.
FUZZ_CALL_TIMEOUT = 60


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_5xx(case: schemathesis.Case) -> None:
    headers = dict(case.headers or {})
    if case.path.startswith("/internal/v1/") and case.path != "/internal/v1/service-token":
        headers.setdefault("Authorization", f"Bearer {TOKENS['service']}")
    elif case.path.startswith("/v1/"):
        headers.setdefault("Authorization", f"Bearer {TOKENS['employee']}")
    if case.path.startswith("/operator/"):
        headers.setdefault("X-Operator-Key", OPERATOR_KEY)
    case.headers = headers
    response = case.call(timeout=FUZZ_CALL_TIMEOUT)
    assert response.status_code < 500, (
        f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
    )
