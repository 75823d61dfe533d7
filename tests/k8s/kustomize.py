"""A pure-Python renderer for the subset of kustomize that ``k8s/`` uses (kubectl is not needed).

Supported: ``resources`` (files and kustomization folders), ``namespace``,
``labels`` (``pairs`` with ``includeSelectors``/``includeTemplates``), ``images``
(``newName``/``newTag``) and ``patches`` (strategic-merge patch files with a
``kind``/``name`` target; lists of named items merge by ``name``). Anything else
in a kustomization raises, so the manifests cannot silently outgrow it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

__all__ = ["render"]

Obj = dict[str, Any]
_KNOWN = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
_CLUSTER_SCOPED = {"Namespace"}


def render(folder: Path) -> list[Obj]:
    """The objects ``kubectl kustomize folder`` would print (for this subset)."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - _KNOWN
    if unknown:
        raise ValueError(f"{folder}: kustomization fields {sorted(unknown)} are not supported by this renderer")
    objects: list[Obj] = []
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        objects.extend(render(path) if path.is_dir() else _load(path))
    for patch in spec.get("patches", []):
        _apply_patch(objects, yaml.safe_load((folder / patch["path"]).read_text()), patch.get("target", {}))
    for label in spec.get("labels", []):
        for obj in objects:
            _add_labels(obj, label["pairs"], label.get("includeSelectors", False), label.get("includeTemplates", False))
    for image in spec.get("images", []):
        for obj in objects:
            _set_image(obj, image)
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in _CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    return objects


def _load(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _apply_patch(objects: list[Obj], patch: Obj, target: dict[str, str]) -> None:
    kind = target.get("kind", patch.get("kind"))
    name = target.get("name", patch.get("metadata", {}).get("name"))
    matches = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    if not matches:
        raise ValueError(f"patch target {kind}/{name} not found")
    for obj in matches:
        _merge(obj, patch)


def _merge(base: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        current = base.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and _named(value) and _named(current):
            by_name = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in by_name:
                    _merge(by_name[item["name"]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            base[key] = copy.deepcopy(value)


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def _add_labels(obj: Obj, pairs: dict[str, str], selectors: bool, templates: bool) -> None:
    obj["metadata"].setdefault("labels", {}).update(pairs)
    spec = obj.get("spec", {})
    if templates and "template" in spec:
        spec["template"]["metadata"].setdefault("labels", {}).update(pairs)
    if selectors and "selector" in spec:
        target = spec["selector"].get("matchLabels", spec["selector"]) if obj["kind"] != "Service" else spec["selector"]
        target.update(pairs)


def _set_image(obj: Obj, image: dict[str, str]) -> None:
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        name, _, _tag = container["image"].partition(":")
        if name == image["name"]:
            container["image"] = f"{image.get('newName', name)}:{image.get('newTag', _tag or 'latest')}"
