"""The Kubernetes manifests in deploy/: every rendered object valid against Kubernetes' own schema
(kubernetes-validate, strict: unknown fields fail), and wired the way the services need."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

from tests.scale.kustomize import Object, Unsupported, render

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_VERSION = "1.30.0"  # gRPC probes are GA from 1.27
KUSTOMIZATIONS = ["base", "overlays/dev", "overlays/with-llm"]


def by_kind(objects: list[Object], kind: str, name: str) -> Object:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def container(workload: Object) -> Any:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return only


def env_of(workload: Object) -> dict[str, str]:
    """The container's variables given as values (those taken from a Secret: `secret_refs`)."""
    return {item["name"]: item["value"] for item in container(workload).get("env", []) if "value" in item}


def secret_refs(workload: Object) -> dict[str, Any]:
    """The container's variables taken from a Secret: {variable: its secretKeyRef}."""
    return {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in container(workload).get("env", [])
        if "secretKeyRef" in item.get("valueFrom", {})
    }


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_rendered_object_is_valid_kubernetes(kustomization: str) -> None:
    objects = render(DEPLOY / kustomization)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_what_kubernetes_would() -> None:
    env = by_kind(render(DEPLOY / "base"), "Deployment", "env")
    container(env)["readinessProbe"]["grpc"]["prot"] = 50052
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(env, KUBERNETES_VERSION, strict=True)


def test_env_is_a_deployment_behind_a_headless_service_the_agent_resolves() -> None:
    objects = render(DEPLOY / "overlays/dev")
    service = by_kind(objects, "Service", "env")
    env = by_kind(objects, "Deployment", "env")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= env["spec"]["template"]["metadata"]["labels"].items()
    port = service["spec"]["ports"][0]["port"]
    assert env_of(by_kind(objects, "Deployment", "agent"))["ENV_ADDR"] == f"dns:///env:{port}"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container(env)[probe]["grpc"]["port"] == port
    # The dev overlay: two replicas, each one process playing the games itself, the local images
    # (by digest: tests/scale/test_pod_security.py).
    assert env["spec"]["replicas"] == 2 and env_of(env)["ENV_WORKERS"] == "0"
    assert container(env)["image"].startswith("alfagent-env@sha256:")
    assert all(o["metadata"]["namespace"] == "alfagent" for o in objects if o["kind"] != "Namespace")


def test_the_store_is_one_statefulset_writing_a_persistent_volume() -> None:
    objects = render(DEPLOY / "base")
    store = by_kind(objects, "StatefulSet", "store")
    assert store["spec"]["replicas"] == 1
    assert by_kind(objects, "Service", store["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
    [claim] = store["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container(store)["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == env_of(store)["STORE_DIR"]
    assert env_of(by_kind(objects, "Deployment", "agent"))["STORE_ADDR"] == "store:50053"


def test_the_agent_is_not_restarted_while_only_its_dependencies_are_down() -> None:
    agent = container(by_kind(render(DEPLOY / "base"), "Deployment", "agent"))
    assert agent["readinessProbe"]["grpc"]["port"] == 50051
    assert "grpc" not in agent["livenessProbe"]


def test_the_local_model_comes_with_the_with_llm_overlay_only() -> None:
    assert not [o for o in render(DEPLOY / "overlays/dev") if o["metadata"]["name"] == "llm"]
    objects = render(DEPLOY / "overlays/with-llm")
    llm = container(by_kind(objects, "Deployment", "llm"))
    assert llm["image"].startswith("alfagent-llm@sha256:")
    assert llm["ports"][0]["containerPort"] == 8080
    assert llm["readinessProbe"]["httpGet"]["path"] == "/health"
    assert by_kind(objects, "Service", "llm")["spec"]["ports"][0]["port"] == 8080
    assert env_of(by_kind(objects, "Deployment", "agent"))["LLM_ADDR"] == "llm:8080"


def test_every_container_runs_non_root_on_a_read_only_root_with_probes() -> None:
    for obj in render(DEPLOY / "overlays/with-llm"):
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for item in pod["containers"]:
            assert item["securityContext"]["readOnlyRootFilesystem"] is True
            assert "readinessProbe" in item and "livenessProbe" in item


def test_the_renderer_refuses_fields_it_does_not_understand(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nconfigMapGenerator: []\n")
    with pytest.raises(Unsupported):
        render(tmp_path)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl here to render with real kustomize")
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_renderer_agrees_with_kubectl_kustomize(kustomization: str) -> None:
    real = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / kustomization)], capture_output=True, text=True, check=True
    ).stdout

    def key(obj: Object) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    expected = sorted((doc for doc in yaml.safe_load_all(real) if doc), key=key)
    assert normal(sorted(render(DEPLOY / kustomization), key=key)) == normal(expected)


def normal(value: Any) -> Any:
    """Lists of named items (containers, env variables) in name order: kustomize puts the items a
    patch adds first, which changes nothing Kubernetes reads."""
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [normal(v) for v in value]
        if items and all(isinstance(v, dict) and "name" in v for v in items):
            return sorted(items, key=lambda v: str(v["name"]))
        return items
    return value
