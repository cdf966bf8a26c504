"""`make run` stopped and started again on the same state dir: every service's data is still
there (SQLite files under <state-dir>/data/), while the emulators start empty and are re-seeded.
The demo hosts' calendar links, whose grants died with the emulators, are unlinked at start, so
the stack is consistent and linking again works as on a first start."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from devstack.testing import running_stack
from devstack.walkthrough import morning_in

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.timeout(300)]  # two stack starts


async def test_appointments_survive_a_restart_and_calendars_can_be_linked_again(tmp_path: Path) -> None:
    start = morning_in(days_ahead=9)
    with running_stack(tmp_path) as first:
        host = await first.sign_in("google")
        try:
            await host.ensure_linked("google")
            created = await host.propose(start, start + timedelta(hours=1), title="Before the restart")
            appointment_id = created["appointment_id"]
            before = await host.wait_sync(appointment_id, "synced", 1, within=60)
        finally:
            await host.close()
    assert (tmp_path / "data" / "appointments.sqlite3").exists()

    with running_stack(tmp_path) as second:
        host = await second.sign_in("google")  # the same tenant, employee and password
        try:
            after = await host.appointment(appointment_id)
            assert after["title"] == "Before the restart"
            assert after["version"] == before["version"]
            assert after["candidates"] == before["candidates"]
            # The link from the first run pointed at a grant the new emulator never issued.
            assert (await host.auth.get("/v1/calendar-connections/current")).status_code == 404
            history = (await host.auth.get("/v1/calendar-connections")).json()["items"]
            assert [c["status"] for c in history] == ["unlinked"]  # kept, as unlinked

            await host.ensure_linked("google")
            assert (await host.current_connection())["status"] == "active"
            again = await host.propose(start + timedelta(hours=3), title="After the restart")
            await host.wait_sync(again["appointment_id"], "synced", 1, within=60)
        finally:
            await host.close()
