"""Fault rules, the fault middleware, request counters and the shared control router."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from provider_emulators.core.control import RequestCounter, build_control_router, install_middleware
from provider_emulators.core.faults import FaultInjector, FaultRule, default_error_body


def make_app() -> tuple[FastAPI, FaultInjector, RequestCounter, list[str]]:
    app = FastAPI()
    faults, counter, resets = FaultInjector(), RequestCounter(), []

    @app.get("/api/items")
    async def items() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/api/items")
    async def create() -> dict[str, str]:
        return {"created": "yes"}

    def error_body(rule: FaultRule, path: str) -> dict[str, Any]:
        return {"provider": "test", "status": rule.status, "path": path, "reason": rule.reason}

    app.include_router(
        build_control_router(
            faults=faults, reset=lambda: resets.append("reset"), state=lambda: {"x": 1}, counter=counter
        )
    )
    install_middleware(app, faults=faults, counter=counter, error_body=error_body)
    return app, faults, counter, resets


@pytest.fixture
async def client() -> Any:
    app, *_ = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


def test_rule_matching_count_and_method() -> None:
    injector = FaultInjector()
    rule = injector.add(FaultRule(path_regex=r"^/api/items$", method="post", status=429, count=2))
    assert injector.match("GET", "/api/items") is None
    assert injector.match("POST", "/api/items/1") is None
    assert injector.match("POST", "/api/items") is rule
    assert injector.match("POST", "/api/items") is rule
    assert injector.match("POST", "/api/items") is None
    assert rule.hits == 2
    assert rule.spent


def test_probability_is_deterministic_per_seed() -> None:
    def fired(seed: int) -> list[bool]:
        injector = FaultInjector()
        injector.add(FaultRule(path_regex="x", probability=0.5, seed=seed))
        return [injector.match("GET", "/x") is not None for _ in range(40)]

    assert fired(7) == fired(7)
    assert fired(7) != fired(8)
    assert 5 < sum(fired(7)) < 35


def test_invalid_rules_are_rejected() -> None:
    with pytest.raises(ValidationError, match="invalid path_regex"):
        FaultRule(path_regex="(")
    with pytest.raises(ValidationError):
        FaultRule(path_regex="x", status=42)
    with pytest.raises(ValidationError):
        FaultRule(path_regex="x", probability=1.5)
    with pytest.raises(ValidationError):
        FaultRule(path_regex="x", unknown=True)  # type: ignore[call-arg]


def test_remove_and_clear() -> None:
    injector = FaultInjector()
    rule = injector.add(FaultRule(path_regex="x"))
    assert injector.remove(rule.id)
    assert not injector.remove(rule.id)
    injector.add(FaultRule(path_regex="x"))
    injector.clear()
    assert injector.list() == []


def test_default_error_body() -> None:
    assert default_error_body(FaultRule(path_regex="x", status=503), "/x") == {
        "error": {"code": 503, "message": "Injected fault"}
    }


async def test_middleware_applies_status_body_retry_after(client: httpx.AsyncClient) -> None:
    rule = {"path_regex": "^/api/items$", "status": 429, "retry_after": 9, "reason": "slowDown", "count": 1}
    added = (await client.post("/__emulator/faults", json=rule)).json()
    assert added["id"]
    response = await client.get("/api/items")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "9"
    assert response.json() == {"provider": "test", "status": 429, "path": "/api/items", "reason": "slowDown"}
    assert (await client.get("/api/items")).status_code == 200


async def test_explicit_body_and_control_paths_are_exempt(client: httpx.AsyncClient) -> None:
    await client.post(
        "/__emulator/faults", json={"path_regex": ".*", "status": 500, "body": {"custom": True}}
    )
    assert (await client.get("/api/items")).json() == {"custom": True}
    assert (await client.get("/__emulator/faults")).status_code == 200


async def test_latency_only_rule(client: httpx.AsyncClient) -> None:
    await client.post("/__emulator/faults", json={"path_regex": "items", "status": None, "latency_ms": 150})
    started = time.perf_counter()
    response = await client.get("/api/items")
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.14


async def test_control_router(client: httpx.AsyncClient) -> None:
    rule = (await client.post("/__emulator/faults", json={"path_regex": "nothing"})).json()
    assert [r["id"] for r in (await client.get("/__emulator/faults")).json()["faults"]] == [rule["id"]]
    assert (await client.delete(f"/__emulator/faults/{rule['id']}")).status_code == 204
    assert (await client.delete(f"/__emulator/faults/{rule['id']}")).status_code == 404
    assert (await client.post("/__emulator/faults", json={"path_regex": "("})).status_code == 422
    await client.post("/__emulator/faults", json={"path_regex": "nothing"})
    assert (await client.delete("/__emulator/faults")).json() == {"cleared": True}
    assert (await client.get("/__emulator/faults")).json() == {"faults": []}


async def test_counters_state_and_reset() -> None:
    app, faults, counter, resets = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        faults.add(FaultRule(path_regex="items", status=500, count=1))
        await http.get("/api/items")
        await http.get("/api/items")
        await http.post("/api/items")
        assert (await http.get("/__emulator/requests")).json() == {"GET /api/items": 2, "POST /api/items": 1}
        state = (await http.get("/__emulator/state")).json()
        assert state["x"] == 1
        assert state["requests"]["GET /api/items"] == 2
        assert state["faults"][0]["hits"] == 1
        assert (await http.post("/__emulator/reset")).json() == {"reset": True}
        assert resets == ["reset"]
        assert counter.snapshot() == {}
        assert faults.list() == []
        assert counter.get("GET", "/api/items") == 0
