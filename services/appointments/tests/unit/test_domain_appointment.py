"""The aggregate's behaviour on plain objects: each change returns the new appointment (one
version further) and its events; refused changes raise and leave the appointment as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from appointments_testkit import make_appointment

from appointments_service.domain import rules
from appointments_service.domain.errors import (
    AlreadyConfirmed,
    InvalidAppointment,
    InvalidState,
    NotLinked,
    SlotNotFound,
    SlotUnavailable,
)
from appointments_service.domain.model import (
    Appointment,
    Availability,
    AvailabilityState,
    Changed,
    DetailsChange,
    GuestLink,
    Reception,
    SlotCheck,
)
from visitor_common.events import (
    AppointmentCancelled,
    AppointmentConfirmed,
    AppointmentCreated,
    AppointmentDetailsUpdated,
    AppointmentRescheduled,
    AppointmentStatus,
    CalendarBinding,
    CalendarRestoreRequested,
    CandidateSlot,
    ConnectionStatus,
    Guest,
    Provider,
)

NOW = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
TTL = timedelta(days=14)
TOKEN = "t" * 43
GOOGLE = CalendarBinding(provider=Provider.GOOGLE, connection_id="c1", account_email="host@example.co.jp")
CHECKED = Availability(state=AvailabilityState.CHECKED, checked_at=NOW)


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def slot(hours: float, slot_id: str) -> CandidateSlot:
    return CandidateSlot(slot_id=slot_id, start=at(hours), end=at(hours + 1))


def proposed(**update: object) -> Appointment:
    link = GuestLink.issue(TOKEN, NOW, TTL, make_appointment(NOW).candidates)
    return make_appointment(NOW, **({"guest_link": link} | update))


def confirmed(**update: object) -> Appointment:
    return proposed().confirm("s1", "123456", NOW).appointment.model_copy(update=update)


def cancelled() -> Appointment:
    return proposed().cancel(None, NOW).appointment


def only(changed: Changed) -> object:
    (event,) = changed.events
    return event


# --- every change ------------------------------------------------------------------------------

CHANGES: dict[str, Callable[[Appointment], Changed]] = {
    "update_details": lambda a: a.update_details(DetailsChange(title="New"), LATER),
    "reschedule": lambda a: a.reschedule(
        (slot(72, "n1"),), CHECKED, any_free_room=False, guest_link_ttl=TTL, now=LATER
    ),
    "confirm": lambda a: a.confirm("s2", "654321", LATER),
    "cancel": lambda a: a.cancel("postponed", LATER),
    "request_restore": lambda a: a.request_restore(LATER),
    "reissue_guest_link": lambda a: a.reissue_guest_link("u" * 43, TTL, LATER),
    "revoke_guest_link": lambda a: a.revoke_guest_link(LATER),
}


@pytest.mark.parametrize("name", CHANGES)
def test_a_change_bumps_the_version_once_and_its_event_carries_the_new_snapshot(name: str) -> None:
    before = proposed(binding=GOOGLE, version=3)
    changed = CHANGES[name](before)
    after = changed.appointment
    assert (after.version, after.updated_at, after.created_at) == (4, LATER, NOW)
    (event,) = changed.events
    assert event.appointment == after.snapshot()  # type: ignore[attr-defined]
    assert before.version == 3 and before.updated_at == NOW, "the aggregate is immutable"


@pytest.mark.parametrize("name", CHANGES)
def test_a_cancelled_appointment_refuses_every_change(name: str) -> None:
    with pytest.raises(InvalidState) as excinfo:
        CHANGES[name](cancelled().model_copy(update={"binding": GOOGLE}))
    assert excinfo.value.code == "invalid_state"


# --- propose -----------------------------------------------------------------------------------


def test_propose_starts_at_version_1_with_a_guest_link_and_a_created_event() -> None:
    candidates = (slot(24, "s1"), slot(48, "s2"))
    created = Appointment.propose(
        appointment_id="a1",
        tenant_id="t1",
        host_employee_id="e1",
        host_email="host@example.co.jp",
        title="Visit",
        guests=[Guest(name="G", email="g@example.com")],
        duration_minutes=60,
        candidates=candidates,
        availability=CHECKED,
        binding=GOOGLE,
        guest_token=TOKEN,
        guest_link_ttl=timedelta(hours=30),
        now=NOW,
        notes="Bring the contract",
        hold_candidates=False,
    )
    appointment = created.appointment
    assert (appointment.version, appointment.status, appointment.binding) == (1, "proposed", GOOGLE)
    assert (appointment.created_at, appointment.updated_at, appointment.guests[0].name) == (NOW, NOW, "G")
    assert appointment.candidates == candidates and not appointment.hold_candidates
    link = appointment.guest_link
    assert link is not None and link.token_hash == rules.hash_guest_token(TOKEN)
    assert TOKEN not in appointment.model_dump_json()
    assert link.expires_at == at(30), "the ttl comes before the last candidate's start"
    assert created.events == (AppointmentCreated(appointment=appointment.snapshot()),)


# --- update details ------------------------------------------------------------------------------


def test_update_details_names_only_the_fields_that_really_changed() -> None:
    before = proposed(notes="Bring the contract")
    change = DetailsChange(title="Visit", clear_notes=True, hold_candidates=False)
    changed = before.update_details(change, LATER)
    after = changed.appointment
    assert (after.title, after.notes, after.hold_candidates) == ("Visit", None, False)
    event = only(changed)
    assert isinstance(event, AppointmentDetailsUpdated)
    assert event.changed_fields == ("notes", "hold_candidates")


def test_update_details_replaces_guests_and_keeps_notes_unless_told() -> None:
    guests = [Guest(name="H", email="h@example.com")]
    after = proposed(notes="n").update_details(DetailsChange(guests=guests), LATER).appointment
    assert after.guests == tuple(guests) and after.notes == "n"


# --- reschedule --------------------------------------------------------------------------------


def test_reschedule_replaces_the_candidates_and_retimes_a_live_link() -> None:
    new = (slot(72, "n1"), slot(96, "n2"))
    changed = proposed().reschedule(new, CHECKED, any_free_room=True, guest_link_ttl=TTL, now=LATER)
    after = changed.appointment
    assert (after.candidates, after.availability, after.any_free_room) == (new, CHECKED, True)
    assert after.guest_link is not None and after.guest_link.expires_at == at(96)
    assert after.guest_link.token_hash == rules.hash_guest_token(TOKEN), "the same link, still valid"
    assert isinstance(only(changed), AppointmentRescheduled)


def test_reschedule_leaves_a_withdrawn_link_alone() -> None:
    before = proposed().revoke_guest_link(NOW).appointment
    after = before.reschedule(
        (slot(72, "n1"),), CHECKED, any_free_room=False, guest_link_ttl=TTL, now=LATER
    ).appointment
    assert after.guest_link == before.guest_link


def test_reschedule_moves_a_confirmed_appointment_to_its_one_new_slot_keeping_the_code() -> None:
    before = confirmed()
    after = before.reschedule(
        (slot(72, "n1"),), CHECKED, any_free_room=False, guest_link_ttl=TTL, now=LATER
    ).appointment
    assert (after.status, after.confirmed_slot_id, after.reception) == ("confirmed", "n1", before.reception)


def test_a_confirmed_appointment_is_not_rescheduled_to_two_slots() -> None:
    with pytest.raises(InvalidAppointment) as excinfo:
        confirmed().reschedule(
            (slot(72, "n1"), slot(96, "n2")), CHECKED, any_free_room=False, guest_link_ttl=TTL, now=LATER
        )
    (violation,) = excinfo.value.violations
    assert (violation.field, violation.kind) == (("candidates",), "confirmed_reschedule_one_slot")


# --- confirm (the guest's pick) --------------------------------------------------------------------


def test_confirm_issues_the_reception_code_and_tells_it_in_the_event() -> None:
    changed = proposed().confirm("s2", "654321", LATER)
    after = changed.appointment
    assert (after.status, after.confirmed_slot_id) == (AppointmentStatus.CONFIRMED, "s2")
    assert after.reception == Reception(code="654321", issued_at=LATER)
    event = only(changed)
    assert isinstance(event, AppointmentConfirmed) and event.reception_code == "654321"


def test_a_second_pick_is_already_confirmed() -> None:
    with pytest.raises(AlreadyConfirmed):
        confirmed().confirm("s2", "654321", LATER)


def test_pick_of_a_cancelled_appointment_is_invalid_state() -> None:
    with pytest.raises(InvalidState):
        cancelled().confirm("s1", "654321", LATER)


def test_pick_of_an_unknown_slot() -> None:
    with pytest.raises(SlotNotFound):
        proposed().confirm("nope", "654321", LATER)


def test_pick_of_a_started_slot() -> None:
    with pytest.raises(SlotUnavailable) as excinfo:
        proposed().confirm("s1", "654321", at(24))
    assert excinfo.value.context == {"slot_id": "s1"}


def test_pick_of_a_busy_slot_and_the_candidates_still_offered() -> None:
    checked = Availability(
        state=AvailabilityState.CHECKED,
        slots=(SlotCheck(slot_id="s1", available=False), SlotCheck(slot_id="s2", available=None)),
    )
    current = proposed(availability=checked)
    with pytest.raises(SlotUnavailable):
        current.confirm("s1", "654321", LATER)
    assert current.check_pick("s2", LATER).slot_id == "s2"
    assert [c.slot_id for c in current.available_candidates(LATER)] == ["s2"]
    assert current.available_candidates(at(49)) == []
    assert confirmed().available_candidates(LATER) == []


# --- cancel ------------------------------------------------------------------------------------


def test_cancel_frees_the_code_and_withdraws_the_link() -> None:
    changed = confirmed().cancel("postponed", LATER)
    after = changed.appointment
    assert (after.status, after.cancel_reason) == (AppointmentStatus.CANCELLED, "postponed")
    assert after.reception is not None and not after.reception.active
    assert after.guest_link is not None and after.guest_link.revoked
    event = only(changed)
    assert isinstance(event, AppointmentCancelled) and event.reason == "postponed"


# --- calendar restore (R9) -----------------------------------------------------------------------


def test_restore_changes_only_the_version() -> None:
    before = proposed(binding=GOOGLE)
    changed = before.request_restore(LATER)
    after = changed.appointment
    assert after.model_dump(exclude={"version", "updated_at"}) == before.model_dump(
        exclude={"version", "updated_at"}
    )
    assert isinstance(only(changed), CalendarRestoreRequested)


def test_restore_needs_a_calendar_before_anything_else() -> None:
    with pytest.raises(NotLinked):
        proposed().request_restore(LATER)
    with pytest.raises(NotLinked):
        cancelled().request_restore(LATER)


# --- guest link ---------------------------------------------------------------------------------


def test_reissue_replaces_the_link() -> None:
    changed = proposed().reissue_guest_link("u" * 43, timedelta(hours=2), LATER)
    link = changed.appointment.guest_link
    assert link is not None and link.token_hash == rules.hash_guest_token("u" * 43)
    assert link.expires_at == LATER + timedelta(hours=2) and not link.revoked
    event = only(changed)
    assert isinstance(event, AppointmentDetailsUpdated) and event.changed_fields == ("guest_link",)


def test_only_a_proposed_appointment_gets_a_new_link() -> None:
    with pytest.raises(InvalidState) as excinfo:
        confirmed().reissue_guest_link("u" * 43, TTL, LATER)
    assert excinfo.value.context == {"appointment_status": "confirmed"}


def test_revoke_withdraws_the_link_once() -> None:
    changed = proposed().revoke_guest_link(LATER)
    assert changed.appointment.guest_link is not None and changed.appointment.guest_link.revoked
    event = only(changed)
    assert isinstance(event, AppointmentDetailsUpdated) and event.changed_fields == ("guest_link",)
    with pytest.raises(InvalidState):
        changed.appointment.revoke_guest_link(LATER)
    with pytest.raises(InvalidState):
        proposed(guest_link=None).revoke_guest_link(LATER)


# --- reception code housekeeping -------------------------------------------------------------------


def test_the_code_is_released_only_once_the_appointment_is_over() -> None:
    holder = confirmed()
    assert holder.release_reception_code(at(24.5)) is None, "still under way"
    released = holder.release_reception_code(at(25))
    assert released is not None and released.reception is not None and not released.reception.active
    # A write of the document like any other (a new version, a new ETag), though no event: the
    # connectors' last word stays about the version they heard of.
    assert (released.version, released.updated_at) == (holder.version + 1, at(25))
    assert released.reported_version() == holder.version
    assert proposed().release_reception_code(at(100)) is None, "no code to release"
    later = released.update_details(DetailsChange(title="Renamed"), at(26)).appointment
    assert later.reported_version() == later.version == holder.version + 2, "the next change is announced"


# --- held calendar changes (R8, decision 0004) -----------------------------------------------


def _bound(now: datetime) -> Appointment:
    binding = CalendarBinding(provider="google", connection_id="c1", account_email="host@example.co.jp")  # type: ignore[arg-type]
    return make_appointment(now, binding=binding)


def test_cancel_with_an_unusable_calendar_holds_its_calendar_side() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    changed = _bound(now).cancel(
        "gone", now, calendar_unusable=ConnectionStatus.UNLINKED, provider_event_ids={"visit": "g1"}
    )
    held = changed.appointment.held_calendar_change
    assert changed.appointment.status is AppointmentStatus.CANCELLED
    assert held is not None and held.appointment_version == 2 and held.provider_event_ids == {"visit": "g1"}
    assert isinstance(changed.events[0], AppointmentCancelled)
    assert rules.is_blocked(changed.appointment, ConnectionStatus.UNLINKED)
    assert not rules.is_blocked(changed.appointment, ConnectionStatus.ACTIVE)

    link = ("t1", "e1", changed.appointment.binding.provider, "c1")  # type: ignore[union-attr]
    assert changed.appointment.released_by_link(*link, "HOST@example.co.jp")
    assert not changed.appointment.released_by_link(*link, "other@example.co.jp")
    assert not changed.appointment.released_by_link("t1", "e2", link[2], "c1", "host@example.co.jp")
    assert not changed.appointment.released_by_link("t1", "e1", link[2], "c2", "host@example.co.jp")

    released = changed.appointment.release_held_change(now)
    assert released.appointment.held_calendar_change is None and released.appointment.version == 3
    assert isinstance(released.events[0], AppointmentCancelled) and released.events[0].reason == "gone"
    with pytest.raises(InvalidState):
        released.appointment.release_held_change(now)


def test_an_unbound_or_usable_cancellation_holds_nothing() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    unbound = make_appointment(now).cancel(None, now, calendar_unusable=ConnectionStatus.UNLINKED)
    assert unbound.appointment.held_calendar_change is None
    usable = _bound(now).cancel(None, now)
    assert usable.appointment.held_calendar_change is None
    assert not rules.is_blocked(usable.appointment, ConnectionStatus.UNLINKED)  # nothing left to write
