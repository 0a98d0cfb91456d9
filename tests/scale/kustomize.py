"""A small renderer of the kustomizations in deploy/, for tests where no kustomize binary exists.

It understands exactly the fields deploy/ uses — `resources` (files and directories), `namespace`,
`labels` (metadata labels), `replicas`, `images` (by tag or digest) and `patches` given by `path`
(strategic merge: maps merged, lists of named items merged by name, other lists replaced) — and
refuses any other field, so an overlay that grows beyond it fails the tests instead of being half
rendered.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

Object = dict[str, Any]

KNOWN = {"apiVersion", "kind", "resources", "namespace", "labels", "replicas", "images", "patches"}
# Kinds without a namespace among those deploy/ uses.
CLUSTER_SCOPED = {"Namespace"}


class Unsupported(ValueError):
    """The kustomization uses something this renderer does not do."""


def render(directory: Path) -> list[Object]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN
    if unknown:
        raise Unsupported(f"{directory}: fields {sorted(unknown)}")
    objects: list[Object] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        if path.is_dir():
            objects.extend(render(path))
        else:
            objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise Unsupported(f"{directory}: patch {patch}")
        for doc in yaml.safe_load_all((directory / patch["path"]).read_text()):
            target = _find(objects, doc["kind"], doc["metadata"]["name"])
            merged = _merge(copy.deepcopy(target), doc)
            target.clear()
            target.update(merged)
    for entry in kustomization.get("replicas", []):
        targets = [
            o for o in objects if o["metadata"]["name"] == entry["name"] and "replicas" in o.get("spec", {})
        ]
        if not targets:
            raise Unsupported(f"{directory}: replicas of unknown {entry['name']}")
        for target in targets:
            target["spec"]["replicas"] = entry["count"]
    for image in kustomization.get("images", []):
        _set_image(objects, image)
    for label in kustomization.get("labels", []):
        if set(label) - {"pairs"}:
            raise Unsupported(f"{directory}: labels {label}")
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(label["pairs"])
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    return objects


def _find(objects: list[Object], kind: str, name: str) -> Object:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise Unsupported(f"patch of unknown {kind}/{name}")


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        for key, value in patch.items():
            base[key] = _merge(base[key], value) if key in base else value
        return base
    if isinstance(base, list) and isinstance(patch, list) and all(_named(x) for x in [*base, *patch]):
        by_name = {item["name"]: item for item in base}
        for item in patch:
            if item["name"] in by_name:
                _merge(by_name[item["name"]], item)
            else:
                base.append(item)
        return base
    return patch


def _named(item: Any) -> bool:
    return isinstance(item, dict) and "name" in item


def _containers(obj: Object) -> list[Object]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("containers", []), *spec.get("initContainers", [])]


def _set_image(objects: list[Object], image: dict[str, str]) -> None:
    """kustomize's image override: `name[:tag][@digest]`, a digest given taking the place of the tag
    (both given: `name:tag@digest`)."""
    if set(image) - {"name", "newName", "newTag", "digest"}:
        raise Unsupported(f"images entry {image}")
    found = False
    for obj in objects:
        for container in _containers(obj):
            reference, _, digest = container["image"].partition("@")
            name, _, tag = reference.partition(":")
            if name != image["name"]:
                continue
            found = True
            new_name = image.get("newName", name)
            if "digest" in image:
                tagged = f"{new_name}:{image['newTag']}" if "newTag" in image else new_name
                container["image"] = f"{tagged}@{image['digest']}"
            elif "newTag" in image:
                container["image"] = f"{new_name}:{image['newTag']}"
            else:
                container["image"] = new_name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    if not found:
        raise Unsupported(f"no container uses image {image['name']}")
