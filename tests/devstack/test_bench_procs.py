"""When the bench calls the stack quiet (``bench_procs.settle``), on CPU figures given to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from devstack.bench_procs import settle

CoresUsed = Callable[[Mapping[str, int], float], Awaitable[float]]


def windows(*cores: float) -> tuple[list[float], CoresUsed]:
    """A stand-in for the /proc reading: each window uses the next of ``cores``; the list it
    returns fills with what was read."""
    read: list[float] = []
    queue = list(cores)

    async def cores_used(pids: Mapping[str, int], window_s: float) -> float:
        read.append(queue.pop(0) if queue else cores[-1])
        return read[-1]

    return read, cores_used


async def test_a_stack_below_the_threshold_is_quiet_at_once() -> None:
    read, measure = windows(0.3)
    await settle({}, cores_used=measure)
    assert read == [0.3]


async def test_the_idle_level_of_a_busy_broker_counts_as_quiet_once_it_holds() -> None:
    """Left-over work dies down to Tansu's idle fetching (0.9 of a core on a slow VM): quiet once
    two windows agree, instead of waiting out the timeout for a level it never goes under."""
    read, measure = windows(1.9, 1.4, 0.95, 0.9, 0.9)
    await settle({}, cores_used=measure, timeout_s=60.0)
    assert read == [1.9, 1.4, 0.95, 0.9]


async def test_a_saturated_stack_is_never_taken_for_idle() -> None:
    read, measure = windows(1.95)  # a backlog on both cores: steady, but busy
    await settle({}, cores_used=measure, timeout_s=20.0, window_s=2.0)
    assert len(read) == 10  # the whole timeout
