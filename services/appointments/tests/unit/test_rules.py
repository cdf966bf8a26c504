"""Domain rules, pure and fast: candidate validation, If-Match, codes, tokens, sync state.
(The aggregate's own transitions are in ``test_domain_appointment``.)"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from appointments_testkit import make_appointment
from hypothesis import given, settings
from hypothesis import strategies as st

from appointments_service.domain import rules
from appointments_service.domain.errors import (
    HostEmailUnknown,
    InvalidAppointment,
    PreconditionFailed,
    PreconditionRequired,
)
from appointments_service.domain.model import Appointment
from appointments_service.domain.rules import SlotDraft
from visitor_common.events import (
    CalendarBinding,
    CalendarSyncStatusReported,
    CandidateSlot,
    Provider,
    SyncState,
)

NOW = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
JST = timezone(timedelta(hours=9))


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def error_types(excinfo: pytest.ExceptionInfo[InvalidAppointment]) -> list[str]:
    return [v.kind for v in excinfo.value.violations]


GOOGLE = CalendarBinding(provider=Provider.GOOGLE, connection_id="c1", account_email="host@example.co.jp")


# --- candidates -----------------------------------------------------------------------------


def test_valid_candidates_get_fresh_ids_and_default_end() -> None:
    slots = rules.build_candidates([SlotDraft(at(24)), SlotDraft(at(48), at(49))], 60, NOW)
    assert [s.end - s.start for s in slots] == [timedelta(hours=1)] * 2
    assert len({s.slot_id for s in slots}) == 2


def test_other_offsets_are_fine() -> None:
    start = (NOW + timedelta(days=2)).astimezone(JST)
    (slot,) = rules.build_candidates([SlotDraft(start, start + timedelta(minutes=30))], 30, NOW)
    assert slot.start == start


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidAppointment) as excinfo:
        rules.build_candidates([SlotDraft(datetime(2030, 2, 1, 10, 0))], 60, NOW)
    assert error_types(excinfo) == ["timezone_aware"]


def test_end_must_follow_start() -> None:
    with pytest.raises(InvalidAppointment) as excinfo:
        rules.build_candidates([SlotDraft(at(24), at(23))], 60, NOW)
    assert error_types(excinfo) == ["end_before_start"]


def test_slot_must_last_the_duration() -> None:
    with pytest.raises(InvalidAppointment) as excinfo:
        rules.build_candidates([SlotDraft(at(24), at(26))], 60, NOW)
    assert error_types(excinfo) == ["slot_length_mismatch"]


@pytest.mark.parametrize("start", [NOW, NOW - timedelta(minutes=1)])
def test_slots_must_lie_in_the_future(start: datetime) -> None:
    with pytest.raises(InvalidAppointment) as excinfo:
        rules.build_candidates([SlotDraft(start)], 60, NOW)
    assert error_types(excinfo) == ["slot_in_past"]
    assert excinfo.value.violations[0].field == ("candidates", 0, "start")


def test_slots_more_than_a_year_ahead_are_refused() -> None:
    with pytest.raises(InvalidAppointment) as excinfo:
        rules.build_candidates([SlotDraft(NOW + timedelta(days=400))], 60, NOW)
    assert error_types(excinfo) == ["slot_too_far"]


@pytest.mark.parametrize("hours", [-12, -9, 0, 9, 14])
def test_starts_next_to_datetime_max_are_too_far_at_any_offset(hours: int) -> None:
    start = datetime.max.replace(second=0, microsecond=0, tzinfo=timezone(timedelta(hours=hours)))
    with pytest.raises(InvalidAppointment) as excinfo:
        rules.build_candidates([SlotDraft(start)], rules.MAX_DURATION_MINUTES, NOW)
    assert error_types(excinfo) == ["slot_too_far"]


def test_an_end_beyond_the_horizon_is_refused_without_arithmetic() -> None:
    end = datetime.max.replace(tzinfo=UTC)
    with pytest.raises(InvalidAppointment) as excinfo:
        rules.build_candidates([SlotDraft(NOW + timedelta(days=1), end)], 60, NOW)
    assert error_types(excinfo) == ["slot_too_far"]
    assert excinfo.value.violations[0].field == ("candidates", 0, "end")


def test_overlapping_candidates_are_refused() -> None:
    with pytest.raises(InvalidAppointment) as excinfo:
        rules.build_candidates([SlotDraft(at(24)), SlotDraft(at(48)), SlotDraft(at(24.5))], 60, NOW)
    assert error_types(excinfo) == ["slots_overlap"]
    assert excinfo.value.violations[0].field == ("candidates", 2)


def test_back_to_back_candidates_do_not_overlap() -> None:
    assert len(rules.build_candidates([SlotDraft(at(24)), SlotDraft(at(25))], 60, NOW)) == 2


@pytest.mark.parametrize("count", [0, 11])
def test_one_to_ten_candidates(count: int) -> None:
    with pytest.raises(InvalidAppointment) as excinfo:
        rules.build_candidates([SlotDraft(at(24 + 2 * i)) for i in range(count)], 60, NOW)
    assert error_types(excinfo) == ["candidate_count"]


def test_ten_candidates_are_fine() -> None:
    assert len(rules.build_candidates([SlotDraft(at(24 + 2 * i)) for i in range(10)], 60, NOW)) == 10


@pytest.mark.parametrize("minutes", [0, 4, 721, -30])
def test_duration_bounds(minutes: int) -> None:
    with pytest.raises(InvalidAppointment) as excinfo:
        rules.build_candidates([SlotDraft(at(24))], minutes, NOW)
    assert "duration_out_of_range" in error_types(excinfo)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=24 * 30), min_size=1, max_size=10, unique=True))
def test_accepted_candidates_never_overlap(starts_in_hours: list[int]) -> None:
    drafts = [SlotDraft(at(h)) for h in starts_in_hours]
    hours = sorted(starts_in_hours)
    if any(b - a < 1.5 for a, b in itertools.pairwise(hours)):
        with pytest.raises(InvalidAppointment) as excinfo:
            rules.build_candidates(drafts, 90, NOW)
        assert {v.kind for v in excinfo.value.violations} == {"slots_overlap"}
    else:
        slots = sorted(rules.build_candidates(drafts, 90, NOW), key=lambda s: s.start)
        assert all(a.end <= b.start for a, b in itertools.pairwise(slots))


# --- If-Match -------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "version"), [('"3"', 3), ('W/"3"', 3), ("3", 3), (' "12" ', 12)])
def test_if_match_parses(header: str, version: int) -> None:
    assert rules.parse_if_match(header) == version


@pytest.mark.parametrize("header", [None, "", "  "])
def test_missing_if_match_is_428(header: str | None) -> None:
    with pytest.raises(PreconditionRequired):
        rules.parse_if_match(header)


@pytest.mark.parametrize("header", ["*", '"abc"', '"1" , "2"', "9" * 20])
def test_unusable_if_match_is_412(header: str) -> None:
    with pytest.raises(PreconditionFailed):
        rules.parse_if_match(header)


def test_stale_version_is_412() -> None:
    with pytest.raises(PreconditionFailed) as excinfo:
        rules.check_version(appointment(version=4), 3)
    assert excinfo.value.context["current_version"] == 4


# --- codes and tokens -----------------------------------------------------------------------


def test_reception_code_is_six_digits_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_randbelow(n: int) -> int:
        calls.append(n)
        return 42

    monkeypatch.setattr(rules.secrets, "randbelow", fake_randbelow)
    assert rules.new_reception_code() == "000042"
    assert calls == [1_000_000]


def test_reception_codes_look_random() -> None:
    codes = {rules.new_reception_code() for _ in range(200)}
    assert all(re.fullmatch(r"\d{6}", c) for c in codes)
    assert len(codes) > 190


def test_guest_token_has_at_least_128_bits_and_only_its_hash_is_kept() -> None:
    token = rules.new_guest_token()
    assert len(token) >= 43  # 32 random bytes, base64url
    link = rules.new_guest_link(token, NOW, timedelta(days=14), [slot(48)])
    assert token not in link.model_dump_json()
    assert link.token_hash == rules.hash_guest_token(token)
    assert rules.new_guest_token() != token


def test_guest_link_expires_at_ttl_or_last_candidate_start() -> None:
    token = rules.new_guest_token()
    assert rules.new_guest_link(token, NOW, timedelta(hours=10), [slot(48)]).expires_at == at(10)
    assert rules.new_guest_link(token, NOW, timedelta(days=30), [slot(24), slot(48)]).expires_at == at(48)


# --- the host -----------------------------------------------------------------------------


def test_host_email_is_the_tokens_else_the_linked_calendars() -> None:
    assert rules.host_email("a@example.co.jp", GOOGLE) == "a@example.co.jp"
    assert rules.host_email(None, GOOGLE) == "host@example.co.jp"
    with pytest.raises(HostEmailUnknown):
        rules.host_email(None, None)


def slot(hours: float, slot_id: str | None = None) -> CandidateSlot:
    return CandidateSlot(slot_id=slot_id or f"s{hours}", start=at(hours), end=at(hours + 1))


def appointment(**update: object) -> Appointment:
    return make_appointment(NOW, **update)


# --- sync state -----------------------------------------------------------------------------


def report(version: int = 1, state: SyncState = SyncState.SYNCED, **kw: object) -> CalendarSyncStatusReported:
    fields: dict[str, object] = {
        "appointment_id": "a1",
        "tenant_id": "t1",
        "provider": Provider.GOOGLE,
        "connection_id": "c1",
        "appointment_version": version,
        "state": state,
        "observed_at": NOW,
        **kw,
    }
    return CalendarSyncStatusReported(**fields)  # type: ignore[arg-type]


def test_unbound_appointment_is_not_linked_and_ignores_reports() -> None:
    current = appointment()
    assert rules.sync_view(current, None).state == SyncState.NOT_LINKED
    assert not rules.accepts_report(current, None, report())


def test_bound_appointment_is_pending_until_reported() -> None:
    current = appointment(binding=GOOGLE, version=2)
    view = rules.sync_view(current, None)
    assert (view.state, view.provider, view.appointment_version) == (SyncState.PENDING, Provider.GOOGLE, 2)
    older = rules.report_from_event(report(version=1, provider_event_ids={"hold:s1": "e1"}))
    view = rules.sync_view(current, older)
    assert view.state == SyncState.PENDING and view.provider_event_ids == {"hold:s1": "e1"}
    assert rules.sync_view(current, rules.report_from_event(report(version=2))).state == SyncState.SYNCED


def test_reports_are_version_aware() -> None:
    current = appointment(binding=GOOGLE, version=3)
    stored = rules.report_from_event(report(version=2))
    assert not rules.accepts_report(current, stored, report(version=1, observed_at=NOW + timedelta(hours=1)))
    assert rules.accepts_report(current, stored, report(version=3))
    assert not rules.accepts_report(current, stored, report(version=4)), "a version from the future"


def test_same_version_needs_a_newer_observation() -> None:
    current = appointment(binding=GOOGLE)
    stored = rules.report_from_event(report(state=SyncState.DRIFTED))
    assert not rules.accepts_report(current, stored, report()), "redelivery is a no-op"
    assert not rules.accepts_report(current, stored, report(observed_at=NOW - timedelta(seconds=1)))
    assert rules.accepts_report(current, stored, report(observed_at=NOW + timedelta(seconds=1)))


@pytest.mark.parametrize(
    "mismatch",
    [{"provider": Provider.OUTLOOK}, {"connection_id": "c2"}, {"tenant_id": "t2"}],
)
def test_reports_for_another_binding_are_ignored(mismatch: dict[str, object]) -> None:
    assert not rules.accepts_report(appointment(binding=GOOGLE), None, report(1, **mismatch))


def test_failed_report_shows_reason() -> None:
    failed = rules.report_from_event(
        report(state=SyncState.FAILED, reason_code="room_unavailable", message="Room taken")
    )
    view = rules.sync_view(appointment(binding=GOOGLE), failed)
    assert (view.state, view.reason_code, view.message) == (
        SyncState.FAILED,
        "room_unavailable",
        "Room taken",
    )
