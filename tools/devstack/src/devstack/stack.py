"""The whole local stack in one process tree: a broker, both provider emulators, a mail sink,
the services and the web pages.

A connector may run as several instances (``StackConfig.instances``): each has its own port and
public address, and all share the service's store file and consumer group, as replicas would.

The broker is whichever :func:`devstack.brokers.run_broker` picks (Tansu by default; Apache
Kafka or an external broker on request). Each service keeps its documents in a SQLite file
under ``<state-dir>/data/`` unless ``MONGODB_URI`` is set, so a restart of the stack keeps them.

Start order follows the dependencies: broker → emulators → mail sink → auth (JWKS, tokens) →
connectors → appointments → notifications → web. Every mail is kept as an ``.eml`` file under
``<state-dir>/mail/``. Every child runs in its own process group and is stopped as a group.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from devstack.brokers import Broker, run_broker
from devstack.demo import DemoAccounts, ProviderApps, seed_providers, seed_tenant
from devstack.processes import ManagedProcess, python_module, wait_healthy
from devstack.tansu import free_port
from visitor_common.sealing import Sealer
from visitor_common.settings import ServiceSettings

# The web pages start last: an API client of the four, with no broker and no service credential.
WEB = "web"
NOTIFICATIONS = "notifications"
MAIL_SINK = "mail-sink"
SERVICES = ("auth", "calendar-google", "calendar-outlook", "appointments", NOTIFICATIONS, WEB)
# Services with no credential at auth: notifications only consumes topics, web uses callers' tokens.
NO_SERVICE_CLIENT = ("auth", NOTIFICATIONS, WEB)
SERVICE_MODULES = {
    "auth": "auth_service",
    "appointments": "appointments_service",
    "calendar-google": "calendar_google",
    "calendar-outlook": "calendar_outlook",
    NOTIFICATIONS: "notifications_service",
    WEB: "web_service",
}
ENV_PREFIX = {
    "auth": "AUTH_",
    "appointments": "APPOINTMENTS_",
    "calendar-google": "CALENDAR_GOOGLE_",
    "calendar-outlook": "CALENDAR_OUTLOOK_",
    NOTIFICATIONS: "NOTIFICATIONS_",
    WEB: "WEB_",
}
MAIL_SEAL_KID = "local-1"
# Apache Kafka answers a parked fetch as soon as a record arrives, so the hot groups there can
# wait as long as the others at no cost in latency (and without ~100 idle fetches a second per
# consumer). Tansu answers a fetch of a multi-partition topic only when the wait is over, so
# there the wait is the latency of each hop and stays short (issue 14, measured).
PARKED_FETCH_WAIT_MS = 500


def hot_fetch_wait_ms(broker_kind: str) -> int:
    """``KAFKA_HOT_FETCH_MAX_WAIT_MS`` for the stack on ``broker_kind``."""
    if broker_kind == "tansu":
        return int(ServiceSettings.model_fields["kafka_hot_fetch_max_wait_ms"].default)
    return PARKED_FETCH_WAIT_MS


DEFAULT_PORTS = {
    "kafka": 9092,
    "google-emulator": 8443,
    "microsoft-emulator": 8444,
    "auth": 8001,
    "appointments": 8002,
    "calendar-google": 8003,
    "calendar-outlook": 8004,
    WEB: 8005,
    NOTIFICATIONS: 8006,
    MAIL_SINK: 1025,
}


@dataclass
class StackConfig:
    state_dir: Path
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    # per service, settings on top of the stack's own (names without the service's prefix)
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    # per service, how many processes run it (default one); see instance_names
    instances: dict[str, int] = field(default_factory=dict)

    @classmethod
    def with_free_ports(cls, state_dir: Path, **kwargs: Any) -> StackConfig:
        return cls(state_dir=state_dir, ports={name: free_port() for name in DEFAULT_PORTS}, **kwargs)

    def url(self, name: str) -> str:
        """Base URL of a service or of one instance of it (see :meth:`instance_names`)."""
        return f"http://{self.host}:{self.ports[name]}"

    def instance_names(self, service: str) -> list[str]:
        """``service`` itself, then ``<service>-2``, ``<service>-3``… for the extra instances."""
        return [service, *(f"{service}-{n}" for n in range(2, self.instances.get(service, 1) + 1))]

    def service_of(self, instance: str) -> str:
        """The service an instance name belongs to."""
        if instance in SERVICE_MODULES:
            return instance
        service, _, number = instance.rpartition("-")
        if service not in SERVICE_MODULES or not number.isdigit():
            raise KeyError(f"no service instance {instance!r}")
        return service


@dataclass
class Secrets:
    """Local-only secrets, generated once per state dir so restarts keep linked connections
    readable (MongoDB mode) and never committed."""

    operator_key: str
    encryption_key: str
    service_clients: dict[str, str]
    # shared by appointments (seals the guest link and code) and notifications (opens them)
    mail_seal_key: str = ""
    # auth's JWT signing key: without one auth makes a new key at every start, and a restarted
    # auth would refuse every token it signed before (sign-ins, service tokens)
    signing_key_pem: str = ""

    @classmethod
    def load_or_create(cls, path: Path) -> Secrets:
        if path.exists():
            kept = cls(**json.loads(path.read_text()))
            if not kept.mail_seal_key or not kept.signing_key_pem:  # a state dir from before them
                kept.mail_seal_key = kept.mail_seal_key or Sealer.generate_key()
                kept.signing_key_pem = kept.signing_key_pem or new_signing_key_pem()
                kept.save(path)
            return kept
        created = cls(
            operator_key=secrets.token_urlsafe(24),
            encryption_key=base64.b64encode(secrets.token_bytes(32)).decode(),
            service_clients={
                name: secrets.token_urlsafe(24) for name in SERVICES if name not in NO_SERVICE_CLIENT
            },
            mail_seal_key=Sealer.generate_key(),
            signing_key_pem=new_signing_key_pem(),
        )
        created.save(path)
        return created

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__))
        path.chmod(0o600)

    def mail_seal_keys(self) -> str:
        return json.dumps({MAIL_SEAL_KID: self.mail_seal_key})


def new_signing_key_pem() -> str:
    """A fresh Ed25519 private key in PEM (PKCS#8), as ``AUTH_SIGNING_KEY_PEM`` takes it."""
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class EmulatorInfo:
    base_url: str = ""
    ca_file: str = ""
    ready: threading.Event = field(default_factory=threading.Event)

    def parse(self, line: str) -> None:
        key, _, value = line.partition("=")
        if key == "base_url":
            self.base_url = value.strip()
        elif key == "ca_file":
            self.ca_file = value.strip()
        if self.base_url and self.ca_file:
            self.ready.set()


class LocalStack:
    def __init__(self, config: StackConfig, say: Callable[[str], None] = print) -> None:
        self.config = config
        self.say = say
        self.children: list[ManagedProcess] = []
        self.broker: Broker | None = None
        self.emulators: dict[str, EmulatorInfo] = {}
        self.apps: ProviderApps | None = None
        self.demo: DemoAccounts | None = None
        config.state_dir.mkdir(parents=True, exist_ok=True)
        (config.state_dir / "logs").mkdir(exist_ok=True)
        for service in SERVICES:  # extra instances get ports of their own
            for instance in config.instance_names(service)[1:]:
                config.ports.setdefault(instance, free_port())
        self.secrets = Secrets.load_or_create(config.state_dir / "secrets.json")

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        broker = run_broker(port=self.config.ports["kafka"], data_dir=self.config.state_dir / "kafka-data")
        self.broker = broker
        broker.start()
        self.say(f"{'kafka (' + broker.kind + ')':<20} {broker.bootstrap_servers}")
        for provider in ("google", "microsoft"):
            self._start_emulator(provider)
        self._start_mail_sink()
        google, microsoft = self.emulators["google"], self.emulators["microsoft"]
        self.apps = seed_providers(
            (google.base_url, google.ca_file),
            (microsoft.base_url, microsoft.ca_file),
            self.config.url("auth"),
            link_redirect_base=self.config.url(WEB),
        )
        # auth first: the others ask it for their service tokens and the tenant is seeded there.
        # Then the rest at once: each start is mostly imports and a broker join, so on two
        # cores starting them together takes about half as long as one after the other.
        self._start_service("auth")
        self.demo = seed_tenant(self.config.url("auth"), self.secrets.operator_key, self.demo_file)
        self.say(f"{'demo tenant':<20} {self.demo.tenant_id}  (accounts in {self.demo_file})")
        rest = [i for s in SERVICES if s != "auth" for i in self.config.instance_names(s)]
        for instance, process in [(i, self._launch_service(i)) for i in rest]:
            self._await_service(instance, process)
        self._write_pids()

    def sqlite_path(self, service: str) -> Path:
        """Where ``service`` keeps its documents (kept across restarts of the stack)."""
        return self.config.state_dir / "data" / f"{service}.sqlite3"

    @property
    def demo_file(self) -> Path:
        return self.config.state_dir / "demo.json"

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        if self.broker is not None:
            self.broker.close()

    def crash_and_restart(self, service: str) -> None:
        """Kill ``service`` without warning (SIGKILL), then start it again with the same settings."""
        self.kill_service(service)
        self.restart_service(service)

    def stop_and_restart(self, service: str) -> None:
        """Stop ``service`` as an operator's restart does (SIGTERM: in-flight work finishes),
        then start it again with the same settings."""
        running = next(c for c in self.children if c.name == service and c.alive())
        running.stop()
        self.children.remove(running)
        self._start_service(service)
        self._write_pids()

    # -- faults: kill and restart one part (the fault suite) --------------------------------
    def kill_service(self, service: str) -> None:
        """SIGKILL ``service``'s whole process group, as a crash would: no shutdown code runs."""
        crashed = next(c for c in self.children if c.name == service and c.alive())
        crashed.kill()
        self.children.remove(crashed)

    def restart_service(self, service: str) -> None:
        """Start ``service`` again with the same settings (its SQLite store is kept) and wait
        until it answers ``/healthz``."""
        if any(c.name == service and c.alive() for c in self.children):
            raise RuntimeError(f"{service} is still running")
        self._start_service(service)
        self._write_pids()

    def stop_broker(self) -> None:
        """Shut the broker down cleanly; a local Apache Kafka keeps its data dir and ports."""
        assert self.broker is not None
        self.broker.stop()

    def start_broker(self) -> None:
        """Start the stopped broker again on its data dir (topics, records, offsets kept)."""
        assert self.broker is not None
        self.broker.start()
        self._write_pids()

    def pids(self) -> list[int]:
        pids = [c.pid for c in self.children if c.pid]
        if self.broker and self.broker.pid:
            pids.append(self.broker.pid)
        return pids

    def _write_pids(self) -> None:
        (self.config.state_dir / "pids.json").write_text(json.dumps(self.pids()))

    # -- emulators ---------------------------------------------------------------------------
    def _start_emulator(self, provider: str) -> None:
        name = f"{provider}-emulator"
        info = EmulatorInfo()
        # one data dir for both, so both serve certificates of one CA and a client trusts one file
        data_dir = self.config.state_dir / "emulators"
        process = ManagedProcess(
            name,
            python_module(
                "provider_emulators.cli",
                provider,
                "--host",
                self.config.host,
                "--port",
                str(self.config.ports[name]),
                "--data-dir",
                str(data_dir),
            ),
            log_path=self.config.state_dir / "logs" / f"{name}.log",
            on_line=info.parse,
        ).start()
        self.children.append(process)
        if not info.ready.wait(timeout=30) or not process.alive():
            raise RuntimeError(f"{name} did not start; see {process.log_path}")
        self.emulators[provider] = info
        self.say(f"{name:<20} {info.base_url}  (CA {info.ca_file})")

    # -- mail --------------------------------------------------------------------------------
    @property
    def mail_dir(self) -> Path:
        """Where the mail sink keeps every mail the stack sends, one ``.eml`` file each."""
        return self.config.state_dir / "mail"

    def _start_mail_sink(self) -> None:
        ready = threading.Event()
        process = ManagedProcess(
            MAIL_SINK,
            python_module(
                "devstack.mail_sink",
                "--dir",
                str(self.mail_dir),
                "--host",
                self.config.host,
                "--port",
                str(self.config.ports[MAIL_SINK]),
            ),
            log_path=self.config.state_dir / "logs" / f"{MAIL_SINK}.log",
            on_line=lambda line: ready.set() if line.startswith("mail sink:") else None,
        ).start()
        self.children.append(process)
        if not ready.wait(timeout=30) or not process.alive():
            raise RuntimeError(f"the mail sink did not start; see {process.log_path}")
        where = f"smtp://{self.config.host}:{self.config.ports[MAIL_SINK]}"
        self.say(f"{MAIL_SINK:<20} {where}  (every mail as an .eml file in {self.mail_dir})")

    # -- services ----------------------------------------------------------------------------
    def _start_service(self, instance: str) -> None:
        """Start a service, or one instance of it (``calendar-google-2``), and wait until healthy."""
        self._await_service(instance, self._launch_service(instance))

    def _launch_service(self, instance: str) -> ManagedProcess:
        process = ManagedProcess(
            instance,
            python_module(SERVICE_MODULES[self.config.service_of(instance)]),
            env=self.service_env(instance),
            log_path=self.config.state_dir / "logs" / f"{instance}.log",
        ).start()
        self.children.append(process)
        return process

    def _await_service(self, instance: str, process: ManagedProcess) -> None:
        wait_healthy(f"{self.config.url(instance)}/healthz", alive=process.alive)
        self.say(f"{instance:<20} {self.config.url(instance)}  (docs {self.config.url(instance)}/docs)")

    def service_env(self, instance: str) -> dict[str, str]:
        """The environment of a service or of one instance of it: the instance's own port and
        public address, the service's name (so its consumer group), store and credential."""
        service = self.config.service_of(instance)
        prefix = ENV_PREFIX[service]
        assert self.broker is not None
        google, microsoft = self.emulators["google"], self.emulators["microsoft"]
        assert self.apps is not None
        common = {
            "SERVICE_NAME": service,
            "HTTP_HOST": self.config.host,
            "HTTP_PORT": str(self.config.ports[instance]),
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "KAFKA_IDEMPOTENT_PRODUCER": "true" if self.broker.idempotent else "false",
            # Tansu: group joins wait about half the session; a short one starts consumers sooner
            # (and on Kafka a crashed member's partitions move sooner)
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            "KAFKA_HOT_FETCH_MAX_WAIT_MS": str(hot_fetch_wait_ms(self.broker.kind)),
            "JWKS_URL": f"{self.config.url('auth')}/.well-known/jwks.json",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        }
        if os.environ.get("MONGODB_URI"):
            common["MONGODB_URI"] = os.environ["MONGODB_URI"]
        else:
            common["SQLITE_PATH"] = str(self.sqlite_path(service))
        specific: dict[str, str] = {}
        if service == "auth":
            specific = {
                "PUBLIC_BASE_URL": self.config.url("auth"),
                "OPERATOR_KEY": self.secrets.operator_key,
                "SERVICE_CLIENTS": json.dumps(
                    {
                        name: {"secret": secret, "scopes": ["calendar.tokens", "connections.read"]}
                        for name, secret in self.secrets.service_clients.items()
                    }
                ),
                "TOKEN_ENCRYPTION_KEYS": json.dumps({"local-1": self.secrets.encryption_key}),
                "TOKEN_ENCRYPTION_ACTIVE_KID": "local-1",
                "SIGNING_KEY_PEM": self.secrets.signing_key_pem,
                "PROVIDER_CA_FILE": google.ca_file,
                "GOOGLE_CLIENT_ID": self.apps.google_client_id,
                "GOOGLE_CLIENT_SECRET": self.apps.google_client_secret,
                "GOOGLE_AUTH_URL": f"{google.base_url}/o/oauth2/v2/auth",
                "GOOGLE_TOKEN_URL": f"{google.base_url}/token",
                "GOOGLE_REVOKE_URL": f"{google.base_url}/revoke",
                "GOOGLE_CERTS_URL": f"{google.base_url}/oauth2/v3/certs",
                "MICROSOFT_CLIENT_ID": self.apps.microsoft_client_id,
                "MICROSOFT_CLIENT_SECRET": self.apps.microsoft_client_secret,
                "MICROSOFT_AUTHORITY_HOST": microsoft.base_url,
                "MICROSOFT_GRAPH_URL": f"{microsoft.base_url}/v1.0",
                # the provider sends the browser back to the web pages, which forward to auth
                "LINK_REDIRECT_BASE_URL": self.config.url(WEB),
                # unlinking asks the connector to release the holds first (decision 0011)
                "GOOGLE_CONNECTOR_URL": self.config.url("calendar-google"),
                "OUTLOOK_CONNECTOR_URL": self.config.url("calendar-outlook"),
            }
        elif service == NOTIFICATIONS:
            specific = {
                "SMTP_HOST": self.config.host,
                "SMTP_PORT": str(self.config.ports[MAIL_SINK]),
                "SMTP_TLS": "none",  # the local sink only
                "MAIL_SEAL_KEYS": self.secrets.mail_seal_keys(),
            }
        elif service == WEB:
            specific = {
                "PUBLIC_BASE_URL": self.config.url(WEB),
                "AUTH_URL": self.config.url("auth"),
                "APPOINTMENTS_URL": self.config.url("appointments"),
                "GOOGLE_CONNECTOR_URL": self.config.url("calendar-google"),
                "OUTLOOK_CONNECTOR_URL": self.config.url("calendar-outlook"),
            }
        else:
            specific = {
                "AUTH_URL": self.config.url("auth"),
                "SERVICE_CLIENT_ID": service,
                "SERVICE_CLIENT_SECRET": self.secrets.service_clients[service],
            }
        if service == "appointments":
            specific |= {
                "GOOGLE_CONNECTOR_URL": self.config.url("calendar-google"),
                "OUTLOOK_CONNECTOR_URL": self.config.url("calendar-outlook"),
                "GUEST_BASE_URL": f"{self.config.url(WEB)}/g",  # guest_url: the web pages' guest page
                "MAIL_SEAL_KEYS": self.secrets.mail_seal_keys(),
            }
        if service in ("calendar-google", "calendar-outlook"):
            # the lease owner's name in the shared store: which instance watches what
            specific["DRIFT_INSTANCE_ID"] = instance
        if service == "calendar-google":
            specific |= {
                "PUBLIC_BASE_URL": self.config.url(instance),
                "PROVIDER_CA_FILE": google.ca_file,
                "CALENDAR_BASE_URL": google.base_url,
                "DIRECTORY_BASE_URL": google.base_url,
            }
        if service == "calendar-outlook":
            specific |= {
                "PUBLIC_BASE_URL": self.config.url(instance),
                "PROVIDER_CA_FILE": microsoft.ca_file,
                "GRAPH_BASE_URL": microsoft.base_url,
            }
        overrides = self.config.overrides.get(service, {})
        return {prefix + key: value for key, value in (common | specific | overrides).items()}
