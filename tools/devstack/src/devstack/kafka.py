"""Apache Kafka for the tests and the local stack, from Maven Central jars alone.

``fetch_kafka_jars`` resolves ``org.apache.kafka:kafka_2.13`` with Maven once into
``.cache/kafka/<version>/jars`` of the repository (Maven's own ``~/.m2`` is the download cache),
adding the ``log4j-slf4j-impl`` binding at the version of the ``log4j-core`` Kafka brings: without
it the broker logs nothing, and its "started" line is how we know it is ready.

``KafkaBroker`` runs one single-node KRaft broker (``process.roles=broker,controller``) on free
loopback ports with the same interface as ``TansuBroker``; unlike Tansu it keeps its data dir, so
``restart()`` brings back every topic, record and committed offset.

``python -m devstack.kafka`` (``make kafka``) runs one in the foreground for a developer.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from devstack.processes import ManagedProcess
from devstack.tansu import free_port, wait_for_port

KAFKA_VERSION = os.environ.get("VISITOR_KAFKA_VERSION", "4.1.1")
# The repository root: tools/devstack/src/devstack/kafka.py → four levels up.
REPO_ROOT = Path(__file__).resolve().parents[4]
CACHE_DIR = Path(os.environ.get("VISITOR_KAFKA_CACHE", REPO_ROOT / ".cache" / "kafka"))
STARTED_LINE = re.compile(r"\[KafkaRaftServer nodeId=\d+\] Kafka Server started")

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.devstack</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""
DEPENDENCY = (
    "    <dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version></dependency>"
)

# Broker settings for a throw-away single node: replication factors 1, no rebalance delay, and a
# log-cleaner buffer that fits the small heap (the 128 MiB default does not fit in -Xmx256m).
SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dir}
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=16777216
num.network.threads=2
num.io.threads=2
background.threads=2
"""

LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.console.ref = STDOUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


def kafka_unavailable_reason() -> str | None:
    """Why Apache Kafka cannot run here (no JDK or no Maven on PATH), or None when it can."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        return f"Apache Kafka needs a JDK (17+) and Maven; not on PATH: {', '.join(missing)}"
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``, so parallel test processes fetch the jars only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _copy_dependencies(work_dir: Path, dependencies: list[tuple[str, str, str]], output: Path) -> None:
    pom = work_dir / "pom.xml"
    pom.write_text(POM.format(dependencies="\n".join(DEPENDENCY.format(*d) for d in dependencies)))
    command = [
        "mvn",
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={output}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"mvn could not fetch Kafka's jars:\n{result.stdout}\n{result.stderr}")


def fetch_kafka_jars(version: str = KAFKA_VERSION, cache_dir: Path = CACHE_DIR) -> Path:
    """The folder of Kafka ``version``'s runtime jars, fetched with Maven on first use."""
    home = cache_dir / version
    jars = home / "jars"
    done = home / "complete"
    if done.exists():
        return jars
    reason = kafka_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    with _locked(home / ".lock"):
        if done.exists():  # another process fetched them while we waited
            return jars
        shutil.rmtree(jars, ignore_errors=True)
        kafka = ("org.apache.kafka", "kafka_2.13", version)
        _copy_dependencies(home, [kafka], jars)
        # Kafka depends on log4j-core but on no SLF4J binding; add the one of that log4j version.
        core = next(jars.glob("log4j-core-*.jar"), None)
        if core is None:
            raise RuntimeError(f"Kafka {version} brought no log4j-core; cannot pick the SLF4J binding")
        log4j_version = core.name.removeprefix("log4j-core-").removesuffix(".jar")
        binding = ("org.apache.logging.log4j", "log4j-slf4j-impl", log4j_version)
        _copy_dependencies(home, [kafka, binding], jars)
        done.write_text(f"kafka {version}, log4j {log4j_version}\n")
    return jars


