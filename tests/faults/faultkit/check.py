"""The end of the run, compared with what was done: each appointment as the appointments service
shows it, and its events as the emulated provider holds them.

* lost change: the provider (or the appointment's sync view) does not show the last change made
  (a hold still there after the pick, the event at its old time after a move, an event left
  after a cancellation, a sync view of an older version);
* duplicate provider event: more than one live event for one intent (one title and start);
* wrong final state: the appointment's status, or its sync state and reason, is not the right one.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from devstack.testing import RunningStack
from devstack.walkthrough import Employee
from faultkit.load import Outcome
from faultkit.resilient import retrying

TITLE = re.compile(r"((?:faults|probe|revoke) [gm] #\d{5})$")
SETTLE_SECONDS = 600.0  # generous: the retry topic waits seconds between rounds, and at 2,000
# appointments on a loaded machine the connectors still work through a backlog when the load ends


@dataclass(frozen=True)
class LiveEvent:
    event_id: str
    start: datetime
    tentative: bool


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicates or self.wrong)

    def summary(self, limit: int = 10) -> str:
        return f"lost {self.lost[:limit]}, duplicates {self.duplicates[:limit]}, wrong {self.wrong[:limit]}"


def _start(value: dict[str, Any]) -> datetime:
    # Graph writes seven fractional digits; Python reads at most six
    text = re.sub(r"(\.\d{6})\d+", r"\1", value["dateTime"].replace("Z", "+00:00"))
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(value.get("timeZone") or "UTC"))
    return parsed.astimezone(UTC)


def live_events(running: RunningStack, provider: str, email: str) -> dict[str, list[LiveEvent]]:
    """The live events in ``email``'s calendar at the emulator, by appointment title."""
    found: dict[str, list[LiveEvent]] = {}
    if provider == "google":
        raw = [(e, e.get("summary", ""), e["status"] == "tentative") for e in running.google.events(email)]
        raw = [r for r in raw if r[0]["status"] != "cancelled"]
    else:
        events = running.microsoft.mailbox_events(email)
        raw = [
            (e, e.get("subject", ""), e.get("showAs") == "tentative") for e in events if not e.get("deleted")
        ]
    for event, title, tentative in raw:
        matched = TITLE.search(title)
        if matched:
            found.setdefault(matched.group(1), []).append(
                LiveEvent(event["id"], _start(event["start"]), tentative)
            )
    return found


@dataclass
class Checker:
    running: RunningStack
    hosts: dict[str, Employee]
    concurrency: int = 16

    async def verdict(self, outcomes: list[Outcome]) -> Verdict:
        verdict = Verdict()
        calendars = {
            provider: await asyncio.to_thread(live_events, self.running, provider, host.email)
            for provider, host in self.hosts.items()
        }
        shown = await self._appointments(outcomes)
        for outcome in outcomes:
            self._judge(outcome, shown[outcome.appointment_id], calendars[outcome.plan.provider], verdict)
        return verdict

    async def settle(self, outcomes: list[Outcome], within: float = SETTLE_SECONDS) -> Verdict:
        """Check again until everything is right or the deadline passes; the last verdict."""
        deadline = time.monotonic() + within
        while True:
            verdict = await self.verdict(outcomes)
            if verdict.clean or time.monotonic() > deadline:
                return verdict
            await asyncio.sleep(2.0)

    async def _appointments(self, outcomes: list[Outcome]) -> dict[str, dict[str, Any]]:
        pool = asyncio.Semaphore(self.concurrency)

        async def read(outcome: Outcome) -> tuple[str, dict[str, Any]]:
            host = self.hosts[outcome.plan.provider]
            async with pool:
                return outcome.appointment_id, await retrying(
                    lambda: host.appointment(outcome.appointment_id), "read"
                )

        return dict(await asyncio.gather(*(read(o) for o in outcomes)))

    def _judge(
        self, outcome: Outcome, shown: dict[str, Any], calendar: dict[str, list[LiveEvent]], verdict: Verdict
    ) -> None:
        plan = outcome.plan
        events = calendar.get(plan.title, [])
        self._duplicates(plan.title, events, verdict)
        sync = shown["calendar_sync"]
        if shown["status"] != plan.final_status or shown["version"] != outcome.version:
            verdict.wrong.append(
                f"{plan.title}: {shown['status']} v{shown['version']}, made v{outcome.version}"
            )
        elif sync["state"] != "synced" or sync.get("reason_code"):
            # the message says which path failed (a refused refresh at the auth service, a
            # refreshed token refused by the provider, ...): ours, and it names no secret
            verdict.wrong.append(
                f"{plan.title}: sync {sync['state']} {sync.get('reason_code')} ({sync.get('message')})"
            )
        if (sync.get("appointment_version") or 0) < outcome.version:
            verdict.lost.append(
                f"{plan.title}: sync view of v{sync.get('appointment_version')} < v{outcome.version}"
            )
        elif sorted({(e.start, e.tentative) for e in events}) != sorted(plan.live_starts):
            verdict.lost.append(f"{plan.title}: at the provider {[(e.start, e.tentative) for e in events]}")

    @staticmethod
    def _duplicates(title: str, events: list[LiveEvent], verdict: Verdict) -> None:
        for (start, _), count in Counter((e.start, e.tentative) for e in events).items():
            if count > 1:
                verdict.duplicates.append(f"{title}: {count} live events at {start:%Y-%m-%d %H:%M}")


async def revoked_verdict(running: RunningStack, outcome: Outcome, host: Employee, verdict: Verdict) -> None:
    """The appointment of the revoked grant: its last change could not reach the calendar, so it
    says why (``reauth_required``), and the calendar keeps its one earlier event."""
    shown = await retrying(lambda: host.appointment(outcome.appointment_id), "read")
    sync = shown["calendar_sync"]
    if sync["state"] not in ("failed", "blocked") or sync.get("reason_code") != "reauth_required":
        verdict.wrong.append(f"{outcome.plan.title}: sync {sync['state']} {sync.get('reason_code')}")
    events = (await asyncio.to_thread(live_events, running, "google", host.email)).get(outcome.plan.title, [])
    if len(events) != 1:
        verdict.duplicates.append(f"{outcome.plan.title}: {len(events)} live events")
