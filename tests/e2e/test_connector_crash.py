"""SPEC quality target: a connector crash loses no appointment change and creates no duplicate
calendar event. The Google connector is killed with SIGKILL while it works through a burst of
appointments, then started again (its in-memory state is gone, as after a crash without a
database); every appointment still ends ``synced`` with exactly one event in the calendar."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from devstack.testing import RunningStack
from devstack.walkthrough import Employee, next_workday_morning

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

BURST = 20


async def test_a_killed_connector_resumes_without_losing_or_duplicating_events(
    running_stack: RunningStack,
) -> None:
    demo = running_stack.demo
    urls = running_stack.urls
    employee = await Employee.sign_in(urls, demo.tenant_id, demo.admin_email, demo.admin_password)
    try:
        current = await employee.auth.get("/v1/calendar-connections/current")
        if current.status_code != 200 or current.json()["provider"] != "google":
            await employee.link_calendar("google", demo.admin_email)
        first = next_workday_morning(30)
        titles = [f"crash #{i:02d}" for i in range(BURST)]
        created = await asyncio.gather(
            *(employee.propose(first + timedelta(hours=i), title=t) for i, t in enumerate(titles))
        )

        await asyncio.to_thread(running_stack.stack.crash_and_restart, "calendar-google")

        for appointment in created:
            await employee.wait_sync(appointment["appointment_id"], "synced", version=1, within=90)
        events = running_stack.google.events(demo.admin_email)
        for title in titles:
            mine = [e for e in events if e.get("summary", "").endswith(title)]
            assert len(mine) == 1, (title, [(e["id"], e["status"]) for e in mine])
            assert mine[0]["status"] == "tentative"
    finally:
        await employee.close()
