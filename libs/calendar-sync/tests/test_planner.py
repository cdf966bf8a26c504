"""The pure planner: desired entries per appointment state, and the diff."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calendar_sync.core import (
    AppliedEntry,
    AppliedState,
    CalendarEntry,
    EntryKind,
    InvalidSnapshot,
    UnsettledCreate,
    desired_entries,
    plan,
)
from calendar_sync.testing import make_snapshot
from visitor_common.events import AppointmentSnapshot, AppointmentStatus

Factory = Callable[..., AppointmentSnapshot]


def applied_from(entries: list[CalendarEntry], generations: dict[str, int] | None = None) -> AppliedState:
    gens = generations or {}
    return AppliedState(
        appointment_id="appt-1",
        tenant_id="tenant-1",
        connection_id="conn-1",
        appointment_version=1,
        entries={
            e.key: AppliedEntry(key=e.key, event_id=f"id{e.key}", generation=gens.get(e.key, 1), entry=e)
            for e in entries
        },
        generations={e.key: gens.get(e.key, 1) for e in entries},
    )


def test_proposed_with_holds_gives_one_tentative_hold_per_candidate(snapshot_factory: Factory) -> None:
    entries = desired_entries(snapshot_factory(slots=3))
    assert [e.key for e in entries] == ["slot:s1", "slot:s2", "slot:s3"]
    assert all(e.kind is EntryKind.HOLD and e.tentative for e in entries)
    assert [str(e.room.email) for e in entries if e.room] == [f"room{i}@example.com" for i in (1, 2, 3)]


def test_proposed_without_holds_wants_nothing(snapshot_factory: Factory) -> None:
    assert desired_entries(snapshot_factory(hold=False)) == []


def test_confirmed_gives_one_confirmed_entry_under_the_holds_key(snapshot_factory: Factory) -> None:
    entries = desired_entries(snapshot_factory(status=AppointmentStatus.CONFIRMED, confirmed="s2", version=2))
    assert len(entries) == 1
    (entry,) = entries
    assert entry.key == "slot:s2"
    assert entry.kind is EntryKind.CONFIRMED and not entry.tentative
    assert entry.room is not None and str(entry.room.email) == "room2@example.com"


def test_cancelled_wants_nothing(snapshot_factory: Factory) -> None:
    assert desired_entries(snapshot_factory(status=AppointmentStatus.CANCELLED)) == []


def test_confirmed_with_unknown_slot_is_invalid(snapshot_factory: Factory) -> None:
    with pytest.raises(InvalidSnapshot):
        desired_entries(snapshot_factory(status=AppointmentStatus.CONFIRMED, confirmed="nope"))


def test_confirmation_patches_the_chosen_hold_and_releases_the_others(snapshot_factory: Factory) -> None:
    applied = applied_from(desired_entries(snapshot_factory()))
    result = plan(
        desired_entries(snapshot_factory(status=AppointmentStatus.CONFIRMED, confirmed="s2")), applied
    )
    assert [op.entry.key for op in result.updates] == ["slot:s2"]
    assert result.updates[0].applied.event_id == "idslot:s2"
    assert sorted(op.applied.key for op in result.deletes) == ["slot:s1", "slot:s3"]
    assert result.creates == []
    assert [type(op).__name__ for op in result.operations] == ["DeleteOp", "DeleteOp", "UpdateOp"]


def test_unchanged_entries_need_nothing(snapshot_factory: Factory) -> None:
    entries = desired_entries(snapshot_factory())
    assert plan(entries, applied_from(entries)).empty


def test_rewrite_updates_unchanged_entries_drifted_at_the_provider(snapshot_factory: Factory) -> None:
    entries = desired_entries(snapshot_factory(slots=2))
    result = plan(entries, applied_from(entries), rewrite={"slot:s2"})
    assert [(op.entry.key, op.applied.event_id) for op in result.updates] == [("slot:s2", "idslot:s2")]
    assert result.creates == [] and result.deletes == []
    assert plan(entries, applied_from(entries[:1]), rewrite={"slot:s2"}).creates[0].entry.key == "slot:s2"


def test_releases_run_with_the_updates_that_claim_no_new_time_or_room(snapshot_factory: Factory) -> None:
    applied = applied_from(desired_entries(snapshot_factory()))
    confirmation = plan(
        desired_entries(snapshot_factory(status=AppointmentStatus.CONFIRMED, confirmed="s2")), applied
    )
    assert [[type(op).__name__ for op in phase] for phase in confirmation.phases] == [
        ["DeleteOp", "DeleteOp", "UpdateOp"]
    ]
    moved = plan(desired_entries(snapshot_factory(slots=2, shift_minutes=30)), applied)
    assert [[type(op).__name__ for op in phase] for phase in moved.phases] == [
        ["DeleteOp"],
        ["UpdateOp", "UpdateOp"],
    ]
    # a restore may put back an event someone moved: it waits for the releases too
    shrunk = desired_entries(snapshot_factory(slots=2))
    restored = plan(shrunk, applied, rewrite={"slot:s1"})
    assert [[type(op).__name__ for op in phase] for phase in restored.phases] == [["DeleteOp"], ["UpdateOp"]]


def test_recreating_a_released_entry_uses_the_next_generation(snapshot_factory: Factory) -> None:
    entries = desired_entries(snapshot_factory(slots=2))
    applied = applied_from(entries[:1])
    applied = applied.model_copy(update={"generations": {**applied.generations, "slot:s2": 1}})
    result = plan(entries, applied)
    assert [(op.entry.key, op.generation) for op in result.creates] == [("slot:s2", 2)]


def test_an_unsettled_create_is_repeated_under_its_id_or_settled_with_the_releases(
    snapshot_factory: Factory,
) -> None:
    holds = desired_entries(snapshot_factory(slots=2))
    applied = applied_from(holds[:1]).model_copy(
        update={"unsettled": {"slot:s2": UnsettledCreate(entry=holds[1], generation=3)}}
    )
    assert [(op.entry.key, op.generation) for op in plan(holds, applied).creates] == [("slot:s2", 3)]
    chosen = snapshot_factory(slots=2, status=AppointmentStatus.CONFIRMED, confirmed="s1")
    confirmation = plan(desired_entries(chosen), applied)
    assert confirmation.creates == [] and confirmation.deletes == []
    phases = [[type(op).__name__ for op in phase] for phase in confirmation.phases]
    assert phases == [["SettleOp", "UpdateOp"]]
    assert confirmation.settles[0].unsettled.generation == 3


def test_cancel_deletes_everything(snapshot_factory: Factory) -> None:
    applied = applied_from(desired_entries(snapshot_factory()))
    result = plan(desired_entries(snapshot_factory(status=AppointmentStatus.CANCELLED)), applied)
    assert len(result.deletes) == 3 and not result.creates and not result.updates


@given(
    slots=st.integers(min_value=1, max_value=10),
    hold=st.booleans(),
    status=st.sampled_from(list(AppointmentStatus)),
    pick=st.integers(min_value=1, max_value=10),
    previous=st.integers(min_value=0, max_value=10),
)
def test_plan_reaches_the_desired_state_and_then_is_empty(
    slots: int, hold: bool, status: AppointmentStatus, pick: int, previous: int
) -> None:
    confirmed = f"s{min(pick, slots)}" if status is AppointmentStatus.CONFIRMED else None
    desired = desired_entries(make_snapshot(slots=slots, hold=hold, status=status, confirmed=confirmed))
    before = applied_from(desired_entries(make_snapshot(slots=max(previous, 1), hold=previous > 0)))
    result = plan(desired, before)
    after_keys = (set(before.entries) - {op.applied.key for op in result.deletes}) | {
        op.entry.key for op in result.creates
    }
    assert after_keys == {e.key for e in desired}
    assert plan(desired, applied_from(desired)).empty
