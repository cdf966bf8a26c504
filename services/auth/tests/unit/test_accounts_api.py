"""Tenants, employees, sign-in, refresh rotation and the operator route (no providers needed)."""

from __future__ import annotations

import httpx
import pytest
from auth_testkit import OPERATOR_KEY, PASSWORD, Harness, bearer

from auth_service.bootstrap import sign_in_throttle_of
from auth_service.service_layer.context import SignInThrottle
from auth_service.service_layer.throttle import FailureThrottle


async def test_operator_route_needs_the_key(unit_harness: Harness) -> None:
    body = {
        "name": "Acme",
        "admin_name": "A",
        "admin_email": "a@acme.example",
        "admin_password": PASSWORD,
    }
    missing = await unit_harness.client.post("/operator/v1/tenants", json=body)
    assert missing.status_code == 401 and missing.json()["code"] == "operator_key_invalid"
    wrong = await unit_harness.client.post(
        "/operator/v1/tenants", json=body, headers={"X-Operator-Key": "no"}
    )
    assert wrong.status_code == 401
    ok = await unit_harness.client.post(
        "/operator/v1/tenants", json=body, headers={"X-Operator-Key": OPERATOR_KEY}
    )
    assert ok.status_code == 201
    assert ok.json()["admin"]["role"] == "admin"


async def test_duplicate_tenant_id_is_409(unit_harness: Harness) -> None:
    await unit_harness.create_tenant("acme", "a@acme.example")
    again = await unit_harness.client.post(
        "/operator/v1/tenants",
        headers={"X-Operator-Key": OPERATOR_KEY},
        json={
            "tenant_id": "acme",
            "name": "x",
            "admin_name": "x",
            "admin_email": "b@acme.example",
            "admin_password": PASSWORD,
        },
    )
    assert again.status_code == 409 and again.json()["code"] == "tenant_exists"


