"""The figures of a fault run, written to ``.devstack/reports/faults.json``."""

from __future__ import annotations

import json
import platform
import statistics
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from devstack.kafka import REPO_ROOT

REPORT = REPO_ROOT / ".devstack" / "reports" / "faults.json"


@dataclass(frozen=True)
class Figures:
    broker: str
    idempotent_producer: bool
    appointments: int
    service_kills: int
    broker_restarts: int
    lost_changes: int
    duplicate_provider_events: int
    wrong_final_state: int
    recovery_seconds_p50: float
    recovery_seconds_max: float
    duration_s: float
    # context, not asked for but needed to read the figures
    kills_per_service: dict[str, int]
    throttled_provider_calls: int
    token_expiries: int
    redelivered_records: int
    lost_answers_recovered: int
    date: str
    machine: str


def recovery(seconds: list[float]) -> tuple[float, float]:
    """p50 and max, rounded to tenths (0 when nothing was measured)."""
    if not seconds:
        return 0.0, 0.0
    return round(statistics.median(seconds), 1), round(max(seconds), 1)


def machine() -> str:
    import os

    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def write(figures: Figures, path: Path = REPORT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(figures), indent=2) + "\n")
    return path
