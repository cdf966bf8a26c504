"""End-to-end part of ``make bench``: the full local stack, measured through its public APIs.

Per provider, one host links a calendar and proposes appointments of three candidates each,
held as tentative events, before anything is measured. Then guests pick:

- ``single``: one pick at a time (pick request → the appointment reads ``synced`` at the new
  version, which the connector only reports after the provider answered the event write);
- ``sustained``: open loop at each ``--rate`` per provider (both providers at once) for
  ``--duration`` seconds.

Completion is observed with the appointments service's long poll
(``GET /v1/appointments/{id}/sync?after_revision=N&wait=S``), one pooled HTTP client per role
(the guests, each host), so the bench spends its CPU on requests, not on polling or on TLS
set-ups. The CPU time of every process of the stack (and the bench's own) is read from ``/proc``
around the sustained windows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from devstack.bench_hops import Pick
from devstack.bench_load import open_loop
from devstack.bench_procs import CpuMeter
from devstack.stats import Run
from devstack.testing import RunningStack
from devstack.walkthrough import Employee

# The guest routes are rate-limited per client IP; every simulated guest here is 127.0.0.1.
BENCH_OVERRIDES = {"appointments": {"GUEST_RATE_LIMIT_PER_MINUTE": "100000000"}}
PROVIDERS = ("google", "microsoft")
CANDIDATES = 3
SLOT = timedelta(minutes=30)
SYNC_WAIT_S = 30.0
POOL = httpx.Limits(max_connections=400, max_keepalive_connections=400)


@dataclass
class Prepared:
    """An appointment ready to be picked: its guest token, the slot to pick, and the revision
    of its sync state once its holds were written."""

    appointment_id: str
    guest_token: str
    slot_id: str
    revision: int


@dataclass
class Host:
    provider: str
    employee: Employee
    client: httpx.AsyncClient  # the host's reads (long polls)
    ready: list[Prepared] = field(default_factory=list)

    async def sync_views(self, appointment_id: str, after_revision: int) -> AsyncIterator[dict[str, Any]]:
        """The appointment's sync view each time it changes (the long poll), for ``SYNC_WAIT_S``."""
        deadline = time.monotonic() + SYNC_WAIT_S
        revision = after_revision
        while (left := deadline - time.monotonic()) > 0:
            response = await self.client.get(
                f"/v1/appointments/{appointment_id}/sync",
                params={"after_revision": revision, "wait": round(min(left, 25.0), 1)},
            )
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            revision = int(body["revision"])
            yield body

    async def wait_synced(self, appointment_id: str, version: int, after_revision: int) -> int:
        """Long-poll until the sync state reads ``synced`` at ``version`` or later; returns the
        revision. A ``failed`` or ``blocked`` state is an error."""
        async for body in self.sync_views(appointment_id, after_revision):
            sync = body["calendar_sync"]
            if (sync.get("appointment_version") or 0) >= version:
                if sync["state"] == "synced":
                    return int(body["revision"])
                if sync["state"] in ("failed", "blocked"):
                    raise RuntimeError(
                        f"sync {sync['state']}: {sync.get('reason_code')} {sync.get('message')}"
                    )
        raise TimeoutError(f"{appointment_id} not synced at v{version} within {SYNC_WAIT_S}s")

    async def wait_state(self, appointment_id: str, state: str, after_revision: int) -> int:
        """Long-poll until the sync state reads ``state``; returns the revision."""
        async for body in self.sync_views(appointment_id, after_revision):
            if body["calendar_sync"]["state"] == state:
                return int(body["revision"])
        raise TimeoutError(f"{appointment_id} did not read {state} within {SYNC_WAIT_S}s")


