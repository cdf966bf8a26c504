"""Reception check-in: the aggregate's rule (confirmed, active code, visit window, once), the
wrong-code lockouts, and the route (reception token only, 200 / again 200 / 404 / 409 / 429,
``GuestCheckedIn`` to the lifecycle topic only)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from appointments_testkit import Harness, create_body, make_appointment

from appointments_service.adapters.guess_limit import GuessLimiter
from appointments_service.domain import rules
from appointments_service.domain.errors import InvalidState, OutsideVisitWindow
from appointments_service.domain.model import CalendarSyncState, Reception, SyncReport
from visitor_common.events import (
    AppointmentStatus,
    CalendarBinding,
    GuestCheckedIn,
    Provider,
    SyncState,
)
from visitor_common.topics import APPOINTMENT_LIFECYCLE

NOW = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
GOOGLE = CalendarBinding(provider=Provider.GOOGLE, connection_id="c1", account_email="host@example.co.jp")


def confirmed(**update: Any) -> Any:
    """Confirmed for ``s1`` (one day after NOW, one hour long) with code 123456."""
    proposed = make_appointment(NOW, binding=GOOGLE)
    return proposed.confirm("s1", "123456", NOW).appointment.model_copy(update=update)


# --- the aggregate -------------------------------------------------------------------------


def test_check_in_within_the_window_records_it_once_with_one_event() -> None:
    appointment = confirmed()
    at = NOW + timedelta(hours=23)  # an hour before the visit
    changed = appointment.check_in("dev-1", at)
    after = changed.appointment
    assert after.version == appointment.version + 1
    check_in = after.repeated_check_in()
    assert check_in is not None and check_in.checked_in_at == at and check_in.device_id == "dev-1"
    (event,) = changed.events
    assert isinstance(event, GuestCheckedIn)
    assert event.appointment_version == after.version
    assert event.slot.slot_id == "s1" and event.host_email == "host@example.co.jp"
    assert event.device_id == "dev-1" and event.guests == appointment.guests
    with pytest.raises(InvalidState):
        after.check_in("dev-2", at)


@pytest.mark.parametrize(
    ("offset", "allowed"),
    [
        (timedelta(hours=12, seconds=-1), False),  # 12 h before the start: not yet open
        (timedelta(hours=12), True),
        (timedelta(days=1, hours=3), True),  # 2 h after the end: still open
        (timedelta(days=1, hours=3, seconds=1), False),
    ],
)
def test_the_visit_window_runs_from_12_hours_before_until_2_hours_after(
    offset: timedelta, allowed: bool
) -> None:
    appointment = confirmed()
    if allowed:
        assert appointment.check_in("dev-1", NOW + offset).appointment.repeated_check_in() is not None
    else:
        with pytest.raises(OutsideVisitWindow) as refused:
            appointment.check_in("dev-1", NOW + offset)
        assert refused.value.code == "outside_visit_window"
        assert refused.value.context["window_opens_at"] == (NOW + timedelta(hours=12)).isoformat()


def test_only_a_confirmed_visit_with_an_active_code_checks_in() -> None:
    with pytest.raises(InvalidState):
        make_appointment(NOW).check_in("dev-1", NOW + timedelta(hours=23))
    released = confirmed()
    assert released.reception is not None
    gone = released.model_copy(update={"reception": released.reception.release()})
    with pytest.raises(InvalidState):
        gone.check_in("dev-1", NOW + timedelta(hours=23))


def test_a_check_in_leaves_the_calendar_sync_state_alone() -> None:
    """The connector never hears of a check-in, so its report on the version before is current."""
    appointment = confirmed()
    report = SyncReport(
        provider=Provider.GOOGLE,
        connection_id="c1",
        appointment_version=appointment.version,
        state=SyncState.SYNCED,
        observed_at=NOW,
    )
    after = appointment.check_in("dev-1", NOW + timedelta(hours=23)).appointment
    assert rules.sync_view(after, report).state is CalendarSyncState.SYNCED
    later = after.update_details(rules_details(), NOW + timedelta(hours=23, minutes=1)).appointment
    assert rules.sync_view(later, report).state is CalendarSyncState.PENDING


def rules_details() -> Any:
    from appointments_service.domain.model import DetailsChange

    return DetailsChange(title="Visit (moved upstairs)")


def test_an_old_document_without_check_in_still_loads() -> None:
    reception = Reception.model_validate({"code": "123456", "active": True, "issued_at": NOW.isoformat()})
    assert reception.checked_in is None


# --- the lockouts --------------------------------------------------------------------------


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wrong_guesses_lock_the_key_for_longer_each_time() -> None:
    ticks = Ticks()
    limiter = GuessLimiter(3, base=30.0, cap=100.0, clock=ticks)
    assert [limiter.missed("k") for _ in range(2)] == [0.0, 0.0]
    assert limiter.wait("k") == 0
    assert limiter.missed("k") == 30.0
    assert limiter.wait("k") == 30.0 and limiter.wait("other") == 0
    ticks.now += 31
    assert limiter.wait("k") == 0
    assert [limiter.missed("k") for _ in range(3)] == [0.0, 0.0, 60.0]
    ticks.now += 61
    assert [limiter.missed("k") for _ in range(3)][-1] == 100.0  # capped


def test_a_right_code_forgives_the_typos_before_it_and_quiet_forgets_lockouts() -> None:
    ticks = Ticks()
    limiter = GuessLimiter(3, base=30.0, cap=1000.0, forget_after=600.0, clock=ticks)
    limiter.missed("k")
    limiter.missed("k")
    limiter.succeeded("k")
    assert limiter.missed("k") == 0.0
    for _ in range(2):
        limiter.missed("k")
    ticks.now += 30 + 600
    assert [limiter.missed("k") for _ in range(3)][-1] == 30.0  # back to the first lockout


# --- the route -----------------------------------------------------------------------------


def soon(h: Harness, hours: float = 2) -> datetime:
    return (h.clock.now + timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


async def confirmed_visit(h: Harness, start: datetime) -> tuple[dict[str, Any], str]:
    created = await h.create(create_body(start))
    slot_id = created["candidates"][0]["slot_id"]
    picked = await h.client.post(
        f"/v1/guest/appointments/{created['guest_token']}/pick", json={"slot_id": slot_id}
    )
    assert picked.status_code == 200, picked.text
    return created, picked.json()["reception_code"]


async def test_check_in_answers_the_visit_and_again_the_same_check_in(h: Harness) -> None:
    created, code = await confirmed_visit(h, soon(h))
    pending = await h.outbox(created["appointment_id"])
    first = await h.client.post("/v1/reception/check-ins", json={"reception_code": code}, headers=h.desk())
    assert first.status_code == 200, first.text
    # the check-in appends its one event; the entries it read are not written again (append-only)
    assert [e["id"] for e in await h.outbox(created["appointment_id"])][: len(pending)] == [
        e["id"] for e in pending
    ]
    assert len(await h.outbox(created["appointment_id"])) == len(pending) + 1
    body = first.json()
    assert body["appointment_id"] == created["appointment_id"]
    assert body["title"] == "Quarterly review" and body["host_email"] == "host@example.co.jp"
    assert body["guests"][0]["name"] == "Sato Hanako"
    assert body["slot"]["start"] == created["candidates"][0]["start"]
    h.clock.advance(timedelta(minutes=3))
    again = await h.client.post(
        "/v1/reception/check-ins", json={"reception_code": code}, headers=h.desk("t1", "dev-2")
    )
    assert again.status_code == 200 and again.json() == body
    entries = await h.outbox(created["appointment_id"])
    checked_in = [e for e in entries if json.loads(e["payload"])["type"] == GuestCheckedIn.cloudevent_type()]
    assert [e["topic"] for e in checked_in] == [APPOINTMENT_LIFECYCLE]  # once, and never to a connector
    shown = await h.client.get(f"/v1/appointments/{created['appointment_id']}", headers=h.auth())
    assert shown.json()["status"] == AppointmentStatus.CONFIRMED.value


async def test_an_employee_token_is_refused(h: Harness) -> None:
    _, code = await confirmed_visit(h, soon(h))
    refused = await h.client.post("/v1/reception/check-ins", json={"reception_code": code}, headers=h.auth())
    assert refused.status_code == 403 and refused.json()["code"] == "reception_token_required"
    anonymous = await h.client.post("/v1/reception/check-ins", json={"reception_code": code})
    assert anonymous.status_code == 401


async def test_unknown_code_other_tenant_and_outside_the_window(h: Harness) -> None:
    _, code = await confirmed_visit(h, soon(h))
    other = str((int(code) + 1) % 1_000_000).zfill(6)
    unknown = await h.client.post("/v1/reception/check-ins", json={"reception_code": other}, headers=h.desk())
    assert unknown.status_code == 404 and unknown.json()["code"] == "reception_code_unknown"
    elsewhere = await h.client.post(
        "/v1/reception/check-ins", json={"reception_code": code}, headers=h.desk("t2", "dev-9")
    )
    assert elsewhere.status_code == 404
    _, ahead = await confirmed_visit(h, soon(h, hours=72))
    early = await h.client.post("/v1/reception/check-ins", json={"reception_code": ahead}, headers=h.desk())
    assert early.status_code == 409 and early.json()["code"] == "outside_visit_window"
    assert "window_opens_at" in early.json()
    malformed = await h.client.post(
        "/v1/reception/check-ins", json={"reception_code": "12a456"}, headers=h.desk()
    )
    assert malformed.status_code == 422


def wrong_code(right: str, n: int) -> str:
    return str((int(right) + 1 + n) % 1_000_000).zfill(6)


async def test_repeated_wrong_codes_meet_a_growing_429_per_device_then_per_tenant(h: Harness) -> None:
    _, code = await confirmed_visit(h, soon(h))
    statuses = []
    for n in range(5):
        answer = await h.client.post(
            "/v1/reception/check-ins", json={"reception_code": wrong_code(code, n)}, headers=h.desk()
        )
        statuses.append(answer.status_code)
    assert statuses == [404] * 5
    locked = await h.client.post("/v1/reception/check-ins", json={"reception_code": code}, headers=h.desk())
    assert locked.status_code == 429 and locked.json()["code"] == "rate_limited"
    first_wait = int(locked.headers["Retry-After"])
    assert 1 <= first_wait <= 30
    # Another tablet of the tenant is not locked out by this one's guesses…
    other = await h.client.post(
        "/v1/reception/check-ins", json={"reception_code": code}, headers=h.desk("t1", "dev-2")
    )
    assert other.status_code == 200
    # …and the next lockout of the first one is longer.
    limits = h.app.state.reception
    limits.per_device._records["device:t1/dev-1"].locked_until = time.monotonic()  # the wait is over
    for n in range(5):
        await h.client.post(
            "/v1/reception/check-ins", json={"reception_code": wrong_code(code, n)}, headers=h.desk()
        )
    again = await h.client.post("/v1/reception/check-ins", json={"reception_code": code}, headers=h.desk())
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > first_wait


async def test_many_tablets_guessing_together_lock_the_tenant(h: Harness) -> None:
    _, code = await confirmed_visit(h, soon(h))
    for n in range(20):
        device = f"dev-{n % 10}"  # two wrong codes per tablet: none is locked on its own
        answer = await h.client.post(
            "/v1/reception/check-ins",
            json={"reception_code": wrong_code(code, n)},
            headers=h.desk("t1", device),
        )
        assert answer.status_code == 404
    fresh = await h.client.post(
        "/v1/reception/check-ins", json={"reception_code": code}, headers=h.desk("t1", "dev-new")
    )
    assert fresh.status_code == 429 and int(fresh.headers["Retry-After"]) >= 1
    other_tenant = await h.client.post(
        "/v1/reception/check-ins", json={"reception_code": code}, headers=h.desk("t2", "dev-0")
    )
    assert other_tenant.status_code == 404
