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
from devstack.walkthrough import morning_in

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

BURST = 20
CONNECTORS = {"google": "calendar-google", "microsoft": "calendar-outlook"}


@pytest.mark.parametrize("provider", ["google", "microsoft"])
async def test_a_killed_connector_resumes_without_losing_or_duplicating_events(
    running_stack: RunningStack, provider: str
) -> None:
    employee = await running_stack.sign_in(provider)
    try:
        await employee.ensure_linked(provider)
        first = morning_in(30 if provider == "google" else 31)
        titles = [f"crash {provider} #{i:02d}" for i in range(BURST)]
        created: list[dict[str, Any]] = await asyncio.gather(
            *(employee.propose(first + timedelta(hours=i), title=t) for i, t in enumerate(titles))
        )

        await asyncio.to_thread(running_stack.stack.crash_and_restart, CONNECTORS[provider])

        for appointment in created:
            await employee.wait_sync(appointment["appointment_id"], "synced", version=1, within=90)
        events = running_stack.live_events(provider, employee.email)
        for title in titles:
            mine = [event.tentative for event in events if event.title.endswith(title)]
            assert mine == [True], (title, mine)  # exactly one event, still the tentative hold
    finally:
        await employee.close()
