"""`make bench`: the local stack's latency, throughput and cost, measured, never asserted.

One run per broker (Tansu, and Apache Kafka where ``java`` and ``mvn`` are installed), each on
a fresh stack of its own:

1. ``single``: one guest pick at a time → the appointment reads ``synced`` (p50 / p99);
   ``single_hops``: the median of each hop of those picks, from the stack's logs
   (:mod:`devstack.bench_hops`);
2. ``raw_floor``: two bare Kafka hops and one bare HTTPS call to the same emulator, open loop
   at the sustained run's total arrival rate — the floor every figure is a multiple of;
3. ``sustained``: open loop at each ``--rate`` per provider (both providers at once) for
   ``--duration`` seconds: achieved rate, p50 / p95 / p99, errors;
4. ``cpu_ms_per_confirmation`` and ``rss_mb`` of every process (the bench's own as ``bench``),
   ``idle_cpu_ms_per_s`` (each process over 10 s of the stack doing nothing, before the
   sustained windows) and ``cpu_ms_per_confirmation_net_of_idle`` (the windows' CPU less what
   each process would have used idle over as long: what a confirmation adds);
5. ``yardstick_ms`` (``before`` the stack starts, ``after`` it stopped): the CPU time of a
   fixed piece of pure Python (a loop, JSON in and out), the best of five — how fast this
   machine's CPU was around the run, so that CPU figures of runs on different days can be
   compared (a shared VM's varies by 2× from one minute to the next);
6. ``scale`` (CPU per confirmation and per push notification with 100 and 10,000 appointments,
   :mod:`devstack.bench_scale`) and ``drift_scale`` (:mod:`devstack.drift_at_scale`), each on
   fresh stacks of its own, with the first broker only; merged into its file by
   :mod:`devstack.bench_drift` (``--no-drift`` skips both).

Results go to ``.devstack/bench.json`` (``bench-kafka.json`` for Kafka) with a PNG of latency
over time per rate beside it, and print as a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devstack import bench_drift
from devstack.bench_e2e import BENCH_OVERRIDES, Bench
from devstack.bench_floor import raw_floor
from devstack.bench_hops import describe, single_hops
from devstack.bench_procs import CpuMeter, idle_cost, ms_per_sample, rss_mb, settle, stack_pids
from devstack.brokers import KIND_ENV
from devstack.kafka import kafka_unavailable_reason
from devstack.stack import SERVICE_MODULES, hot_fetch_wait_ms
from devstack.stats import Run, latency
from devstack.testing import RunningStack, running_stack

KEYS = (
    "raw_floor",
    "single",
    "single_hops",
    "sustained",
    "scale",
    "cpu_ms_per_confirmation",
    "idle_cpu_ms_per_s",
    "cpu_ms_per_confirmation_net_of_idle",
    "rss_mb",
    "yardstick_ms",
)
IDLE_S = 10.0  # the stack doing nothing, metered before the sustained windows


def say(line: str) -> None:
    print(line, flush=True)


def yardstick_ms() -> float:
    """CPU ms of a fixed pure-Python workload, the best of five."""
    document = {"id": "a1", "candidates": [{"start": "2030-01-07T10:00:00Z", "room": "r1"}] * 20}

    def once() -> float:
        began = time.process_time()
        total = 0
        for n in range(1_000_000):
            total += n
        for _ in range(2_000):
            json.loads(json.dumps(document))
        return (time.process_time() - began) * 1000

    return round(min(once() for _ in range(5)), 1)


def process_ids(running: RunningStack) -> dict[str, int]:
    """The stack's processes and the bench's own (``bench``)."""
    return {**stack_pids(running), "bench": os.getpid()}


async def measure(args: argparse.Namespace) -> tuple[dict[str, Any], list[Run]]:
    yardstick = {"before": yardstick_ms()}
    with (
        tempfile.TemporaryDirectory(prefix="bench-stack-") as state_dir,
        running_stack(Path(state_dir), overrides=BENCH_OVERRIDES) as running,
    ):
        assert running.stack.broker is not None
        say(f"stack up on {running.stack.broker.kind}; preparing appointments")
        bench = Bench(running)
        await bench.open()
        try:
            per_provider = args.single + sum(int(rate * args.duration) for rate in args.rate)
            await bench.prepare(per_provider, say)
            say(f"  stack quiet after {await settle(stack_pids(running)):.0f} s")
            say(f"single: {args.single} picks per provider, one at a time")
            single = await bench.single(args.single)
            hops = single_hops(running.stack.config.state_dir / "logs", bench.single_picks)
            floor_rate = 2 * max(args.rate)
            say(f"raw floor: {floor_rate}/s for {args.floor_duration} s")
            floor = await raw_floor(
                running,
                floor_rate,
                args.floor_duration,
                fetch_max_wait_ms=hot_fetch_wait_ms(running.stack.broker.kind),
                idempotent=running.stack.broker.idempotent,
            )
            await settle(stack_pids(running))
            say(f"idle: {IDLE_S:.0f} s")
            idle = await idle_cost(process_ids(running), IDLE_S)
            meter = CpuMeter(process_ids(running))
            runs: list[Run] = []
            for rate in args.rate:
                say(f"sustained: {rate}/s per provider for {args.duration} s")
                runs += await bench.sustained(rate, args.duration, meter)
            confirmations = sum(len(run.ok) for run in runs)
            result = {
                "raw_floor": latency([s.latency_ms for s in floor if s.error is None]),
                "single": latency(single),
                "single_hops": hops,
                "sustained": [run.row() for run in runs],
                # each size needs a fresh stack of its own: bench_drift.record merges the rows
                # (devstack.bench_scale) into the same file after this stack stopped
                "scale": [],
                "cpu_ms_per_confirmation": ms_per_sample(meter, confirmations),
                "idle_cpu_ms_per_s": idle,
                "cpu_ms_per_confirmation_net_of_idle": ms_per_sample(meter, confirmations, idle),
                "rss_mb": {name: rss_mb(pid) for name, pid in meter.pids.items()},
                "yardstick_ms": yardstick,
            }
            return result, runs
        finally:
            await bench.close()


def plot(runs: list[Run], path: Path, title: str) -> None:
    """Latency over time, one panel per rate, one series per provider."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = sorted({run.target_per_s for run in runs})
    figure, axes = plt.subplots(len(rates), 1, figsize=(10, 3.2 * len(rates)), squeeze=False, sharex=True)
    for axis, rate in zip(axes[:, 0], rates, strict=True):
        for run in (r for r in runs if r.target_per_s == rate):
            ok = [s for s in run.samples if s.error is None]
            axis.plot(
                [s.due_s for s in ok], [s.latency_ms for s in ok], ".", markersize=2, label=run.provider
            )
        axis.set_title(f"{title}: {rate:g} picks/s per provider")
        axis.set_ylabel("pick → synced (ms)")
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(loc="upper right")
    axes[-1, 0].set_xlabel("seconds into the run (arrival time)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def print_table(kind: str, result: dict[str, Any]) -> None:
    floor, single = result["raw_floor"], result["single"]
    say(f"\n== {kind} ==")
    say(f"raw floor          p50 {floor['p50_ms']} ms  p99 {floor['p99_ms']} ms")
    say(f"single pick→synced p50 {single['p50_ms']} ms  p99 {single['p99_ms']} ms")
    say(f"  median per hop over {result['single_hops'].get('picks', 0):.0f} picks:")
    for line in describe(result["single_hops"]):
        say(line)
    say(f"{'provider':<10} {'target/s':>8} {'achieved':>9} {'p50':>8} {'p95':>8} {'p99':>8} {'errors':>6}")
    for row in result["sustained"]:
        say(
            f"{row['provider']:<10} {row['target_per_s']:>8g} {row['achieved_per_s']:>9} "
            f"{row['p50_ms']!s:>8} {row['p95_ms']!s:>8} {row['p99_ms']!s:>8} {row['errors']:>6}"
        )
    for label, cpu in (
        ("cpu ms per confirmation", result["cpu_ms_per_confirmation"]),
        ("  net of idle", result["cpu_ms_per_confirmation_net_of_idle"]),
    ):
        stack = sum(v for k, v in cpu.items() if k != "bench")
        ours = sum(v for k, v in cpu.items() if k in SERVICE_MODULES)
        say(
            f"{label}: "
            + ", ".join(f"{k} {v}" for k, v in cpu.items())
            + f"  (stack {stack:.1f}, of which our services {ours:.1f})"
        )
    say("idle cpu ms/s: " + ", ".join(f"{k} {v}" for k, v in result["idle_cpu_ms_per_s"].items()))
    say("rss MB: " + ", ".join(f"{k} {v}" for k, v in result["rss_mb"].items()))
    yardstick = result["yardstick_ms"]
    say(f"yardstick (this machine's CPU around the run): {yardstick['before']} / {yardstick['after']} ms")


def output_paths(out: Path, kind: str) -> tuple[Path, Path]:
    stem = out.stem if kind == "tansu" else f"{out.stem}-{kind}"
    return out.with_name(f"{stem}{out.suffix}"), out.with_name(f"{stem}-latency.png")


@contextlib.contextmanager
def broker_choice(kind: str) -> Iterator[None]:
    """Stacks started inside run on ``kind`` (``devstack.brokers.run_broker`` reads the variable)."""
    previous = os.environ.get(KIND_ENV)
    os.environ[KIND_ENV] = kind
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(KIND_ENV, None)
        else:
            os.environ[KIND_ENV] = previous


def run_on(kind: str, args: argparse.Namespace) -> dict[str, Any] | None:
    if kind == "kafka" and (reason := kafka_unavailable_reason()):
        say(f"kafka: skipped ({reason})")
        return None
    began = time.perf_counter()
    with broker_choice(kind):
        result, runs = asyncio.run(measure(args))
    result["yardstick_ms"]["after"] = yardstick_ms()  # its stack has stopped
    assert tuple(result) == KEYS
    json_path, png_path = output_paths(args.out, kind)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    if args.drift and kind == args.brokers.split(",")[0].strip():
        # scale (issue 14, item 3) and drift_scale (issue 18): fresh stacks of their own, on the
        # first broker only (they measure growth with size and with connections, not the broker)
        with broker_choice(kind):
            bench_drift.record(json_path)
    if runs and not args.no_plot:
        plot(runs, png_path, kind)
    print_table(kind, result)
    written = str(json_path) if args.no_plot else f"{json_path}, {png_path}"
    say(f"({kind}: {time.perf_counter() - began:.0f} s; {written})")
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, nargs="+", default=[50.0], help="picks/s per provider (each)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per sustained rate")
    parser.add_argument("--single", type=int, default=30, help="one-at-a-time picks per provider")
    parser.add_argument("--floor-duration", type=float, default=20.0, help="seconds of the raw floor")
    parser.add_argument(
        "--brokers", default="tansu,kafka", help="comma-separated: tansu, kafka (skipped where unavailable)"
    )
    parser.add_argument("--out", type=Path, default=Path(".devstack/bench.json"))
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--no-drift", dest="drift", action="store_false", help="skip the drift_scale and scale sections"
    )
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # SystemExit unwinds through the running stack's context manager, which stops its eight
    # processes; without it a `kill` of the bench left them running.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    say(
        f"bench on {platform.node()}: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {sys.version.split()[0]}"
    )
    for kind in [k.strip() for k in args.brokers.split(",") if k.strip()]:
        run_on(kind, args)


if __name__ == "__main__":
    main()
