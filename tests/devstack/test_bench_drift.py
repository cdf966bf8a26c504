"""The in-process drift fleet (``bench_drift.drift_scale_in_process``) on a small fleet: each
connection once per interval, no duplicate, none unwatched after a kill, nothing polled while
push is healthy. The real-process figures have their own test (test_drift_at_scale.py)."""

from __future__ import annotations

import pytest

from devstack import bench_drift


async def test_the_drift_bench_reports_a_healthy_small_fleet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_drift, "INTERVAL_S", 0.6)
    monkeypatch.setattr(bench_drift, "LEASE_S", 0.6)
    monkeypatch.setattr(bench_drift, "INTERVALS", 2)
    found = await bench_drift.drift_scale_in_process(20)
    assert found["connections"] == 20 and found["instances"] == {"google": 2, "outlook": 2}
    assert abs(found["polls_per_connection_per_interval"] - 1.0) <= 0.1
    assert found["duplicate_polls"] == 0 and found["unwatched_connections"] == 0
    assert found["push_healthy"]["provider_calls_per_s_idle"] == 0.0
    (small,) = await bench_drift.scale((100,))
    assert small["appointments"] == 100 and small["cpu_ms_per_notification"] > 0
