"""`make bench` at a tiny load on the suite's broker: it runs end to end and writes ``bench.json`` with the
keys the README's "Measured" table is made from, every pick confirmed and synced. Measures
nothing (no latency is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack import bench
from devstack.brokers import requested_kind

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.timeout(300)]


def test_a_tiny_bench_run_writes_every_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    out = tmp_path / "bench.json"
    kind = requested_kind()  # the suite's broker (make test runs e2e on Kafka too)
    tiny = ["--rate", "2", "--duration", "2", "--single", "2", "--floor-duration", "1", "--no-drift"]
    bench.main([*tiny, "--brokers", kind, "--out", str(out)])
    json_path, png_path = bench.output_paths(out, kind)
    result = json.loads(json_path.read_text())
    assert tuple(result) == bench.KEYS
    assert result["raw_floor"]["p50_ms"] > 0 and result["single"]["p50_ms"] > 0
    assert [(row["provider"], row["target_per_s"], row["errors"]) for row in result["sustained"]] == [
        ("google", 2.0, 0),
        ("microsoft", 2.0, 0),
    ]
    assert all(row["achieved_per_s"] > 0 for row in result["sustained"])
    assert {"appointments", "calendar-google", "calendar-outlook", kind, "bench"} <= set(
        result["cpu_ms_per_confirmation"]
    )
    assert set(result["rss_mb"]) == set(result["cpu_ms_per_confirmation"])
    assert set(result["idle_cpu_ms_per_s"]) == set(result["cpu_ms_per_confirmation"])
    assert set(result["cpu_ms_per_confirmation_net_of_idle"]) == set(result["cpu_ms_per_confirmation"])
    gross, net = result["cpu_ms_per_confirmation"], result["cpu_ms_per_confirmation_net_of_idle"]
    assert all(net[name] <= gross[name] for name in gross)  # idle time taken off, never added
    assert result["yardstick_ms"]["before"] > 0 and result["yardstick_ms"]["after"] > 0
    assert png_path.stat().st_size > 0
