"""Latency summaries and open-loop samples for ``make bench``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (``nan`` for no samples)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 1)


def latency(samples: list[float]) -> dict[str, float | None]:
    """``{p50_ms, p99_ms}`` of latencies in milliseconds."""
    return {"p50_ms": ms(percentile(samples, 50)), "p99_ms": ms(percentile(samples, 99))}


@dataclass
class Sample:
    """One request of an open-loop run: when it was due (seconds into the run) and how long it
    took from then until done (ms); ``error`` when it failed."""

    due_s: float
    latency_ms: float
    error: str | None = None


@dataclass
class Run:
    """The samples of one provider at one arrival rate."""

    provider: str
    target_per_s: float
    duration_s: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def ok(self) -> list[float]:
        return [s.latency_ms for s in self.samples if s.error is None]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if s.error is not None)

    def row(self) -> dict[str, Any]:
        """One entry of ``sustained`` in ``bench.json``. Achieved: completions per second of
        the window the arrivals were spread over (a run that falls behind completes later)."""
        done = [s.due_s + s.latency_ms / 1000 for s in self.samples if s.error is None]
        span = max([self.duration_s, *done]) if done else self.duration_s
        ok = self.ok
        return {
            "provider": self.provider,
            "target_per_s": self.target_per_s,
            "achieved_per_s": round(len(ok) / span, 1) if span > 0 else 0.0,
            "duration_s": self.duration_s,
            "p50_ms": ms(percentile(ok, 50)),
            "p95_ms": ms(percentile(ok, 95)),
            "p99_ms": ms(percentile(ok, 99)),
            "errors": self.errors,
        }