class Bench:
    """The stack plus the bench's pooled clients, one host per provider of ``providers``."""

    def __init__(self, running: RunningStack, providers: Sequence[str] = PROVIDERS) -> None:
        self.running = running
        self.providers = tuple(providers)
        self.guests = httpx.AsyncClient(base_url=running.urls.appointments, timeout=SYNC_WAIT_S, limits=POOL)
        self.hosts: dict[str, Host] = {}
        self.single_picks: list[Pick] = []  # for the per-hop breakdown (devstack.bench_hops)

    async def open(self) -> None:
        for provider in self.providers:
            employee = await self.running.sign_in(provider)
            await employee.ensure_linked(provider)
            client = httpx.AsyncClient(
                base_url=self.running.urls.appointments,
                headers=dict(employee.appointments.headers),
                timeout=SYNC_WAIT_S + 5,
                limits=POOL,
            )
            self.hosts[provider] = Host(provider, employee, client)

    async def close(self) -> None:
        await self.guests.aclose()
        for host in self.hosts.values():
            await host.client.aclose()
            await host.employee.close()

    # -- set-up (not measured) ---------------------------------------------------------------
    async def prepare(self, per_provider: int, say: Callable[[str], None]) -> None:
        """Propose ``per_provider`` appointments per host (3 held candidates each, slots that
        never overlap) and wait until their holds are in the calendar."""
        start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)

        async def prepare_host(host: Host) -> None:
            began = time.perf_counter()
            made = await _bounded(
                8, [self._propose_one(host, start + i * CANDIDATES * SLOT, i) for i in range(per_provider)]
            )
            host.ready.extend(made)
            say(f"  {host.provider}: {len(made)} appointments ready in {time.perf_counter() - began:.0f} s")

        await asyncio.gather(*(prepare_host(host) for host in self.hosts.values()))

    async def _propose_one(self, host: Host, first: datetime, index: int) -> Prepared:
        for attempt in range(3):
            try:
                created = await host.employee.propose(
                    *(first + k * SLOT for k in range(CANDIDATES)), minutes=30, title=f"bench {index}"
                )
                break
            except httpx.TransportError:  # a kept-alive connection the server closed just then
                if attempt == 2:
                    raise
        revision = await host.wait_synced(created["appointment_id"], 1, 0)
        return Prepared(
            created["appointment_id"], created["guest_token"], created["candidates"][0]["slot_id"], revision
        )

    # -- measured --------------------------------------------------------------------------
    async def confirm(self, host: Host, ready: Prepared) -> None:
        """The guest picks; done when the host's long poll sees the confirmation synced."""
        picked = await self.guests.post(
            f"/v1/guest/appointments/{ready.guest_token}/pick", json={"slot_id": ready.slot_id}
        )
        if picked.status_code != 200:
            raise RuntimeError(f"pick answered {picked.status_code}: {picked.text[:200]}")
        await host.wait_synced(ready.appointment_id, 2, ready.revision)

    def take(self, provider: str, count: int) -> list[Prepared]:
        host = self.hosts[provider]
        taken, host.ready = host.ready[:count], host.ready[count:]
        return taken

    async def single(self, count: int) -> list[float]:
        """One pick at a time, alternating providers; latencies in ms."""
        latencies: list[float] = []
        for provider in self.providers:
            host = self.hosts[provider]
            for ready in self.take(provider, count):
                wall, began = time.time(), time.perf_counter()
                await self.confirm(host, ready)
                latencies.append((time.perf_counter() - began) * 1000)
                self.single_picks.append(Pick(ready.appointment_id, provider, wall, latencies[-1]))
        return latencies

    async def sustained(self, rate: float, duration: float, meter: CpuMeter) -> list[Run]:
        """Both providers at ``rate`` each, at once, open loop; CPU metered over the window."""
        count = int(rate * duration)
        batches = {provider: self.take(provider, count) for provider in self.providers}
        meter.start()
        results = await asyncio.gather(
            *(
                open_loop(batch, rate, duration, _bound(self.confirm, self.hosts[provider]))
                for provider, batch in batches.items()
            )
        )
        meter.stop()
        return [
            Run(provider, rate, duration, samples)
            for provider, samples in zip(self.providers, results, strict=True)
        ]


def _bound(
    fire: Callable[[Host, Prepared], Awaitable[None]], host: Host
) -> Callable[[Prepared], Awaitable[None]]:
    async def one(ready: Prepared) -> None:
        await fire(host, ready)

    return one


async def _bounded(limit: int, jobs: Sequence[Awaitable[Prepared]]) -> list[Prepared]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Awaitable[Prepared]) -> Prepared:
        async with gate:
            return await job

    return list(await asyncio.gather(*(run(j) for j in jobs)))