@dataclass
class KafkaBroker:
    """One single-node KRaft Apache Kafka broker on loopback, with a data dir that outlives
    ``stop()``: ``restart()`` keeps topics, records and committed offsets.

    Without ``data_dir`` it makes a temporary one and deletes it in ``close()`` (or ``__exit__``).
    """

    host: str = "127.0.0.1"
    port: int = 0
    controller_port: int = 0
    data_dir: Path | None = None
    version: str = KAFKA_VERSION
    heap: str = "256m"
    log_level: str = "WARN"
    start_timeout: float = 90.0
    kind: str = field(default="kafka", init=False)
    idempotent: bool = field(default=True, init=False)
    process: ManagedProcess | None = field(default=None, repr=False)
    _own_data_dir: bool = field(default=False, repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_path(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "broker.log"

    def start(self) -> KafkaBroker:
        jars = fetch_kafka_jars(self.version)
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="kafka-"))
            self._own_data_dir = True
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._choose_ports()
        config = self._configure()
        if not (self.data_dir / "log" / "meta.properties").exists():
            self._format(jars, config)
        started = threading.Event()
        self.process = ManagedProcess(
            "kafka",
            [*self._java(jars), "kafka.Kafka", str(config)],
            log_path=self.log_path,
            on_line=lambda line: started.set() if STARTED_LINE.search(line) else None,
        ).start()
        self._wait_started(started)
        return self

    def _choose_ports(self) -> None:
        # A data dir keeps its ports where it can (a client may still hold the address); KRaft
        # itself accepts new ones, so a saved port someone else took meanwhile is replaced.
        assert self.data_dir is not None
        saved = self.data_dir / "ports.json"
        known = json.loads(saved.read_text()) if saved.exists() else {}
        self.port = self.port or self._still_free(known.get("port"))
        self.controller_port = self.controller_port or self._still_free(known.get("controller"))
        saved.write_text(json.dumps({"port": self.port, "controller": self.controller_port}))

    def _still_free(self, port: int | None) -> int:
        if port:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Java's listener
                try:
                    probe.bind((self.host, port))
                    return port
                except OSError:
                    pass
        return free_port(self.host)

    def _configure(self) -> Path:
        assert self.data_dir is not None
        config = self.data_dir / "server.properties"
        config.write_text(
            SERVER_PROPERTIES.format(
                host=self.host,
                port=self.port,
                controller_port=self.controller_port,
                log_dir=self.data_dir / "log",
            )
        )
        (self.data_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES.format(level=self.log_level))
        return config

    def _java(self, jars: Path) -> list[str]:
        assert self.data_dir is not None
        return [
            "java",
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseSerialGC",  # one small heap on a shared 2-core machine: no parallel GC threads
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            f"{jars}/*",
        ]

    def _format(self, jars: Path, config: Path) -> None:
        def tool(*args: str) -> str:
            result = subprocess.run(
                [*self._java(jars), "kafka.tools.StorageTool", *args],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"kafka-storage {args[0]} failed:\n{result.stdout}\n{result.stderr}")
            return result.stdout.strip()

        cluster_id = tool("random-uuid").splitlines()[-1].strip()
        tool("format", "-t", cluster_id, "-c", str(config))

    def _wait_started(self, started: threading.Event) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while not started.wait(0.1):
            if not self.process.alive():
                raise RuntimeError(f"Kafka exited during start-up; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Kafka not started after {self.start_timeout}s; see {self.log_path}")
        wait_for_port(self.host, self.port, timeout=max(1.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """Shut the broker down cleanly (SIGTERM, SIGKILL after 30 s); the data dir stays."""
        if self.process is not None and self.process.alive():
            self.process.stop(timeout=30)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would; ``start()`` recovers from the same data dir."""
        if self.process is not None:
            self.process.kill()
        self.process = None

    def restart(self) -> KafkaBroker:
        """Stop and start again on the same ports and data dir: everything it held is back."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop, and delete the data dir if this broker made it."""
        self.stop()
        if self._own_data_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None
            self._own_data_dir = False

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="devstack.kafka", description="Run Apache Kafka in the foreground.")
    parser.add_argument("--port", type=int, default=9092, help="client port (0: a free one)")
    parser.add_argument("--data-dir", type=Path, default=Path(".devstack") / "kafka", help="kept across runs")
    parser.add_argument("--fetch-only", action="store_true", help="only fetch the jars, then exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """`make kafka`: one broker in the foreground; Ctrl-C stops it."""
    args = parse_args(argv)
    reason = kafka_unavailable_reason()
    if reason:
        print(f"make kafka: {reason}", file=sys.stderr)
        return 1
    if args.fetch_only:
        print(f"Apache Kafka {KAFKA_VERSION}: jars in {fetch_kafka_jars()}", flush=True)
        return 0
    stopping = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"starting Apache Kafka {KAFKA_VERSION} (jars in {CACHE_DIR / KAFKA_VERSION}) …", flush=True)
    broker = KafkaBroker(port=args.port, data_dir=args.data_dir.resolve(), log_level="INFO")
    try:
        broker.start()
        print(f"kafka ready: KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}", flush=True)
        print(f"log {broker.log_path}; data in {args.data_dir}; Ctrl-C stops", flush=True)
        while not stopping.wait(0.5):
            if broker.process is None or not broker.process.alive():
                print(f"kafka exited; see {broker.log_path}", file=sys.stderr, flush=True)
                return 1
    except (RuntimeError, TimeoutError) as error:
        print(f"start-up failed: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        broker.stop()
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
