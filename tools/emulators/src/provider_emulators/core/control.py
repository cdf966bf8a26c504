"""The ``/__emulator`` control router shared by both providers.

Common endpoints (JSON):

- ``POST   /__emulator/reset``            → ``{"reset": true}`` (provider state, faults, counters)
- ``GET    /__emulator/state``            → provider state dump plus ``"requests"`` counters
- ``GET    /__emulator/requests``         → ``{"METHOD /path": n, ...}``
- ``GET    /__emulator/calls?since=<t>``  → ``{"calls": [[t, account, "METHOD /path"], ...]}``: every
  API call since the Unix time ``t``, with the account it acted for (from its bearer token;
  null when it has none, e.g. the token endpoint) — so a client's calls per account are counted
  where they arrive (the drift bench)
- ``POST   /__emulator/faults``           body :class:`FaultRule` fields → the stored rule
- ``GET    /__emulator/faults``           → ``{"faults": [rule, ...]}``
- ``DELETE /__emulator/faults``           → ``{"cleared": true}``
- ``DELETE /__emulator/faults/{rule_id}`` → 204, or 404 when unknown

Providers add their own endpoints to the returned router (or a second router with the same
prefix).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Response

from provider_emulators.core.faults import (
    CONTROL_PREFIX,
    ASGIApp,
    ErrorBodyFactory,
    FaultInjector,
    FaultMiddleware,
    FaultRule,
    Receive,
    Scope,
    Send,
)


class RequestCounter:
    """Thread-safe ``"METHOD /path"`` → count of requests seen (control paths excluded)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hit(self, method: str, path: str) -> None:
        with self._lock:
            self._counts[f"{method} {path}"] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def get(self, method: str, path: str) -> int:
        with self._lock:
            return self._counts.get(f"{method} {path}", 0)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


AccountOf = Callable[[Scope], "str | None"]
"""The account a request acts for (resolved from its bearer token), or None."""

CALL_LOG_LIMIT = 2_000_000
"""Calls kept (the oldest are dropped): a few hours of a 2,000-account bench."""


class CallLog:
    """Thread-safe log of API calls: ``(unix time, account or None, "METHOD /path")``."""

    def __init__(self, limit: int = CALL_LOG_LIMIT) -> None:
        self._times: list[float] = []
        self._calls: list[tuple[float, str | None, str]] = []
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, account: str | None, method: str, path: str) -> None:
        now = time.time()
        with self._lock:
            self._times.append(now)
            self._calls.append((now, account, f"{method} {path}"))
            if len(self._calls) > self._limit:
                drop = len(self._calls) - self._limit // 2
                del self._times[:drop], self._calls[:drop]

    def since(self, moment: float) -> list[tuple[float, str | None, str]]:
        with self._lock:
            return self._calls[bisect.bisect_left(self._times, moment) :]

    def clear(self) -> None:
        with self._lock:
            self._times.clear()
            self._calls.clear()


class RequestCounterMiddleware:
    """Counts every non-control HTTP request, including those answered by injected faults, and
    logs it with its account when given a ``calls`` log and an ``account_of``."""

    def __init__(
        self,
        app: ASGIApp,
        counter: RequestCounter,
        exempt_prefix: str = CONTROL_PREFIX,
        calls: CallLog | None = None,
        account_of: AccountOf | None = None,
    ) -> None:
        self.app = app
        self.counter = counter
        self.exempt_prefix = exempt_prefix
        self.calls = calls
        self.account_of = account_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith(self.exempt_prefix):
            self.counter.hit(scope["method"], scope["path"])
            if self.calls is not None:
                account = self.account_of(scope) if self.account_of is not None else None
                self.calls.add(account, scope["method"], scope["path"])
        await self.app(scope, receive, send)


def bearer_token(scope: Scope) -> str | None:
    """The bearer token of an ASGI request, if any."""
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            text = value.decode("latin-1")
            return text[7:].strip() if text.lower().startswith("bearer ") else None
    return None


def build_control_router(
    *,
    faults: FaultInjector,
    reset: Callable[[], None],
    state: Callable[[], dict[str, Any]],
    counter: RequestCounter | None = None,
    calls: CallLog | None = None,
) -> APIRouter:
    """Return an ``APIRouter`` (prefix ``/__emulator``) with the common control endpoints.

    ``reset`` resets provider state only; faults and counters are cleared here.
    """
    router = APIRouter(prefix=CONTROL_PREFIX, tags=["emulator-control"])

    @router.post("/reset")
    async def reset_all() -> dict[str, bool]:
        reset()
        faults.clear()
        if counter is not None:
            counter.clear()
        if calls is not None:
            calls.clear()
        return {"reset": True}

    @router.get("/state")
    async def dump_state() -> dict[str, Any]:
        dump = state()
        if counter is not None:
            dump["requests"] = counter.snapshot()
        dump["faults"] = [rule.model_dump() for rule in faults.list()]
        return dump

    @router.get("/requests")
    async def requests() -> dict[str, int]:
        return counter.snapshot() if counter is not None else {}

    @router.get("/calls")
    async def logged_calls(since: float = Query(0.0, ge=0)) -> dict[str, list[tuple[float, str | None, str]]]:
        return {"calls": calls.since(since) if calls is not None else []}

    @router.post("/faults")
    async def add_fault(rule: FaultRule) -> dict[str, Any]:
        return faults.add(rule).model_dump()

    @router.get("/faults")
    async def list_faults() -> dict[str, list[dict[str, Any]]]:
        return {"faults": [rule.model_dump() for rule in faults.list()]}

    @router.delete("/faults")
    async def clear_faults() -> dict[str, bool]:
        faults.clear()
        return {"cleared": True}

    @router.delete("/faults/{rule_id}", status_code=204)
    async def delete_fault(rule_id: str) -> Response:
        if not faults.remove(rule_id):
            raise HTTPException(status_code=404, detail=f"no fault rule {rule_id}")
        return Response(status_code=204)

    return router


def install_middleware(
    app: FastAPI,
    *,
    faults: FaultInjector,
    counter: RequestCounter,
    error_body: ErrorBodyFactory,
    calls: CallLog | None = None,
    account_of: AccountOf | None = None,
) -> None:
    """Add fault injection and request counting to ``app`` (counting sees faulted requests too)."""
    app.add_middleware(FaultMiddleware, injector=faults, error_body=error_body)
    app.add_middleware(RequestCounterMiddleware, counter=counter, calls=calls, account_of=account_of)
