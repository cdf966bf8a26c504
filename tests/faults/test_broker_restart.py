"""A broker restart is a fault every service rides out by itself (SPEC quality targets; issue 13).

Apache Kafka is stopped cleanly while a burst of confirmations is on its way through the
pipeline (outbox relays publishing, connectors handling and committing), kept down longer than
the consumers' session timeout, so every member's session expires on the client side
("Heartbeat session expired - marking coordinator dead"), and started again on its data dir. No
service is restarted. Afterwards every appointment of the burst and a fresh one on each
provider must end ``synced`` at its confirmed version: the appointments service published it
through its outbox relay, the connector consumed it and published the sync status, and the
appointments service consumed that status. The broker is restarted twice: consumers that
survived one restart must survive the next.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from faultkit.resilient import retrying

from devstack.testing import RunningStack, running_stack
from devstack.walkthrough import Employee, guest_pick, morning_in

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.broker, pytest.mark.timeout(900)]

# Longer than the services' consumer session timeout (10 s): every client-side session expires.
BROKER_DOWN_SECONDS = 15.0
RESTARTS = 2
BURST = 20  # confirmations per provider on their way through the pipeline when the broker stops
SYNC_WITHIN = 120.0  # after the broker is back; generous on a shared machine (the test prints the real time)
OVERRIDES = {"appointments": {"GUEST_RATE_LIMIT_PER_MINUTE": "1000000"}}  # one guest IP picks all


@dataclass(frozen=True)
class Confirmed:
    host: Employee
    appointment_id: str
    version: int


async def test_every_service_consumes_again_after_the_broker_restarts(tmp_path: Path) -> None:
    with running_stack(tmp_path, overrides=OVERRIDES) as running:
        hosts = {p: await running.sign_in(p) for p in ("google", "microsoft")}
        try:
            for provider, host in hosts.items():
                await host.ensure_linked(provider)
            first = morning_in(days_ahead=3)
            await _synced(await _confirm(running, hosts, [first], "before"))
            for restart in range(1, RESTARTS + 1):
                day = first + timedelta(days=restart)
                burst = await _confirm(
                    running,
                    hosts,
                    [day + timedelta(minutes=30 * i) for i in range(BURST)],
                    f"burst {restart}",
                )
                await asyncio.to_thread(running.stack.stop_broker)
                await asyncio.sleep(BROKER_DOWN_SECONDS)  # the fault's length, not a wait for an outcome
                await asyncio.to_thread(running.stack.start_broker)
                back = time.monotonic()
                fresh = await _confirm(running, hosts, [day + timedelta(hours=16)], f"after {restart}")
                await _synced([*burst, *fresh])
                took = time.monotonic() - back
                print(f"restart {restart}: {len(burst) + len(fresh)} synced {took:.1f}s after the start")
        finally:
            for host in hosts.values():
                await host.close()


async def _confirm(
    running: RunningStack, hosts: dict[str, Employee], starts: list[datetime], label: str
) -> list[Confirmed]:
    """Per provider, one appointment at each of ``starts`` (two held candidates: it and the
    quarter of an hour after), confirmed by the guest. HTTP only: it works while the broker is
    down too (the events wait in the outbox)."""

    async def one(provider: str, host: Employee, at: datetime, n: int) -> Confirmed:
        title = f"{label} {provider} #{n}"
        created = await retrying(
            lambda: host.propose(at, at + timedelta(minutes=15), minutes=15, title=title), "propose"
        )
        slot = created["candidates"][0]["slot_id"]
        await retrying(lambda: guest_pick(running.urls.appointments, created["guest_token"], slot), "pick")
        shown = await retrying(lambda: host.appointment(created["appointment_id"]), "read")
        assert shown["status"] == "confirmed", shown["status"]
        return Confirmed(host, created["appointment_id"], shown["version"])

    return list(
        await asyncio.gather(*(one(p, h, at, n) for p, h in hosts.items() for n, at in enumerate(starts)))
    )


async def _synced(confirmed: list[Confirmed]) -> None:
    """Each one reads ``synced`` at its confirmed version within :data:`SYNC_WITHIN`."""
    await asyncio.gather(
        *(
            c.host.wait_sync(c.appointment_id, "synced", c.version, within=SYNC_WITHIN, every=0.5)
            for c in confirmed
        )
    )
