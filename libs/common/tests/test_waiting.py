"""``wait_woken``: a background loop's sleep that ends early when woken and never eats a
cancellation."""

from __future__ import annotations

import asyncio

from visitor_common.waiting import wait_woken


async def test_it_tells_a_wake_up_from_the_end_of_the_wait() -> None:
    woken = asyncio.Event()
    woken.set()
    assert await wait_woken(woken, 3600)
    assert not await wait_woken(asyncio.Event(), 0.01)
    assert not await wait_woken(asyncio.Event(), 0)


async def test_a_cancellation_in_the_same_step_as_the_wake_up_cancels() -> None:
    """``asyncio.wait_for`` on 3.11 returns the wake-up here and the caller's loop runs on."""
    event = asyncio.Event()
    sleeping = asyncio.create_task(wait_woken(event, 3600))
    await asyncio.sleep(0)  # one step: the sleeper runs until it parks on the event
    assert event._waiters  # type: ignore[attr-defined]
    event.set()
    sleeping.cancel()
    await asyncio.wait({sleeping}, timeout=10)
    assert sleeping.cancelled()
