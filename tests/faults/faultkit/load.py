"""The load of the fault suite: appointments proposed, confirmed by the guest, some rescheduled
and cancelled, through the public HTTP APIs, with a bounded pool of concurrent flows.

Every appointment has a plan (its fate and its slots, unique in its host's calendar, so each
provider event can be told apart by title and start) and an outcome (what was done, version by
version). The checks compare the outcome with the services and the emulated providers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx

from devstack.walkthrough import Employee, UnexpectedStatus, _expect
from faultkit.resilient import Ambiguous, once_or_ambiguous, retrying

MINUTES = 15  # short slots: 2,000 appointments fit in the connectors' 60-day drift window


class Fate(StrEnum):
    PROPOSED = "proposed"  # never picked: both candidates stay held (tentative)
    CONFIRMED = "confirmed"
    RESCHEDULED = "rescheduled"  # confirmed, then moved to a third slot
    CANCELLED = "cancelled"  # confirmed, then cancelled
    MOVED_AND_CANCELLED = "moved_and_cancelled"


# one in twenty of each: 5 % proposed only, 15 % rescheduled, 10 % cancelled, 5 % both, 65 % confirmed
FATES = [Fate.PROPOSED, *[Fate.RESCHEDULED] * 3, *[Fate.CANCELLED] * 2, Fate.MOVED_AND_CANCELLED]


def fate_of(index: int) -> Fate:
    position = index % 20
    return FATES[position] if position < len(FATES) else Fate.CONFIRMED


@dataclass(frozen=True)
class Plan:
    provider: str  # "google" / "microsoft"
    title: str
    candidates: tuple[datetime, datetime]
    moved_to: datetime
    fate: Fate

    @property
    def final_status(self) -> str:
        if self.fate is Fate.PROPOSED:
            return "proposed"
        if self.fate in (Fate.CANCELLED, Fate.MOVED_AND_CANCELLED):
            return "cancelled"
        return "confirmed"

    @property
    def final_start(self) -> datetime | None:
        """Where the one confirmed event must be at the end (None: no confirmed event)."""
        if self.final_status != "confirmed":
            return None
        return self.moved_to if self.fate is Fate.RESCHEDULED else self.candidates[0]

    @property
    def live_starts(self) -> list[tuple[datetime, bool]]:
        """The live provider events at the end: (start, tentative)."""
        if self.fate is Fate.PROPOSED:
            return [(start, True) for start in self.candidates]
        final = self.final_start
        return [] if final is None else [(final, False)]


@dataclass
class Outcome:
    plan: Plan
    appointment_id: str = ""
    version: int = 0  # the version our last change made
    guest_token: str = ""
    slot_ids: list[str] = field(default_factory=list)
    changed_at: float = 0.0  # monotonic time of the last change
    done: bool = False


def plans(
    count: int,
    first: datetime,
    label: str = "faults",
    fate: Fate | None = None,
    providers: tuple[str, ...] = ("google", "microsoft"),
) -> list[Plan]:
    """``count`` plans, alternating providers; three half-hour slots of its own for each (from
    ``first``), titled ``<label> <g|m> #<n>``; every fate in turn unless ``fate`` is given."""
    made = []
    for index in range(count):
        provider = providers[index % len(providers)]
        k = index // len(providers)
        slot = [first + timedelta(minutes=MINUTES * (3 * k + j)) for j in range(3)]
        title = f"{label} {provider[0]} #{k:05d}"
        made.append(Plan(provider, title, (slot[0], slot[1]), slot[2], fate or fate_of(index)))
    return made


