"""Per-key asyncio locks and limits.

``KeyedLocks``: one appointment's changes are applied one at a time. ``KeyedLimiter``: at most N
provider requests in flight per key (Graph allows 4 concurrent requests per app and mailbox; one
limiter shared by every partition, the poller and the API keeps that however many appointments of
one host are in flight). A slot is held only while a request is on the wire: back-off sleeps
happen outside it, so a throttled call does not starve its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]


@dataclass
class _Gate:
    semaphore: asyncio.Semaphore
    users: int = 0
    in_flight: int = 0


@dataclass
class KeyedLimiter:
    """At most ``limit`` holders of a key's slot at once (keys folded to lower case)."""

    limit: int = 4
    _gates: dict[str, _Gate] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("limit must be at least 1")

    @asynccontextmanager
    async def slot(self, name: str) -> AsyncIterator[None]:
        """Hold one of the key's slots for the duration of the block."""
        key = name.strip().lower()
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _Gate(asyncio.Semaphore(self.limit))
        gate.users += 1
        try:
            async with gate.semaphore:
                gate.in_flight += 1
                self.max_in_flight[key] = max(self.max_in_flight.get(key, 0), gate.in_flight)
                try:
                    yield
                finally:
                    gate.in_flight -= 1
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[key]  # forget idle keys, so the map stays small

    def in_flight(self, name: str) -> int:
        gate = self._gates.get(name.strip().lower())
        return gate.in_flight if gate else 0
