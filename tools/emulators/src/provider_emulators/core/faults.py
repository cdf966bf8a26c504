"""Fault injection: rules that make matching requests fail, slow down, or both.

Rules are matched in insertion order against the request method and path (``re.search``).
A rule with ``count`` applies that many times and is then spent; ``probability`` makes a rule
apply at random, drawn from a per-rule ``random.Random(seed)`` so runs are reproducible.
The error body is built by a per-provider callback, so Google and Microsoft faults look like
the real providers' errors.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTROL_PREFIX = "/__emulator"


class FaultRule(BaseModel):
    """One fault. ``status=None`` adds only latency; ``body=None`` asks the provider callback."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    path_regex: str
    method: str | None = None
    status: int | None = Field(default=500, ge=100, le=599)
    body: dict[str, Any] | None = None
    reason: str | None = None
    message: str | None = None
    retry_after: int | None = Field(default=None, ge=0)
    latency_ms: int = Field(default=0, ge=0)
    count: int | None = Field(default=None, ge=0)
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int = 0
    hits: int = 0

    _pattern: re.Pattern[str] | None = PrivateAttr(default=None)
    _rng: random.Random | None = PrivateAttr(default=None)

    @field_validator("path_regex")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid path_regex: {exc}") from exc
        return value

    def model_post_init(self, __context: Any) -> None:
        self._pattern = re.compile(self.path_regex)
        self._rng = random.Random(self.seed)  # noqa: S311 -- seeded fault dice, not a secret

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        assert self._pattern is not None
        return self._pattern.search(path) is not None

    @property
    def spent(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def draw(self) -> bool:
        """Whether the rule fires for this request (consumes one random draw if probabilistic)."""
        if self.probability is None:
            return True
        assert self._rng is not None
        return self._rng.random() < self.probability


ErrorBodyFactory = Callable[[FaultRule, str], dict[str, Any]]


def default_error_body(rule: FaultRule, path: str) -> dict[str, Any]:
    return {"error": {"code": rule.status, "message": rule.message or "Injected fault"}}


class FaultInjector:
    """Thread-safe registry of :class:`FaultRule` objects."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def match(self, method: str, path: str) -> FaultRule | None:
        """Return the first live rule that fires for this request, counting the hit."""
        with self._lock:
            for rule in self._rules:
                if rule.spent or not rule.matches(method, path) or not rule.draw():
                    continue
                rule.hits += 1
                return rule
        return None


class FaultMiddleware:
    """ASGI middleware applying a :class:`FaultInjector`'s rules (control paths are exempt)."""

    def __init__(
        self,
        app: ASGIApp,
        injector: FaultInjector,
        error_body: ErrorBodyFactory = default_error_body,
        exempt_prefix: str = CONTROL_PREFIX,
    ) -> None:
        self.app = app
        self.injector = injector
        self.error_body = error_body
        self.exempt_prefix = exempt_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(self.exempt_prefix):
            await self.app(scope, receive, send)
            return
        rule = self.injector.match(scope["method"], path)
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.status is None:
            await self.app(scope, receive, send)
            return
        await self._send_error(rule, path, send)

    async def _send_error(self, rule: FaultRule, path: str, send: Send) -> None:
        body = rule.body if rule.body is not None else self.error_body(rule, path)
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json; charset=UTF-8"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if rule.retry_after is not None:
            headers.append((b"retry-after", str(rule.retry_after).encode()))
        await send({"type": "http.response.start", "status": rule.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
