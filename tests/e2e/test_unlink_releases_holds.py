"""A deliberate unlink leaves no hold behind (issue 12, deliver 6; decision 0011): on the real
local stack, auth asks the bound connector to delete the tentative holds it wrote while the
grant still works, and only then revokes the grant. The confirmed event of a picked visit stays."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devstack.testing import RunningStack
from devstack.walkthrough import event_ids, guest_pick, morning_in, slots_from

pytestmark = [pytest.mark.e2e, pytest.mark.broker]


@pytest.mark.parametrize(("provider", "days_ahead"), [("google", 20), ("microsoft", 21)])
async def test_unlinking_releases_the_holds_before_the_grant_is_revoked(
    running_stack: RunningStack, provider: str, days_ahead: int
) -> None:
    employee = await running_stack.sign_in(provider)
    email = employee.email
    try:
        await employee.ensure_linked(provider)
        start = morning_in(days_ahead)
        held = await employee.propose(*slots_from(start, 2))
        picked = await employee.propose(*slots_from(start + timedelta(hours=4), 1))
        holds = event_ids(
            (await employee.wait_sync(held["appointment_id"], "synced", version=1))["calendar_sync"]
        )
        await employee.wait_sync(picked["appointment_id"], "synced", version=1)
        await guest_pick(
            running_stack.urls.appointments, picked["guest_token"], picked["candidates"][0]["slot_id"]
        )
        confirmed = event_ids(
            (await employee.wait_sync(picked["appointment_id"], "synced", version=2))["calendar_sync"]
        )
        live = {e.event_id: e.tentative for e in running_stack.live_events(provider, email)}
        assert all(live.get(event_id) is True for event_id in holds.values())

        unlinked = await employee.auth.delete("/v1/calendar-connections/current")

        assert unlinked.status_code == 200, unlinked.text
        body = unlinked.json()
        assert body["connection"]["status"] == "unlinked"
        assert body["revoked_at_provider"] is (provider == "google")  # Microsoft has no revoke endpoint
        assert body["holds_released"] >= len(holds) and body["holds_not_released"] == 0
        live = {e.event_id: e.tentative for e in running_stack.live_events(provider, email)}
        assert not set(holds.values()) & set(live), "a hold stayed on the calendar after the unlink"
        assert all(live.get(event_id) is False for event_id in confirmed.values())  # the visit stays
        assert not any(live.values()), "no tentative event of the system is left"
    finally:
        await employee.ensure_linked(provider)  # the other e2e tests expect the demo hosts linked
        await employee.close()
