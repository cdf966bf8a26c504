"""Where a single pick's time goes, hop by hop, from the stack's own logs (``make bench``).

Every service logs one JSON line per request, per published and per consumed event, with the
appointment id (the trace context). For each pick of the ``single`` run this finds, after the
moment the bench sent it: the pick's response, the outbox's send of the provider copy, the
connector's consumption of it, its last provider call, the appointments service's consumption
and recording of the connector's status report — and the moment the bench saw ``synced``. The medians of the
differences are ``single_hops`` in ``bench.json``: a profile of the pick path that every run
repeats, without an agent in the measured processes.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SKEW_S = 0.0005  # log lines carry microseconds; a line a hair before the previous step counts


@dataclass(frozen=True)
class Pick:
    """One pick of the ``single`` run: wall-clock start and the bench's latency to synced."""

    appointment_id: str
    provider: str
    started: float
    latency_ms: float


@dataclass(frozen=True)
class Step:
    """A log line that marks the end of a hop: service log, message, and optionally a text its
    ``topic`` (or ``route``) field contains."""

    hop: str
    log: str
    message: str
    part: str | None = None
    field: str = "topic"
    last: bool = False  # the last such line before the next step's (e.g. the last provider call)
    acked: bool = False  # logged after the broker's ack: the consumer may log before it does


def steps(provider: str) -> list[Step]:
    connector = "calendar-google" if provider == "google" else "calendar-outlook"
    provider_topic = f"calendar.{'google' if provider == 'google' else 'outlook'}.appointments"
    return [
        Step("pick request", "appointments", "http request", "/pick", "route"),
        Step(
            "outbox → broker (provider copy acked)",
            "appointments",
            "event published",
            provider_topic,
            acked=True,
        ),
        Step("broker → connector", connector, "message consumed", provider_topic),
        Step("connector: provider writes", connector, "provider call", last=True),
        Step("status → broker → appointments", "appointments", "message consumed", "calendar.sync-status"),
        Step("status recorded", "appointments", "sync status recorded"),
    ]


def _lines(path: Path, appointment_ids: set[str]) -> dict[str, list[tuple[float, dict[str, Any]]]]:
    """The log lines of ``path`` that name one of ``appointment_ids``, by appointment, in order."""
    found: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"appointment_id"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        appointment = record.get("appointment_id")
        if appointment in appointment_ids:
            moment = datetime.fromisoformat(record["time"]).timestamp()
            found.setdefault(appointment, []).append((moment, record))
    return found


def _matches(step: Step, record: dict[str, Any]) -> bool:
    if record.get("message") != step.message:
        return False
    return step.part is None or step.part in str(record.get(step.field, ""))


def _first(step: Step, lines: list[tuple[float, dict[str, Any]]], after: float) -> float | None:
    return next((t for t, r in lines if t >= after - SKEW_S and _matches(step, r)), None)


def _last(step: Step, lines: list[tuple[float, dict[str, Any]]], after: float, before: float) -> float | None:
    found = [t for t, r in lines if after - SKEW_S <= t <= before + SKEW_S and _matches(step, r)]
    return found[-1] if found else None


def _timeline(pick: Pick, by_log: dict[str, list[tuple[float, dict[str, Any]]]]) -> list[float] | None:
    """The moments each step of ``pick`` happened (each the first match after the step before,
    or before that one when the step before is an ``acked`` line; a ``last`` step the last one
    before the next step's), ending with the bench's own; ``None`` if a step is missing. A step
    seen before the one it follows counts as taking no time."""
    moments = [pick.started]
    plan = steps(pick.provider)
    since = pick.started  # where the next step's line is looked for
    for index, step in enumerate(plan):
        lines = by_log.get(step.log, [])
        if step.last and index + 1 < len(plan):
            following = plan[index + 1]
            bound = _first(following, by_log.get(following.log, []), since)
            moment = None if bound is None else _last(step, lines, since, bound)
        else:
            moment = _first(step, lines, since)
        if moment is None:
            return None
        if not step.acked:  # after an ack line, the next one may precede it: keep looking from before
            since = moment
        moments.append(max(moment, moments[-1]))
    moments.append(max(pick.started + pick.latency_ms / 1000, moments[-1]))
    return moments


def single_hops(log_dir: Path, picks: Sequence[Pick]) -> dict[str, float | None]:
    """Median milliseconds of each hop over ``picks`` (those whose every step was logged), plus
    ``picks`` (how many were used)."""
    ids = {p.appointment_id for p in picks}
    logs = {"appointments", "calendar-google", "calendar-outlook"}
    lines = {name: _lines(log_dir / f"{name}.log", ids) for name in logs}
    timelines = []
    for pick in picks:
        by_log = {name: lines[name].get(pick.appointment_id, []) for name in logs}
        timeline = _timeline(pick, by_log)
        if timeline is not None:
            timelines.append(timeline)
    names = [step.hop for step in steps("google")] + ["long poll answers the bench"]
    result: dict[str, float | None] = {"picks": float(len(timelines))}
    for index, name in enumerate(names):
        spans = [(t[index + 1] - t[index]) * 1000 for t in timelines]
        result[name] = round(statistics.median(spans), 1) if spans else None
    return result


def describe(hops: dict[str, float | None]) -> Iterable[str]:
    for name, value in hops.items():
        if name != "picks":
            yield f"  {name:<42} {value:>7} ms"
