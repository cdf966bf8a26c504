"""The per-hop breakdown of ``make bench`` reads a pick's path from the services' log lines:
each hop ends at the first matching line after the hop before (the provider writes at the last
provider call before the status arrives), lines of other appointments and earlier versions are
not mistaken for the pick's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from devstack.bench_hops import Pick, single_hops

T0 = 1_900_000_000.0


def line(at_ms: float, service: str, message: str, appointment: str = "a1", **extra: str) -> str:
    moment = datetime.fromtimestamp(T0 + at_ms / 1000, UTC).isoformat()
    record = {"time": moment, "service": service, "message": message, "appointment_id": appointment}
    return json.dumps(record | extra)


def write(path: Path, *lines: str) -> None:
    path.write_text("\n".join(lines) + "\n")


def test_each_hop_is_measured_from_the_lines_of_the_pick(tmp_path: Path) -> None:
    google = "calendar.google.appointments.v1"
    write(
        tmp_path / "appointments.log",
        line(-900, "appointments", "event published", topic=google),  # the proposal's, earlier
        line(10, "appointments", "http request", route="/v1/guest/appointments/{token}/pick"),
        line(11, "appointments", "http request", "a2", route="/v1/guest/appointments/{token}/pick"),
        line(15, "appointments", "event published", topic="appointments.lifecycle.v1"),
        line(16, "appointments", "event published", topic=google),
        line(48, "appointments", "message consumed", topic="calendar.sync-status.v1"),
        line(50, "appointments", "sync status recorded"),
    )
    write(
        tmp_path / "calendar-google.log",
        line(20, "calendar-google", "message consumed", topic=google),
        line(30, "calendar-google", "provider call"),
        line(31, "calendar-google", "provider call"),
        line(40, "calendar-google", "provider call"),
        line(49, "calendar-google", "sync status reported"),  # logged after the broker's ack
    )

    hops = single_hops(tmp_path, [Pick("a1", "google", T0, 56.0)])

    assert hops == {
        "picks": 1.0,
        "pick request": 10.0,
        "outbox → broker (provider copy acked)": 6.0,
        "broker → connector": 4.0,
        "connector: provider writes": 20.0,
        "status → broker → appointments": 8.0,
        "status recorded": 2.0,
        "long poll answers the bench": 6.0,
    }


def test_a_record_consumed_before_the_producer_logged_its_ack_still_counts(tmp_path: Path) -> None:
    google = "calendar.google.appointments.v1"
    write(
        tmp_path / "appointments.log",
        line(10, "appointments", "http request", route="/v1/guest/appointments/{token}/pick"),
        line(18, "appointments", "event published", topic=google),  # its ack came back late
        line(48, "appointments", "message consumed", topic="calendar.sync-status.v1"),
        line(50, "appointments", "sync status recorded"),
    )
    write(
        tmp_path / "calendar-google.log",
        line(16, "calendar-google", "message consumed", topic=google),
        line(40, "calendar-google", "provider call"),
    )

    hops = single_hops(tmp_path, [Pick("a1", "google", T0, 56.0)])

    assert hops["picks"] == 1.0
    assert hops["outbox → broker (provider copy acked)"] == 8.0
    assert hops["broker → connector"] == 0.0
    assert hops["connector: provider writes"] == 22.0


def test_a_pick_with_a_step_missing_from_the_logs_is_left_out(tmp_path: Path) -> None:
    write(
        tmp_path / "appointments.log",
        line(10, "appointments", "http request", route="/v1/guest/appointments/{token}/pick"),
    )
    assert single_hops(tmp_path, [Pick("a1", "google", T0, 56.0)])["picks"] == 0.0
