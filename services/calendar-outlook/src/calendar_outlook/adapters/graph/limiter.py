"""At most N Graph requests in flight per mailbox, across every partition of this process.

Outlook allows 4 concurrent requests per app per mailbox; more are answered 429
``MailboxConcurrency``. One limiter instance is shared by the whole service (consumers of all
partitions, the drift poller, the notification handler and the HTTP API), so the limit holds
however many appointments of one host are in flight. Slots are held only while a request is on
the wire: back-off sleeps happen outside, so a throttled call does not starve its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class _Gate:
    semaphore: asyncio.Semaphore
    users: int = 0
    in_flight: int = 0


@dataclass
class MailboxLimiter:
    limit: int = 4
    _gates: dict[str, _Gate] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("limit must be at least 1")

    @asynccontextmanager
    async def slot(self, mailbox: str) -> AsyncIterator[None]:
        """Hold one of the mailbox's slots for the duration of the block."""
        key = mailbox.strip().lower()
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
                del self._gates[key]  # forget idle mailboxes, so the map stays small

    def in_flight(self, mailbox: str) -> int:
        gate = self._gates.get(mailbox.strip().lower())
        return gate.in_flight if gate else 0
