"""The faults, paced by the load's progress: SIGKILL and restart of each service, one clean stop
and start of the broker (its data kept), provider throttling, expiring access tokens, and one
revoked grant.

After every kill (and the broker restart) a probe appointment is proposed on the provider the
killed part serves; the time from the kill until the probe is ``synced`` is the recovery time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from devstack.testing import RunningStack
from faultkit.load import Driver, Fate, Outcome, Plan
from faultkit.resilient import retrying

KILLED = ("auth", "calendar-google", "appointments", "calendar-outlook")
SERVES = {"calendar-google": "google", "calendar-outlook": "microsoft"}
# Each request inside a batch is throttled on its own, as the providers do; the batch envelope
# is not one more call to throttle (Google's batch path is outside /calendar/v3/ anyway).
THROTTLED_PATHS = {"google": r"^/calendar/v3/", "microsoft": r"^/v1\.0/(?!\$batch$)"}
BROKER_DOWN_SECONDS = 5.0  # how long the broker stays stopped while the load goes on
# A probe queues behind the backlog of its partition (at 2,000 appointments on a loaded 2-core
# machine, minutes of it); this only bounds a hung run: the recovery figure says how long it took.
PROBE_DEADLINE_SECONDS = 600.0


def provider_throttling(running: RunningStack, share: float = 0.3, retry_after: int = 1) -> None:
    """``share`` of the provider API calls answer 429 or 503 (half each), with ``Retry-After``."""
    half = share / 2
    for provider, control in (("google", running.google), ("microsoft", running.microsoft)):
        path = THROTTLED_PATHS[provider]
        control.add_fault(path, status=429, probability=half, retry_after=retry_after, seed=1)
        # the second rule only sees what the first let through: scale it to the same share
        control.add_fault(path, status=503, probability=half / (1 - half), retry_after=retry_after, seed=2)


def throttled_count(running: RunningStack) -> int:
    """Provider calls answered with an injected 429/503 so far."""
    return sum(
        int(rule["hits"])
        for control in (running.google, running.microsoft)
        for rule in control.state()["faults"]
    )


@dataclass
class Chaos:
    running: RunningStack
    driver: Driver
    total: int  # appointments in the load (the pace: one step per share of them started)
    probe_plans: list[Plan]
    revoke: Callable[[], Awaitable[None]]
    probes: list[Outcome] = field(default_factory=list)
    recoveries: list[float] = field(default_factory=list)
    service_kills: dict[str, int] = field(default_factory=dict)
    broker_restarts: int = 0
    token_expiries: int = 0
    with_broker_restart: bool = True

    def schedule(self, rounds: int = 3) -> list[Callable[[], Awaitable[None]]]:
        """Every service ``rounds`` times; the broker restart, the token expiries and the
        revocation in between."""
        steps: list[Callable[[], Awaitable[None]]] = []
        for round_ in range(rounds):
            for service in KILLED:
                steps.append(lambda s=service: self.kill(s))  # type: ignore[misc]
            steps.append(self.expire_tokens)
            if round_ == 0:
                steps.append(self.revoke)
            if round_ == 1 and self.with_broker_restart:
                steps.append(self.restart_broker)
        return steps

    async def run(self, rounds: int = 3) -> None:
        steps = self.schedule(rounds)
        for number, step in enumerate(steps, start=1):
            await self._until_started(number / (len(steps) + 1))
            await step()

    async def _until_started(self, share: float) -> None:
        while self.driver.started < share * self.total and self.driver.finished < self.total:  # noqa: ASYNC110
            await asyncio.sleep(0.2)

    # -- the steps ---------------------------------------------------------------------------
    async def kill(self, service: str) -> None:
        stack = self.running.stack
        killed_at = time.monotonic()
        await asyncio.to_thread(stack.kill_service, service)
        await asyncio.to_thread(stack.restart_service, service)
        self.service_kills[service] = self.service_kills.get(service, 0) + 1
        await self._recovered(
            SERVES.get(service, "google" if len(self.probes) % 2 else "microsoft"), killed_at
        )

    async def restart_broker(self) -> None:
        stack = self.running.stack
        stopped_at = time.monotonic()
        await asyncio.to_thread(stack.stop_broker)
        await asyncio.sleep(BROKER_DOWN_SECONDS)  # the fault's length, not a wait for an outcome
        await asyncio.to_thread(stack.start_broker)
        self.broker_restarts += 1
        await self._recovered("google", stopped_at)

    async def expire_tokens(self) -> None:
        """Every access token at both providers expires now: the next calls answer 401 and the
        connectors must refresh through the auth service."""
        await asyncio.to_thread(self.running.google.expire_tokens)
        await asyncio.to_thread(self.running.microsoft.expire_access_tokens)
        self.token_expiries += 1

    async def _recovered(self, provider: str, since: float) -> None:
        """Propose a probe on ``provider`` and wait until it is synced; record the time since
        ``since`` (the kill)."""
        plan = next(p for p in self.probe_plans if p.provider == provider and p.fate is Fate.PROPOSED)
        self.probe_plans.remove(plan)
        outcome = Outcome(plan)
        self.probes.append(outcome)
        await self.driver.propose(outcome)
        outcome.done = True
        host = self.driver.hosts[provider]
        deadline = time.monotonic() + PROBE_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            body = await retrying(lambda: host.appointment(outcome.appointment_id), "read probe")
            sync = body["calendar_sync"]
            if sync["state"] == "synced" and (sync.get("appointment_version") or 0) >= outcome.version:
                self.recoveries.append(time.monotonic() - since)
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"the probe {plan.title} never synced after the fault: {sync}")
