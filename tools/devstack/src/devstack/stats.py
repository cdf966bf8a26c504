"""Latency summaries for ``make bench``."""

from __future__ import annotations

import statistics
from typing import Any


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, latencies_ms: list[float], seconds: float, count: int) -> dict[str, Any]:
    return {
        "name": name,
        "count": count,
        "p50_ms": round(percentile(latencies_ms, 50), 2),
        "p99_ms": round(percentile(latencies_ms, 99), 2),
        "mean_ms": round(statistics.fmean(latencies_ms), 2) if latencies_ms else None,
        "per_second": round(count / seconds, 1) if seconds > 0 else None,
    }
