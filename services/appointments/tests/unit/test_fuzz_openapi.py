"""Schemathesis fuzz of the OpenAPI, in-process over ASGI: no input may cause a 5xx."""

from __future__ import annotations

import schemathesis
from appointments_testkit import FakeDirectory, FakeGateway, Keys, unit_settings
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from appointments_service.bootstrap import create_app
from visitor_common.events import Provider

KEYS = Keys()
DIRECTORY = FakeDirectory()
DIRECTORY.link("t1", "e1", Provider.GOOGLE)
APP = create_app(
    unit_settings(guest_rate_limit_per_minute=100_000),
    verifier=KEYS.verifier(),
    directory=DIRECTORY,
    gateway=FakeGateway(),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


# In-process calls; a loaded machine (two test workers on two cores) can take longer than
# schemathesis's 10 s default, which is about sockets, not about the answers under test.
FUZZ_CALL_TIMEOUT = 60


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_input_causes_a_server_error(case: schemathesis.Case) -> None:
    headers = {"Authorization": f"Bearer {KEYS.mint()}"}
    response = case.call(headers={**dict(case.headers or {}), **headers}, timeout=FUZZ_CALL_TIMEOUT)
    case.validate_response(response, checks=[not_a_server_error])