@dataclass
class Driver:
    """Runs plans for the hosts (one signed-in employee per provider) against the stack."""

    hosts: dict[str, Employee]
    appointments_url: str
    concurrency: int
    guest: httpx.AsyncClient = field(init=False)
    started: int = 0
    finished: int = 0
    ambiguous: int = 0  # answers lost with a killed service, recovered by reading back

    def __post_init__(self) -> None:
        self.guest = httpx.AsyncClient(base_url=self.appointments_url, timeout=20)

    async def close(self) -> None:
        await self.guest.aclose()

    async def run(self, work: list[Plan]) -> list[Outcome]:
        pool = asyncio.Semaphore(self.concurrency)
        outcomes = [Outcome(plan) for plan in work]

        async def one(outcome: Outcome) -> None:
            async with pool:
                self.started += 1
                await self.carry_out(outcome)
                self.finished += 1

        await asyncio.gather(*(one(o) for o in outcomes))
        return outcomes

    async def carry_out(self, outcome: Outcome) -> None:
        plan = outcome.plan
        await self.propose(outcome)
        if plan.fate is not Fate.PROPOSED:
            await self.pick(outcome, outcome.slot_ids[0])
        if plan.fate in (Fate.RESCHEDULED, Fate.MOVED_AND_CANCELLED):
            await self.move(outcome, plan.moved_to)
        if plan.fate in (Fate.CANCELLED, Fate.MOVED_AND_CANCELLED):
            await self.cancel(outcome)
        outcome.done = True

    # -- the changes ---------------------------------------------------------------------------
    async def propose(self, outcome: Outcome) -> None:
        plan, host = outcome.plan, self.hosts[outcome.plan.provider]
        while True:
            try:
                created = await once_or_ambiguous(
                    lambda: host.propose(*plan.candidates, minutes=MINUTES, title=plan.title)
                )
            except Ambiguous:
                self.ambiguous += 1
                if await self.adopt(outcome, host):
                    return
                continue
            outcome.appointment_id = created["appointment_id"]
            outcome.guest_token = created["guest_token"]
            self._record(outcome, created)
            return

    async def adopt(self, outcome: Outcome, host: Employee) -> bool:
        """After a lost answer to a proposal: find it among the host's newest appointments; if
        it was made, take it over with a fresh guest link (the first token was in the lost
        answer). False when it was not made."""
        recent = await retrying(host.recent_appointments, "list appointments")
        found = next((a for a in recent if a["title"] == outcome.plan.title), None)
        if found is None:
            return False
        outcome.appointment_id = found["appointment_id"]
        self._record(outcome, found)
        issued = await self.changed(outcome, lambda v: host.reissue_guest_link(outcome.appointment_id, v))
        outcome.guest_token = issued["guest_token"]
        return True

    async def pick(self, outcome: Outcome, slot_id: str) -> None:
        async def call() -> dict[str, Any]:
            response = await self.guest.post(
                f"/v1/guest/appointments/{outcome.guest_token}/pick", json={"slot_id": slot_id}
            )
            _expect(response, 200)
            result: dict[str, Any] = response.json()
            return result

        # picking the confirmed slot again answers the same confirmation: safe to repeat
        await retrying(call, "guest pick")
        host = self.hosts[outcome.plan.provider]
        self._record(outcome, await retrying(lambda: host.appointment(outcome.appointment_id), "read"))

    async def move(self, outcome: Outcome, start: datetime) -> None:
        host = self.hosts[outcome.plan.provider]
        await self.changed(
            outcome, lambda v: host.reschedule(outcome.appointment_id, v, start, minutes=MINUTES)
        )

    async def cancel(self, outcome: Outcome) -> None:
        host = self.hosts[outcome.plan.provider]
        await self.changed(outcome, lambda v: host.cancel(outcome.appointment_id, v, reason="faults"))

    async def changed(self, outcome: Outcome, change: Any) -> dict[str, Any]:
        """Make a change at the version we hold (If-Match). After a lost answer, read back: the
        version one up means it was made (nobody else changes these appointments)."""
        host = self.hosts[outcome.plan.provider]
        while True:
            at = outcome.version
            try:
                result: dict[str, Any] = await once_or_ambiguous(lambda: change(at))
            except Ambiguous:
                self.ambiguous += 1
                current = await retrying(lambda: host.appointment(outcome.appointment_id), "read")
                if current["version"] == at + 1:
                    self._record(outcome, current)
                    return current
                continue
            except UnexpectedStatus as error:
                if error.status != 412:
                    raise
                # the answer to an earlier try was lost and a retry raced it; read what is there
                current = await retrying(lambda: host.appointment(outcome.appointment_id), "read")
                if current["version"] == at + 1:
                    self._record(outcome, current)
                    return current
                raise
            self._record(outcome, result)
            return result

    def _record(self, outcome: Outcome, appointment: dict[str, Any]) -> None:
        outcome.version = int(appointment["version"])
        outcome.slot_ids = [c["slot_id"] for c in appointment["candidates"]]
        outcome.changed_at = time.monotonic()


async def sign_in_with_retry(
    urls: Any, tenant_id: str, email: str, password: str, provider: str | None = None
) -> Employee:
    employee = await retrying(lambda: Employee.sign_in(urls, tenant_id, email, password), "sign in")
    if provider is not None:
        await employee.ensure_linked(provider)
    return employee