async def test_sign_in_issues_claims_other_services_accept(unit_harness: Harness) -> None:
    employee_id, token = await unit_harness.employee("acme", "alice@example.com")
    principal = await unit_harness.app.state.verifier.verify(token)
    assert principal.subject == employee_id
    assert principal.tenant_id == "acme"
    assert principal.role == "member"
    assert principal.email == "alice@example.com"
    jwks = (await unit_harness.client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"][0]["alg"] == "EdDSA" and jwks["keys"][0]["kid"]


@pytest.mark.parametrize(
    ("email", "password"), [("alice@example.com", "wrong password!!"), ("x@example.com", PASSWORD)]
)
async def test_wrong_credentials_are_401_without_telling_which(
    unit_harness: Harness, email: str, password: str
) -> None:
    await unit_harness.employee("acme", "alice@example.com")
    response = await unit_harness.client.post(
        "/auth/v1/sign-in", json={"tenant_id": "acme", "email": email, "password": password}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


async def test_refresh_token_rotates_and_is_single_use(unit_harness: Harness) -> None:
    await unit_harness.employee("acme", "alice@example.com")
    first = await unit_harness.client.post(
        "/auth/v1/sign-in", json={"tenant_id": "acme", "email": "alice@example.com", "password": PASSWORD}
    )
    refresh = first.json()["refresh_token"]
    second = await unit_harness.client.post("/auth/v1/refresh", json={"refresh_token": refresh})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != refresh
    replay = await unit_harness.client.post("/auth/v1/refresh", json={"refresh_token": refresh})
    assert replay.status_code == 401 and replay.json()["code"] == "invalid_refresh_token"


async def test_employee_registration_rules(unit_harness: Harness) -> None:
    _, member_token = await unit_harness.employee("acme", "member@example.com")
    admin_token = await unit_harness.sign_in("acme", "admin@acme.example")
    by_member = await unit_harness.client.post(
        "/v1/employees", headers=bearer(member_token), json={"name": "X", "email": "x@example.com"}
    )
    assert by_member.status_code == 403 and by_member.json()["code"] == "admin_role_required"
    duplicate = await unit_harness.client.post(
        "/v1/employees", headers=bearer(admin_token), json={"name": "X", "email": "MEMBER@example.com"}
    )
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "employee_email_taken"
    invalid = await unit_harness.client.post(
        "/v1/employees", headers=bearer(admin_token), json={"name": "X", "email": "not-an-email"}
    )
    assert invalid.status_code == 422 and invalid.json()["code"] == "validation_failed"
    short_password = await unit_harness.client.post(
        "/v1/employees",
        headers=bearer(admin_token),
        json={"name": "X", "email": "y@example.com", "password": "pw-zq7"},
    )
    assert short_password.status_code == 422
    assert "pw-zq7" not in short_password.text  # the submitted value is never echoed
    listed = await unit_harness.client.get("/v1/employees", headers=bearer(admin_token))
    assert {e["email"] for e in listed.json()} == {"admin@acme.example", "member@example.com"}


async def test_same_email_in_two_tenants_is_fine(unit_harness: Harness) -> None:
    await unit_harness.employee("acme", "alice@example.com")
    await unit_harness.employee("globex", "alice@example.com")


async def test_health_and_openapi(unit_harness: Harness) -> None:
    assert (await unit_harness.client.get("/healthz")).json()["status"] == "ok"
    assert (await unit_harness.client.get("/readyz")).status_code == 200
    spec = (await unit_harness.client.get("/openapi.json")).json()
    assert "/v1/calendar-connections/{provider}/authorize" in spec["paths"]
    assert "/internal/v1/calendar-connections/{connection_id}/access-token" in spec["paths"]


async def _sign_in_pair(h: Harness) -> dict[str, str]:
    response = await h.client.post(
        "/auth/v1/sign-in", json={"tenant_id": "acme", "email": "alice@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    return dict(response.json())


async def _refresh(h: Harness, token: str) -> int:
    return (await h.client.post("/auth/v1/refresh", json={"refresh_token": token})).status_code


async def test_reusing_a_refresh_token_revokes_its_family(unit_harness: Harness) -> None:
    """RFC 9700 §4.14: a used refresh token presented again (a stolen copy) revokes every token
    rotated from the same sign-in, the legitimate holder's latest one included."""
    h = unit_harness
    await h.employee("acme", "alice@example.com")
    first = (await _sign_in_pair(h))["refresh_token"]
    second = (await h.client.post("/auth/v1/refresh", json={"refresh_token": first})).json()
    third = (await h.client.post("/auth/v1/refresh", json={"refresh_token": second["refresh_token"]})).json()
    other_sign_in = (await _sign_in_pair(h))["refresh_token"]

    assert await _refresh(h, first) == 401  # the reuse
    assert await _refresh(h, third["refresh_token"]) == 401  # the newest of that family is dead
    assert await _refresh(h, other_sign_in) == 200  # another sign-in's family is untouched
    again = await _sign_in_pair(h)  # signing in again starts a new, working family
    assert await _refresh(h, again["refresh_token"]) == 200


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _throttle(h: Harness, *, per_account: int = 3, per_address: int = 10) -> _Clock:
    clock = _Clock()

    def one(max_failures: int) -> FailureThrottle:
        return FailureThrottle(max_failures=max_failures, base_lockout=30, max_lockout=900, clock=clock)

    h.context.sign_in_throttle = SignInThrottle(accounts=one(per_account), addresses=one(per_address))
    return clock


async def _attempt(h: Harness, email: str, password: str, tenant: str = "acme") -> httpx.Response:
    return await h.client.post(
        "/auth/v1/sign-in", json={"tenant_id": tenant, "email": email, "password": password}
    )


async def test_guessing_a_password_meets_a_growing_429_even_for_the_right_one(unit_harness: Harness) -> None:
    h = unit_harness
    await h.employee("acme", "alice@example.com")
    clock = _throttle(h)
    for _ in range(3):
        assert (await _attempt(h, "alice@example.com", "wrong password!!")).status_code == 401
    locked = await _attempt(h, "alice@example.com", PASSWORD)  # the right password, too late
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    assert int(locked.headers["retry-after"]) == 30
    clock.now += 31
    assert (await _attempt(h, "ALICE@example.com", "wrong password!!")).status_code == 401
    again = await _attempt(h, "alice@example.com", PASSWORD)
    assert again.status_code == 429 and int(again.headers["retry-after"]) == 60  # doubled
    clock.now += 61
    assert (await _attempt(h, "alice@example.com", PASSWORD)).status_code == 200
    # a success clears the account's count
    assert (await _attempt(h, "alice@example.com", "wrong password!!")).status_code == 401
    assert (await _attempt(h, "alice@example.com", PASSWORD)).status_code == 200


async def test_an_unknown_account_is_throttled_exactly_like_a_known_one(unit_harness: Harness) -> None:
    h = unit_harness
    await h.employee("acme", "alice@example.com")
    _throttle(h)
    answers: dict[str, list[tuple[int, str, str | None]]] = {}
    for email in ("alice@example.com", "nobody@example.com"):
        answers[email] = []
        for _ in range(5):
            response = await _attempt(h, email, "wrong password!!")
            answers[email].append(
                (response.status_code, response.json()["code"], response.headers.get("retry-after"))
            )
    assert answers["alice@example.com"] == answers["nobody@example.com"]
    assert [a[0] for a in answers["nobody@example.com"]] == [401, 401, 401, 429, 429]


async def test_one_address_trying_many_accounts_is_throttled(unit_harness: Harness) -> None:
    h = unit_harness
    await h.employee("acme", "alice@example.com")
    _throttle(h, per_account=100, per_address=4)
    for i in range(4):
        assert (await _attempt(h, f"user{i}@example.com", "wrong password!!")).status_code == 401
    spraying = await _attempt(h, "alice@example.com", PASSWORD)
    assert spraying.status_code == 429 and spraying.headers["retry-after"] == "30"


async def testsign_in_throttle_of_is_configured_from_settings(unit_harness: Harness) -> None:
    settings = unit_harness.context.settings.model_copy(
        update={"sign_in_max_failures_per_account": 2, "sign_in_lockout_seconds": 7.0}
    )
    throttle = sign_in_throttle_of(settings)
    assert throttle.accounts.max_failures == 2 and throttle.accounts.base_lockout == 7.0
    assert throttle.addresses.max_failures == settings.sign_in_max_failures_per_address
