"""SPEC quality target: a connector crash loses no appointment change and creates no duplicate
calendar event. A connector is killed with SIGKILL while it works through a burst of
appointments, then started again (its in-memory state is gone, as after a crash without a
database); every appointment still ends ``synced`` with exactly one event in the calendar."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from devstack.testing import RunningStack
from devstack.walkthrough import Employee, next_workday_morning

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

BURST = 20
CONNECTORS = {"google": "calendar-google", "microsoft": "calendar-outlook"}


def calendar_entries(running: RunningStack, provider: str, email: str) -> list[tuple[str, bool]]:
    """(title, tentative) of every live event in the host's calendar at the emulator."""
    if provider == "google":
        live = [e for e in running.google.events(email) if e["status"] != "cancelled"]
        return [(e.get("summary", ""), e["status"] == "tentative") for e in live]
    live = [e for e in running.microsoft.mailbox_events(email) if not e.get("deleted")]
    return [(e.get("subject", ""), e["showAs"] == "tentative") for e in live]


async def signed_in(running: RunningStack, provider: str) -> tuple[Employee, str]:
    demo = running.demo
    if provider == "google":
        email, password = demo.admin_email, demo.admin_password
    else:
        email, password = demo.outlook_host_email, demo.outlook_host_password
    return await Employee.sign_in(running.urls, demo.tenant_id, email, password), email


@pytest.mark.parametrize("provider", ["google", "microsoft"])
async def test_a_killed_connector_resumes_without_losing_or_duplicating_events(
    running_stack: RunningStack, provider: str
) -> None:
    employee, email = await signed_in(running_stack, provider)
    try:
        current = await employee.auth.get("/v1/calendar-connections/current")
        if current.status_code != 200:
            await employee.link_calendar(provider, email)
        first = next_workday_morning(30 if provider == "google" else 31)
        titles = [f"crash {provider} #{i:02d}" for i in range(BURST)]
        created: list[dict[str, Any]] = await asyncio.gather(
            *(employee.propose(first + timedelta(hours=i), title=t) for i, t in enumerate(titles))
        )

        await asyncio.to_thread(running_stack.stack.crash_and_restart, CONNECTORS[provider])

        for appointment in created:
            await employee.wait_sync(appointment["appointment_id"], "synced", version=1, within=90)
        entries = calendar_entries(running_stack, provider, email)
        for title in titles:
            mine = [tentative for summary, tentative in entries if summary.endswith(title)]
            assert mine == [True], (title, mine)  # exactly one event, still the tentative hold
    finally:
        await employee.close()
