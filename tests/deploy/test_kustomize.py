"""The Kubernetes manifests as operators apply them: the kustomize build of the base and of the
production overlay validates against the Kubernetes JSON schemas, and every workload follows the
house rules (probes, resources, non-root, read-only root filesystem, no capabilities)."""

from __future__ import annotations

import importlib
import ipaddress
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kustomize import build, strategic_merge

from visitor_common.settings import ServiceSettings
from visitor_common.topics import all_topics

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
BUILDS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}
KUBERNETES_VERSION = "1.34.0"
SECRET = "visitor-scheduling-secrets"
SETTINGS = {
    "auth": "auth_service.settings",
    "appointments": "appointments_service.settings",
    "calendar-google": "calendar_google.settings",
    "calendar-outlook": "calendar_outlook.settings",
    "notifications": "notifications_service.settings",
    "web": "web_service.settings",
}
CONNECTORS = ("calendar-google", "calendar-outlook")
# Reached through the ingress or by other services over HTTP with X-Forwarded-For believed only
# from the ingress range; notifications serves only its probes.
BEHIND_INGRESS = ("auth", "appointments", "calendar-google", "calendar-outlook", "web")

Manifest = dict[str, Any]


@pytest.fixture(scope="module", params=sorted(BUILDS))
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    return build(BUILDS[request.param])


def of_kind(objects: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
        for o in objects
        if o["kind"] in ("Deployment", "Job")
    }


