"""A small kustomize renderer for the subset ``deploy/k8s`` uses, so the suite validates the
manifests offline (no ``kubectl`` here).

Supported: ``resources`` (files and directories holding a ``kustomization.yaml``),
``namespace``, ``commonLabels`` (metadata, selectors and pod templates, as kustomize does),
``labels`` (``pairs`` with ``includeSelectors`` / ``includeTemplates``), ``images``
(``newName`` / ``newTag``) and ``patches`` — strategic merge (by kind and name; lists of objects
with a ``name`` merge by name, other lists are replaced) or JSON 6902 (``add`` / ``replace`` /
``remove`` with a ``target``). Anything else in a kustomization is refused, so a manifest never
silently relies on a feature this renderer skips.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]
SUPPORTED = {"apiVersion", "kind", "namespace", "resources", "commonLabels", "labels", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}


class UnsupportedKustomization(ValueError):
    pass


def build(directory: Path) -> list[Manifest]:
    """Render the kustomization in ``directory`` like ``kubectl kustomize`` would."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise UnsupportedKustomization(f"{directory}: {sorted(unknown)}")
    objects: list[Manifest] = []
    for resource in spec.get("resources", []):
        path = directory / resource
        if path.is_dir():
            objects.extend(build(path))
        else:
            objects.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for patch in spec.get("patches", []):
        _apply_patch(directory, objects, patch)
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    if "commonLabels" in spec:
        for obj in objects:
            _add_labels(obj, spec["commonLabels"], selectors=True, templates=True)
    for entry in spec.get("labels", []):
        for obj in objects:
            _add_labels(
                obj,
                entry["pairs"],
                selectors=entry.get("includeSelectors", False),
                templates=entry.get("includeTemplates", False) or entry.get("includeSelectors", False),
            )
    for image in spec.get("images", []):
        for container in (c for obj in objects for c in _containers(obj)):
            _set_image(container, image)
    return objects


def _apply_patch(directory: Path, objects: list[Manifest], patch: dict[str, Any]) -> None:
    text = patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text()
    docs = [d for d in yaml.safe_load_all(text) if d]
    if docs and isinstance(docs[0], list):  # JSON 6902: a list of operations on the target
        target = patch["target"]
        matches = _matching(objects, target["kind"], target["name"])
        if len(matches) != 1:
            raise UnsupportedKustomization(f"patch target {target} matches {len(matches)} objects")
        for operation in docs[0]:
            _json6902(matches[0], operation)
        return
    for doc in docs:
        matches = _matching(objects, doc["kind"], doc["metadata"]["name"])
        if len(matches) != 1:
            raise UnsupportedKustomization(f"patch {doc['kind']}/{doc['metadata']['name']} matches nothing")
        merged = strategic_merge(matches[0], doc)
        matches[0].clear()
        matches[0].update(merged)


def _matching(objects: list[Manifest], kind: str, name: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]


def strategic_merge(base: Any, patch: Any) -> Any:
    """Maps merge key by key; lists of named objects merge by name; anything else is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        out_list = [copy.deepcopy(item) for item in base]
        index = {item["name"]: i for i, item in enumerate(out_list)}
        for item in patch:
            if item["name"] in index:
                out_list[index[item["name"]]] = strategic_merge(out_list[index[item["name"]]], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _json6902(obj: Manifest, operation: dict[str, Any]) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
    node: Any = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    op = operation["op"]
    if isinstance(node, list):
        position = len(node) if last == "-" else int(last)
        if op == "add":
            node.insert(position, operation["value"])
        elif op == "replace":
            node[position] = operation["value"]
        elif op == "remove":
            del node[position]
        else:
            raise UnsupportedKustomization(f"JSON 6902 op {op!r}")
    elif op in ("add", "replace"):
        if op == "replace" and last not in node:
            raise UnsupportedKustomization(f"replace of a missing {operation['path']}")
        node[last] = operation["value"]
    elif op == "remove":
        del node[last]
    else:
        raise UnsupportedKustomization(f"JSON 6902 op {op!r}")


def _add_labels(obj: Manifest, labels: dict[str, str], *, selectors: bool, templates: bool) -> None:
    obj["metadata"].setdefault("labels", {}).update(labels)
    spec = obj.get("spec", {})
    if templates and "template" in spec:
        spec["template"].setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    if selectors and isinstance(spec.get("selector"), dict):
        target = spec["selector"].get("matchLabels", spec["selector"])
        target.update(labels)


def _containers(obj: Manifest) -> list[dict[str, Any]]:
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _set_image(container: dict[str, Any], image: dict[str, str]) -> None:
    name, _, tag = container["image"].partition(":")
    if name != image["name"]:
        return
    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag or 'latest')}"
