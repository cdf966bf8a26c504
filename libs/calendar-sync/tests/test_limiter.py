"""The per-key limiter: never more than N in flight per key (a mailbox), keys independent."""

from __future__ import annotations

import asyncio

import pytest

from calendar_sync.engine.locks import KeyedLimiter


async def _hold(limiter: KeyedLimiter, mailbox: str, seen: list[int], delay: float = 0.01) -> None:
    async with limiter.slot(mailbox):
        seen.append(limiter.in_flight(mailbox))
        await asyncio.sleep(delay)


async def test_at_most_four_in_flight_per_mailbox() -> None:
    limiter = KeyedLimiter(limit=4)
    seen: list[int] = []
    await asyncio.gather(*(_hold(limiter, "Host@Example.com", seen) for _ in range(40)))
    assert max(seen) == 4
    assert limiter.max_in_flight["host@example.com"] == 4


async def test_mailbox_keys_are_case_insensitive() -> None:
    limiter = KeyedLimiter(limit=1)
    seen: list[int] = []
    await asyncio.gather(_hold(limiter, "A@x.com", seen), _hold(limiter, "a@X.com", seen))
    assert max(seen) == 1


async def test_mailboxes_do_not_share_slots() -> None:
    limiter = KeyedLimiter(limit=1)
    started = asyncio.Event()
    release = asyncio.Event()

    async def blocker() -> None:
        async with limiter.slot("a@x.com"):
            started.set()
            await release.wait()

    task = asyncio.create_task(blocker())
    await started.wait()
    async with asyncio.timeout(1):
        async with limiter.slot("b@x.com"):
            assert limiter.in_flight("b@x.com") == 1
    release.set()
    await task


async def test_idle_mailboxes_are_forgotten_and_errors_release_the_slot() -> None:
    limiter = KeyedLimiter(limit=1)
    with pytest.raises(RuntimeError):
        async with limiter.slot("a@x.com"):
            raise RuntimeError("boom")
    assert limiter.in_flight("a@x.com") == 0
    assert limiter._gates == {}
    async with asyncio.timeout(1), limiter.slot("a@x.com"):
        pass


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        KeyedLimiter(limit=0)
