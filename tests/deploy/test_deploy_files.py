"""The production-like stack, checked without a Docker engine: the compose file, the
Dockerfiles and the Kubernetes manifests agree with the services' real settings."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_BASE = ROOT / "deploy" / "k8s" / "base"
APP_SERVICES = {
    "auth": ("AUTH_", "auth_service.settings"),
    "appointments": ("APPOINTMENTS_", "appointments_service.settings"),
    "calendar-google": ("CALENDAR_GOOGLE_", "calendar_google.settings"),
    "calendar-outlook": ("CALENDAR_OUTLOOK_", "calendar_outlook.settings"),
    "notifications": ("NOTIFICATIONS_", "notifications_service.settings"),
    "web": ("WEB_", "web_service.settings"),
}
COMMON_REQUIRED = ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_IDEMPOTENT_PRODUCER", "MONGODB_URI", "HTTP_HOST")
CLIENT_REQUIRED = ("JWKS_URL", "AUTH_URL", "SERVICE_CLIENT_ID", "SERVICE_CLIENT_SECRET")
# Neither holds a service credential: notifications only consumes topics and sends mail, the
# pages are an API client of the services with the caller's own token, and have no broker.
NO_CLIENT = {"auth", "notifications", "web"}
EXTRA_REQUIRED = {
    "auth": ("OPERATOR_KEY", "SIGNING_KEY_PEM", "SERVICE_CLIENTS", "TOKEN_ENCRYPTION_KEYS"),
    "appointments": ("GOOGLE_CONNECTOR_URL", "OUTLOOK_CONNECTOR_URL", "GUEST_BASE_URL", "MAIL_SEAL_KEYS"),
    "notifications": ("SMTP_HOST", "SMTP_PORT", "SMTP_TLS", "MAIL_FROM", "MAIL_SEAL_KEYS"),
    "web": ("PUBLIC_BASE_URL", "AUTH_URL", "APPOINTMENTS_URL", "SESSION_KEYS"),
    "calendar-google": ("PUBLIC_BASE_URL",),
    "calendar-outlook": ("PUBLIC_BASE_URL",),
}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_fields(module: str) -> set[str]:
    settings_cls = importlib.import_module(module).Settings
    return {name.upper() for name in settings_cls.model_fields}


def required(service: str) -> tuple[str, ...]:
    if service == "web":
        return ("HTTP_HOST",) + EXTRA_REQUIRED[service]
    client = () if service in NO_CLIENT else CLIENT_REQUIRED
    return COMMON_REQUIRED + client + EXTRA_REQUIRED[service]


def test_infrastructure_is_kafka_kraft_and_a_mongodb_replica_set() -> None:
    services = compose()["services"]
    kafka = services["kafka"]
    assert "apache/kafka" in kafka["image"]
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert "--replSet" in services["mongodb"]["command"]
    assert "rs.initiate" in " ".join(services["mongodb"]["healthcheck"]["test"])


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_every_compose_service_has_an_image_and_a_healthcheck(name: str) -> None:
    service = compose()["services"][name]
    assert service.get("image") or service.get("build"), name
    assert service.get("healthcheck", {}).get("test"), name


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_compose_sets_the_required_environment_with_real_setting_names(name: str) -> None:
    prefix, module = APP_SERVICES[name]
    env: dict[str, str] = compose()["services"][name]["environment"]
    missing = [key for key in required(name) if prefix + key not in env]
    assert not missing, f"{name} lacks {missing}"
    unknown = {k for k in env if k.startswith(prefix)} - {prefix + f for f in settings_fields(module)}
    assert not unknown, f"{name}: variables no setting reads: {sorted(unknown)}"
    if name != "web":  # the pages have no broker
        assert env[f"{prefix}KAFKA_IDEMPOTENT_PRODUCER"] == "true"  # real Kafka: idempotence on
        assert compose()["services"][name]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_one_dockerfile_builds_every_service_multi_stage_non_root_with_healthcheck() -> None:
    text = (ROOT / "services" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in {"root", "0"}
    assert "HEALTHCHECK" in text
    assert "--frozen" in text  # the lock file, not a fresh resolution


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_compose_builds_each_service_from_the_shared_dockerfile(name: str) -> None:
    build = compose()["services"][name]["build"]
    assert build["dockerfile"] == "services/Dockerfile"
    assert set(build["args"]) == {"PACKAGE", "MODULE", "PORT"}
    assert importlib.util.find_spec(build["args"]["MODULE"]) is not None


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_kubernetes_deployments_probe_and_use_real_settings(name: str) -> None:
    prefix, module = APP_SERVICES[name]
    docs = list(yaml.safe_load_all((K8S_BASE / f"{name}.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    names = {e["name"] for e in container["env"]}
    if name != "web":
        assert {prefix + "KAFKA_BOOTSTRAP_SERVERS", prefix + "MONGODB_URI"} <= names
    assert names - {prefix + f for f in settings_fields(module)} == set()
    kustomization = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())
    assert f"{name}.yaml" in kustomization["resources"]


@pytest.mark.parametrize("name", ["appointments", "notifications"])
def test_the_mail_seal_keys_are_one_secret_shared_by_both_services(name: str) -> None:
    """Both hold the same keys (one opens what the other sealed), by reference, never a value."""
    prefix, _ = APP_SERVICES[name]
    assert compose()["services"][name]["environment"][f"{prefix}MAIL_SEAL_KEYS"].startswith(
        "${MAIL_SEAL_KEYS:?"
    )
    docs = list(yaml.safe_load_all((K8S_BASE / f"{name}.yaml").read_text()))
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][
        0
    ]
    entry = next(e for e in container["env"] if e["name"] == f"{prefix}MAIL_SEAL_KEYS")
    assert "value" not in entry
    assert entry["valueFrom"]["secretKeyRef"] == {
        "name": "visitor-scheduling-secrets",
        "key": "MAIL_SEAL_KEYS",
    }
