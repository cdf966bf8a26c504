"""End-to-end part of ``make bench``: the full local stack, measured through its public APIs.

Per provider, one host links a calendar and proposes ``--appointments`` appointments (one slot
each, held as a tentative event); that set-up is not measured. Then guests pick, at most
``--concurrency`` at a time, and for each pick we measure the time from the pick request until
the appointment reads ``synced`` at the new version — which the connector only reports after the
provider answered the event write. Throughput is confirmations whose sync completed per second
of wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from devstack.stats import summary
from devstack.testing import RunningStack, running_stack
from devstack.walkthrough import guest_pick, morning_in

# The guest routes are rate-limited per client IP; every simulated guest here is 127.0.0.1.
BENCH_OVERRIDES = {"appointments": {"GUEST_RATE_LIMIT_PER_MINUTE": "1000000"}}
DAYS_AHEAD = {"google": 10, "microsoft": 20}  # the two hosts' slots never meet


async def end_to_end(args: argparse.Namespace) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-stack-") as state_dir,
        running_stack(Path(state_dir), overrides=BENCH_OVERRIDES) as running,
    ):
        for provider in DAYS_AHEAD:
            latencies, elapsed = await _measure(running, provider, args.appointments, args.concurrency)
            name = f"guest pick → synced ({'Google' if provider == 'google' else 'Outlook'})"
            results.append(summary(name, latencies, elapsed, len(latencies)))
        results += resident_memory(running)
    return results


def resident_memory(running: RunningStack) -> list[dict[str, Any]]:
    """Resident set size of every process of the stack after the load (Linux ``/proc``)."""
    rows = []
    for child in running.stack.children:
        status = Path(f"/proc/{child.pid}/status")
        if child.pid is None or not status.exists():
            continue
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        kib = int(fields["VmRSS"].split()[0])
        rows.append({"name": f"memory after the run: {child.name}", "rss_mb": round(kib / 1024, 1)})
    return rows


async def _measure(
    running: RunningStack, provider: str, count: int, concurrency: int
) -> tuple[list[float], float]:
    employee = await running.sign_in(provider)
    try:
        await employee.link_calendar(provider)
        first = morning_in(DAYS_AHEAD[provider])
        proposed = [
            await employee.propose(first + timedelta(hours=i), title=f"bench {i}") for i in range(count)
        ]
        for appointment in proposed:
            await employee.wait_sync(appointment["appointment_id"], "synced", version=1, within=120)
        gate = asyncio.Semaphore(concurrency)

        async def confirm(appointment: dict[str, Any]) -> float:
            async with gate:
                started = time.perf_counter()
                slot = appointment["candidates"][0]["slot_id"]
                await guest_pick(running.urls.appointments, appointment["guest_token"], slot)
                await employee.wait_sync(
                    appointment["appointment_id"], "synced", version=2, within=120, every=0.02
                )
                return (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        latencies = await asyncio.gather(*(confirm(a) for a in proposed))
        return list(latencies), time.perf_counter() - started
    finally:
        await employee.close()
