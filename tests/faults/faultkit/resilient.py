"""Calls that ride out a killed service: what a client does while a service restarts.

A call that fails on the way (connection refused or reset, a timeout, a 5xx answer) is tried
again until the deadline. A 4xx answer is final: it is the service's decision, not a fault.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from devstack.walkthrough import UnexpectedStatus

T = TypeVar("T")

# generous: a killed service restarts in a few seconds, a stopped broker in ten or twenty, and
# the machine is shared; a deadline is no latency assertion
DEADLINE_SECONDS = 180.0


class Ambiguous(Exception):
    """The call may or may not have been made (the answer was lost with the service)."""


def is_transient(error: BaseException) -> bool:
    if isinstance(error, httpx.TransportError):
        return True
    return isinstance(error, UnexpectedStatus) and error.status >= 500


def is_ambiguous(error: BaseException) -> bool:
    """Whether the request may have reached the service before it failed: anything but a
    refused connection (or a connect timeout) may have been applied."""
    return is_transient(error) and not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)


async def retrying(call: Callable[[], Awaitable[T]], what: str, within: float = DEADLINE_SECONDS) -> T:
    """``call()`` until it succeeds; transient failures are retried with a short backoff."""
    deadline = time.monotonic() + within
    pause = 0.2
    while True:
        try:
            return await call()
        except Exception as error:
            if not is_transient(error) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


async def once_or_ambiguous(call: Callable[[], Awaitable[T]]) -> T:
    """One try; a failure after which the change may have been made raises :class:`Ambiguous`,
    other transient failures are retried (the request never reached the service)."""
    pause = 0.2
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            return await call()
        except Exception as error:
            if is_ambiguous(error):
                raise Ambiguous(str(error)) from error
            if not is_transient(error) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)
