"""Open-loop arrivals for ``make bench``: requests start on a fixed schedule, whether or not
the earlier ones are done, so a slow system shows as latency (and a backlog), never as a
politely lower request rate (the closed-loop trap)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from devstack.stats import Sample

T = TypeVar("T")


async def open_loop(
    items: Sequence[T], rate_per_s: float, duration_s: float, fire: Callable[[T], Awaitable[None]]
) -> list[Sample]:
    """Start ``fire(item)`` at ``rate_per_s`` for ``duration_s`` (one item per arrival; fewer
    items end the run early). Latency counts from when the request was due, so time a request
    spent waiting for the loop counts too (no coordinated omission)."""
    count = min(len(items), int(rate_per_s * duration_s))
    start = time.perf_counter()
    samples: list[Sample] = []

    async def one(index: int, item: T) -> None:
        due = start + index / rate_per_s
        try:
            await fire(item)
            error = None
        except Exception as failure:  # counted and reported, never hidden
            error = f"{type(failure).__name__}: {failure}"[:300]
        samples.append(Sample(due - start, (time.perf_counter() - due) * 1000, error))

    tasks = []
    for index, item in enumerate(items[:count]):
        delay = start + index / rate_per_s - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, item)))
    await asyncio.gather(*tasks)
    return sorted(samples, key=lambda s: s.due_s)
