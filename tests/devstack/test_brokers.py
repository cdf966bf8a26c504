"""The broker for a run is chosen in one place (devstack.brokers) and Apache Kafka, fetched from
Maven Central, runs as a real broker that keeps its data across a restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack.brokers import BrokerUnavailable, ExternalBroker, local_broker, run_broker
from devstack.kafka import KafkaBroker, kafka_unavailable_reason
from devstack.tansu import TansuBroker
from visitor_common.messaging import TopicSpec, ensure_topics


@pytest.fixture
def no_broker_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("VISITOR_BROKER", raising=False)
    return monkeypatch


def test_tansu_is_the_default_with_idempotence_off(no_broker_env: pytest.MonkeyPatch) -> None:
    broker = run_broker(port=1234)
    assert isinstance(broker, TansuBroker) and broker.port == 1234 and not broker.idempotent


def test_an_external_broker_wins_and_is_only_connected_to(no_broker_env: pytest.MonkeyPatch) -> None:
    no_broker_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092,127.0.0.1:19093")
    no_broker_env.setenv("VISITOR_BROKER", "kafka")
    broker = run_broker(port=1234)
    assert isinstance(broker, ExternalBroker) and broker.idempotent and broker.pid is None
    assert broker.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19093"
    with pytest.raises(RuntimeError, match="someone else"):
        broker.restart()
    # A test that stops its broker gets one of its own instead.
    assert isinstance(local_broker(), KafkaBroker)


def test_apache_kafka_on_request(no_broker_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_broker_env.setenv("VISITOR_BROKER", "Kafka")
    broker = run_broker(port=1234, data_dir=tmp_path)
    assert isinstance(broker, KafkaBroker) and broker.idempotent and broker.data_dir == tmp_path


def test_apache_kafka_without_a_jdk_says_why(no_broker_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_broker_env.setenv("VISITOR_BROKER", "kafka")
    no_broker_env.setenv("PATH", str(tmp_path))  # neither java nor mvn
    with pytest.raises(BrokerUnavailable, match=r"JDK.*java, mvn"):
        run_broker()


def test_an_unknown_kind_is_refused(no_broker_env: pytest.MonkeyPatch) -> None:
    no_broker_env.setenv("VISITOR_BROKER", "redpanda")
    with pytest.raises(ValueError, match="tansu, kafka"):
        run_broker()


WHY_NOT = kafka_unavailable_reason()
needs_kafka = pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))


@needs_kafka
@pytest.mark.broker
async def test_apache_kafka_keeps_topics_records_and_offsets_across_a_restart(tmp_path: Path) -> None:
    topic, group = f"restart-{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
    with KafkaBroker(data_dir=tmp_path / "kafka") as broker:
        address = broker.bootstrap_servers
        await ensure_topics(address, [TopicSpec(topic, 3)])
        producer = AIOKafkaProducer(bootstrap_servers=address, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            for i in range(4):
                await producer.send_and_wait(topic, f"v{i}".encode(), key=f"k{i}".encode())
        finally:
            await producer.stop()
        first = await _read(address, topic, group, expected=4)
        assert sorted(first) == ["v0", "v1", "v2", "v3"]

        broker.restart()
        assert broker.bootstrap_servers == address  # same address: clients just reconnect
        producer = AIOKafkaProducer(bootstrap_servers=address, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"v4", key=b"k4")
        finally:
            await producer.stop()
        # The group resumes after what it committed before the restart: only the new record.
        assert await _read(address, topic, group, expected=1) == ["v4"]


async def _read(address: str, topic: str, group: str, expected: int) -> list[str]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=address,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[str] = []
    try:
        for _ in range(100):  # up to ~50 s: the first group join creates __consumer_offsets
            batch = await consumer.getmany(timeout_ms=500)
            values += [m.value.decode() for msgs in batch.values() for m in msgs if m.value]
            if len(values) >= expected:
                break
        await consumer.commit()
    finally:
        await consumer.stop()
    return values


@needs_kafka
def test_make_kafka_prints_its_address_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.kafka", "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.startswith("kafka ready:") or "failed" in line:
                break
        assert lines[-1].startswith("kafka ready: KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:"), lines
        host, port = lines[-1].split("=", 1)[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5):
            pass
        assert json.loads((tmp_path / "ports.json").read_text())["port"] == int(port)  # kept for next time
        broker_pid = _java_child(process.pid)
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert not Path(f"/proc/{broker_pid}").exists() or _zombie(broker_pid)


def _java_child(parent: int) -> int:
    """The broker's pid: the java process whose parent is ``parent``."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)
                if "(java" in stat[0] and int(stat[1].split()[1]) == parent:
                    return int(entry.name)
            except OSError:
                continue
    raise AssertionError(f"no java child of {parent}")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