def test_every_rendered_object_validates_against_the_kubernetes_schemas(rendered: list[Manifest]) -> None:
    assert len(rendered) > 20
    for obj in rendered:
        # strict: unknown fields are errors too (a typo in a field name is not silently ignored)
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_every_service_is_deployed_with_a_service_and_a_disruption_budget(rendered: list[Manifest]) -> None:
    deployments = of_kind(rendered, "Deployment")
    assert set(deployments) == set(SETTINGS)
    services, budgets = of_kind(rendered, "Service"), of_kind(rendered, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert services[name]["spec"]["selector"].items() <= pod_labels.items(), name
        budget = budgets[name]["spec"]
        assert budget["selector"]["matchLabels"].items() <= pod_labels.items(), name
        assert budget["minAvailable"] < deployment["spec"]["replicas"], f"{name}: a drain could never evict"


def test_every_deployment_probes_its_health_and_readiness(rendered: list[Manifest]) -> None:
    for name, deployment in of_kind(rendered, "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            ports = {p["name"] for p in container["ports"]}
            readiness = container["readinessProbe"]["httpGet"]
            liveness = container["livenessProbe"]["httpGet"]
            assert readiness["path"] == "/readyz" and readiness["port"] in ports, name
            assert liveness["path"] == "/healthz" and liveness["port"] in ports, name


def test_every_workload_has_resources_and_a_locked_down_security_context(rendered: list[Manifest]) -> None:
    for name, pod in pod_specs(rendered).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"].get("runAsUser", 1) != 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        volumes = {v["name"] for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert "memory" in resources["limits"], name
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"], name
            mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
            assert set(mounts) <= volumes, name
            assert mounts.get("tmp") == "/tmp", f"{name}: a read-only root needs a writable /tmp"


def test_env_names_are_real_settings_and_references_resolve(rendered: list[Manifest]) -> None:
    config_maps = of_kind(rendered, "ConfigMap")
    for name, deployment in of_kind(rendered, "Deployment").items():
        settings_cls = importlib.import_module(SETTINGS[name]).Settings
        prefix = settings_cls.model_config["env_prefix"]
        fields = {prefix + f.upper() for f in settings_cls.model_fields}
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = container["env"]
        assert {e["name"] for e in env} <= fields, name
        for entry in env:
            source = entry.get("valueFrom", {})
            if "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                assert ref["key"] in config_maps[ref["name"]]["data"], f"{name}: {ref}"
            if "secretKeyRef" in source:
                assert source["secretKeyRef"]["name"] == SECRET, name
        for source in container.get("envFrom", []):
            assert source.get("secretRef", {}).get("name", SECRET) == SECRET, name
        if name != "web":
            # the topic Job creates the topics with the replication set there, not the pods
            assert {"name": f"{prefix}CREATE_TOPICS", "value": "false"} in env, name


def test_no_secret_values_are_in_the_repository(rendered: list[Manifest]) -> None:
    assert not of_kind(rendered, "Secret"), "Secrets are created out of band, never committed"
    for config_map in of_kind(rendered, "ConfigMap").values():
        for key in config_map["data"]:
            assert not any(word in key for word in ("SECRET", "PASSWORD", "KEY", "TOKEN")), key


def test_every_service_behind_the_ingress_trusts_only_the_ingress_range(rendered: list[Manifest]) -> None:
    config = of_kind(rendered, "ConfigMap")["visitor-scheduling-config"]["data"]
    ranges = [ipaddress.ip_network(part.strip()) for part in config["TRUSTED_PROXIES"].split(",")]
    assert ranges and all(r.is_private for r in ranges)
    deployments = of_kind(rendered, "Deployment")
    for name in BEHIND_INGRESS:
        prefix = importlib.import_module(SETTINGS[name]).Settings.model_config["env_prefix"]
        env = {e["name"]: e for e in deployments[name]["spec"]["template"]["spec"]["containers"][0]["env"]}
        ref = env[f"{prefix}TRUSTED_PROXIES"]["valueFrom"]["configMapKeyRef"]
        assert ref == {"name": "visitor-scheduling-config", "key": "TRUSTED_PROXIES"}, name


def test_the_topic_job_creates_every_topic_with_explicit_partitions_and_replication(
    rendered: list[Manifest],
) -> None:
    topics = of_kind(rendered, "ConfigMap")["visitor-scheduling-topics"]["data"]
    partitions = int(topics["PARTITIONS"])
    assert topics["TOPICS"].split() == [t.name for t in all_topics(partitions)]
    assert partitions == ServiceSettings.model_fields["kafka_partitions"].default
    assert int(topics["REPLICATION_FACTOR"]) >= int(topics["MIN_INSYNC_REPLICAS"]) >= 1
    job = of_kind(rendered, "Job")["create-topics"]["spec"]["template"]["spec"]["containers"][0]
    script = job["args"][0]
    flags = ('--partitions "$PARTITIONS"', '--replication-factor "$REPLICATION_FACTOR"', "--if-not-exists")
    assert all(flag in script for flag in flags)
    assert {"configMapRef": {"name": "visitor-scheduling-topics"}} in job["envFrom"]


def test_connector_autoscaling_is_bounded_by_the_partitions(rendered: list[Manifest]) -> None:
    partitions = int(of_kind(rendered, "ConfigMap")["visitor-scheduling-topics"]["data"]["PARTITIONS"])
    autoscalers = of_kind(rendered, "HorizontalPodAutoscaler")
    assert set(autoscalers) == set(CONNECTORS)
    deployments = of_kind(rendered, "Deployment")
    for name, hpa in autoscalers.items():
        spec = hpa["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"] <= partitions, name
        assert spec["minReplicas"] <= deployments[name]["spec"]["replicas"] <= spec["maxReplicas"], name


def test_the_production_overlay_pins_images_and_replicates_topics() -> None:
    objects = build(BUILDS["production"])
    for name, pod in pod_specs(objects).items():
        for container in pod["containers"]:
            assert not container["image"].endswith(":latest"), name
    topics = of_kind(objects, "ConfigMap")["visitor-scheduling-topics"]["data"]
    assert (topics["REPLICATION_FACTOR"], topics["MIN_INSYNC_REPLICAS"]) == ("3", "2")
    assert topics["TOPICS"].split() == [t.name for t in all_topics(int(topics["PARTITIONS"]))]  # kept
    google = of_kind(objects, "Deployment")["calendar-google"]
    container = google["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"] == "250m"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # the merge kept the rest
    assert google["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/environment"] == "production"
    assert of_kind(objects, "HorizontalPodAutoscaler")["calendar-google"]["spec"]["minReplicas"] == 3
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert all(o["metadata"].get("namespace") == "visitor-scheduling" for o in namespaced)


def test_strategic_merge_merges_named_lists_and_replaces_others() -> None:
    base = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "args": ["x"]}
    patch = {"env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}], "args": ["y"]}
    assert strategic_merge(base, patch) == {
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        "args": ["y"],
    }
