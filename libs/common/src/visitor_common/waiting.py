"""Sleeping in a background loop until woken, without losing a cancellation."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_woken(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` passed; True when it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it returns the inner result when a cancellation
    lands in the same loop step as the event (a task ending during ``stop`` sets it), so the
    loop calling it runs on and the ``stop`` awaiting it hangs. ``asyncio.timeout`` tells its
    own expiry from a cancellation that came from outside."""
    if seconds <= 0:
        return event.is_set()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
