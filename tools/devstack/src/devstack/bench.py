"""`make bench`: performance and memory measured, not asserted in tests.

1. Raw-broker baseline: produce → consume round trip on the same Tansu broker (p50/p99 latency,
   messages per second) — the floor any end-to-end number sits on.
2. End to end on the full local stack: guest pick → provider event written → the appointment
   shows `synced` (p50/p99), and sustained confirmations per second.
3. Resident memory of every process of the stack after that load.
Results print as a table and are written to `.devstack/bench.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack import bench_drift
from devstack.bench_e2e import end_to_end
from devstack.stats import summary
from devstack.tansu import TansuBroker


async def raw_broker_baseline(bootstrap: str, messages: int) -> dict[str, Any]:
    """Round trip of keyed 2 KB messages (about an appointment event's size), one at a time
    for latency, then pipelined for throughput."""
    topic = f"bench-raw-{uuid.uuid4().hex[:6]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await producer.start()
    await producer.send_and_wait(topic, b"warm-up")
    await consumer.start()
    await consumer.getone()
    payload = b"x" * 2048
    latencies: list[float] = []
    try:
        for i in range(messages):
            sent = time.perf_counter()
            await producer.send_and_wait(topic, payload, key=str(i % 64).encode())
            await consumer.getone()
            latencies.append((time.perf_counter() - sent) * 1000)
        started = time.perf_counter()
        futures = [await producer.send(topic, payload, key=str(i % 64).encode()) for i in range(messages)]
        await asyncio.gather(*futures)
        received = 0
        while received < messages:
            batch = await consumer.getmany(timeout_ms=1000)
            received += sum(len(v) for v in batch.values())
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()
    return summary("raw broker round trip (Tansu)", latencies, elapsed, messages)


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'measurement':<52} {'n':>6} {'p50 ms':>9} {'p99 ms':>9} {'per s':>9}")
    for r in results:
        if "rss_mb" in r:
            print(f"{r['name']:<52} {'':>6} {'':>9} {'':>9} {r['rss_mb']:>6} MB")
            continue
        print(f"{r['name']:<52} {r['count']:>6} {r['p50_ms']:>9} {r['p99_ms']:>9} {r['per_second']!s:>9}")


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with TansuBroker() as broker:
        results.append(await raw_broker_baseline(broker.bootstrap_servers, args.messages))
    results += await end_to_end(args)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--messages", type=int, default=500, help="raw-broker messages")
    parser.add_argument("--appointments", type=int, default=100, help="end-to-end appointments")
    parser.add_argument("--concurrency", type=int, default=10, help="parallel guest picks")
    parser.add_argument("--out", type=Path, default=Path(".devstack/bench.json"))
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    bench_drift.record(args.out)  # the drift_scale and scale sections (issues 18 and 14)


if __name__ == "__main__":
    main()
