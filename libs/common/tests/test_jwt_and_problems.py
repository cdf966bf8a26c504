"""Local JWT verification and the problem+json conventions every service inherits."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI
from pydantic import BaseModel

from visitor_common.security import JwksSource, JwtVerifier, Principal, PrincipalKind, TokenInvalid
from visitor_common.web import (
    ProblemError,
    install_problem_handlers,
    principal_dependency,
    require_employee,
)

ISS, AUD = "issuer", "aud"


def keypair(kid: str) -> tuple[Ed25519PrivateKey, dict[str, Any]]:
    key = Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="EdDSA", use="sig")
    return key, jwk


def mint(key: Ed25519PrivateKey, kid: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISS, "aud": AUD, "sub": "e1", "tid": "t1", "iat": now, "exp": now + 300} | claims
    return jwt.encode(body, key, algorithm="EdDSA", headers={"kid": kid})


KEY, JWK = keypair("k1")
OTHER, _ = keypair("k1")  # same kid, different key: a forgery


def verifier(jwks: dict[str, Any] | None = None) -> JwtVerifier:
    return JwtVerifier(JwksSource(static=jwks or {"keys": [JWK]}), issuer=ISS, audience=AUD)


async def test_valid_employee_token_gives_principal() -> None:
    principal = await verifier().verify(mint(KEY, "k1", role="admin", email="a@x.jp"))
    assert principal.kind is PrincipalKind.EMPLOYEE
    assert (principal.tenant_id, principal.subject, principal.role) == ("t1", "e1", "admin")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        mint(OTHER, "k1"),
        mint(KEY, "unknown-kid"),
        mint(KEY, "k1", exp=int(time.time()) - 3600),
        mint(KEY, "k1", aud="someone-else"),
        mint(KEY, "k1", iss="evil"),
        mint(KEY, "k1", tid=None),
        mint(KEY, "k1", typ="root"),
    ],
)
async def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenInvalid):
        await verifier().verify(token)


async def test_unknown_kid_triggers_one_jwks_refetch_for_rotation() -> None:
    new_key, new_jwk = keypair("k2")
    calls = 0

    async def fetch() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"keys": [JWK, new_jwk]}

    rotating = JwtVerifier(
        JwksSource(static={"keys": [JWK]}, fetcher=fetch, min_refresh_seconds=0), issuer=ISS, audience=AUD
    )
    assert (await rotating.verify(mint(new_key, "k2"))).subject == "e1"
    assert calls == 1


async def test_a_token_is_checked_in_full_once_while_it_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = 0
    decode = jwt.decode

    def counting_decode(*args: Any, **kwargs: Any) -> dict[str, Any]:
        nonlocal checks
        checks += 1
        return decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    remembering, token = verifier(), mint(KEY, "k1", role="admin")
    first, second = await remembering.verify(token), await remembering.verify(token)
    assert first == second and first.role == "admin"
    assert checks == 1
    await remembering.verify(mint(KEY, "k1", sub="e2"))  # another token: its own full check
    assert checks == 2


async def test_a_remembered_token_still_expires() -> None:
    now = [time.time()]
    token = mint(KEY, "k1", exp=int(now[0]) + 60)
    remembering = JwtVerifier(
        JwksSource(static={"keys": [JWK]}), issuer=ISS, audience=AUD, leeway=30, clock=lambda: now[0]
    )
    await remembering.verify(token)
    now[0] += 60 + 31
    with pytest.raises(TokenInvalid, match="expired"):
        await remembering.verify(token)


async def test_a_remembered_token_is_refused_once_its_key_is_withdrawn() -> None:
    new_key, new_jwk = keypair("k2")
    published = {"keys": [JWK]}

    async def fetch() -> dict[str, Any]:
        return published

    source = JwksSource(static=published, fetcher=fetch, min_refresh_seconds=0)
    remembering = JwtVerifier(source, issuer=ISS, audience=AUD)
    token = mint(KEY, "k1")
    await remembering.verify(token)
    published = {"keys": [new_jwk]}  # k1 rotated out; a k2 token makes the source refetch
    await remembering.verify(mint(new_key, "k2"))
    with pytest.raises(TokenInvalid, match="unknown signing key"):
        await remembering.verify(token)


async def test_the_verifier_remembers_a_bounded_number_of_tokens() -> None:
    remembering = JwtVerifier(JwksSource(static={"keys": [JWK]}), issuer=ISS, audience=AUD, remembered=3)
    for n in range(10):
        await remembering.verify(mint(KEY, "k1", sub=f"e{n}"))
    assert len(remembering._verified) == 3


class Echo(BaseModel):
    n: int


def app() -> FastAPI:
    application = FastAPI()
    install_problem_handlers(application)
    current = principal_dependency(lambda: verifier())

    @application.post("/v1/echo")
    async def echo(body: Echo, principal: Principal = Depends(current)) -> dict[str, Any]:
        require_employee(principal)
        if body.n < 0:
            raise ProblemError(409, "negative", "Negative numbers conflict", detail="n must be >= 0")
        if body.n == 13:
            raise RuntimeError("password=hunter2 leaked?")
        return {"n": body.n, "tenant": principal.tenant_id}

    return application


@pytest.fixture
async def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_missing_or_bad_token_is_401_problem(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = await client.post("/v1/echo", json={"n": 1}, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "unauthorized"


async def test_validation_errors_are_422_without_echoing_input(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {mint(KEY, 'k1')}"}
    response = await client.post("/v1/echo", json={"n": "secret-value"}, headers=auth)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["loc"] == ["body", "n"]
    assert "secret-value" not in response.text


async def test_domain_problems_and_unexpected_errors(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {mint(KEY, 'k1')}"}
    conflict = await client.post("/v1/echo", json={"n": -1}, headers=auth)
    assert (conflict.status_code, conflict.json()["code"]) == (409, "negative")
    crash = await client.post("/v1/echo", json={"n": 13}, headers=auth)
    assert crash.status_code == 500
    assert "hunter2" not in crash.text
    ok = await client.post("/v1/echo", json={"n": 2}, headers=auth)
    assert ok.json() == {"n": 2, "tenant": "t1"}
