"""CPU time and resident memory of the local stack's processes (and the bench's own), read
from Linux ``/proc`` — no agent in the measured processes."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from devstack.testing import RunningStack

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its reaped children so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class CpuMeter:
    """CPU seconds per named process between :meth:`start` and :meth:`stop` (summed over every
    start/stop pair), and the wall-clock ``seconds`` metered."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self._before: dict[str, float] = {}
        self._began = 0.0
        self.used: dict[str, float] = {}
        self.seconds = 0.0

    def start(self) -> None:
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._began = time.monotonic()

    def stop(self) -> dict[str, float]:
        for name, pid in self.pids.items():
            self.used[name] = self.used.get(name, 0.0) + cpu_seconds(pid) - self._before[name]
        self.seconds += time.monotonic() - self._began
        return self.used


async def idle_cost(pids: Mapping[str, int], seconds: float = 10.0) -> dict[str, float]:
    """CPU ms per second of each of ``pids`` doing nothing for ``seconds``."""
    meter = CpuMeter(pids)
    meter.start()
    await asyncio.sleep(seconds)
    meter.stop()
    return {name: round(used * 1000 / meter.seconds, 1) for name, used in meter.used.items()}


def ms_per_sample(
    meter: CpuMeter, samples: int, idle_ms_per_s: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Each process's CPU ms per sample over ``meter``'s windows; given ``idle_ms_per_s``, less
    what the process used doing nothing over as long."""
    idle = idle_ms_per_s or {}
    return {
        name: round((used * 1000 - idle.get(name, 0.0) * meter.seconds) / max(1, samples), 2)
        for name, used in meter.used.items()
    }


async def settle(
    pids: Mapping[str, int],
    *,
    below_cores: float = 0.6,
    steady_cores: float = 0.1,
    busy_cores: float = 1.5,
    timeout_s: float = 60.0,
    window_s: float = 2.0,
    cores_used: Callable[[Mapping[str, int], float], Awaitable[float]] | None = None,
) -> float:
    """Wait until the work the set-up left behind (holds being written, drift checks) is done,
    at most ``timeout_s``; returns the seconds waited.

    Done means: the processes together use less than ``below_cores`` over a ``window_s``
    window, or two windows in a row differ by less than ``steady_cores`` while below
    ``busy_cores`` — the stack's own idle level, which on Tansu (its consumers' 10 ms fetches)
    is above ``below_cores`` on a slow VM, so that test alone waited out the whole timeout
    there. A backlog still being worked through uses both cores, so it is never taken for
    idle."""
    measure = cores_used or _cores_used
    began = time.monotonic()
    previous: float | None = None
    for _ in range(max(1, int(timeout_s / window_s))):
        used = await measure(pids, window_s)
        if used < below_cores or (
            previous is not None and used < busy_cores and abs(used - previous) < steady_cores
        ):
            break
        previous = used
    return time.monotonic() - began


async def _cores_used(pids: Mapping[str, int], window_s: float) -> float:
    """The cores ``pids`` used together over the next ``window_s``."""
    before = sum(cpu_seconds(pid) for pid in pids.values())
    await asyncio.sleep(window_s)
    return (sum(cpu_seconds(pid) for pid in pids.values()) - before) / window_s


def stack_pids(running: RunningStack) -> dict[str, int]:
    """Every process of the stack (services, broker, emulators, mail sink), by name."""
    pids = {child.name: child.pid for child in running.stack.children if child.pid and child.alive()}
    broker = running.stack.broker
    if broker is not None and broker.pid:
        pids[broker.kind] = broker.pid
    return pids
