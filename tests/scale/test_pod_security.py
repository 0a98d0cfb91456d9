"""Every pod deploy/ renders passes Kubernetes' Pod Security "restricted" profile (v1.30), checked
here over the manifests kustomize renders, and carries this project's own hardening: no
service-account token, read-only root, CPU and memory limits, bounded emptyDirs, images by digest,
the LLM API key from a Secret, the namespace enforcing "restricted".

`restricted_violations` is a reading of https://kubernetes.io/docs/concepts/security/pod-security-standards/
(baseline and restricted, the fields a Deployment's or StatefulSet's pod template can set); it is
checked against pods that break each rule, so that a check that passes everything fails here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.scale.kustomize import Object, render
from tests.scale.test_deploy import DEPLOY, KUSTOMIZATIONS, by_kind, container, env_of, secret_refs

OVERLAYS = ["overlays/dev", "overlays/with-llm"]
SERVICES = {"agent": "Deployment", "env": "Deployment", "store": "StatefulSet"}

# Pod Security Standards, v1.30.
ALLOWED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
    "secret",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SECCOMP_ALLOWED = {"RuntimeDefault", "Localhost"}
DIGEST = re.compile(r"^[a-z0-9./-]+@sha256:[0-9a-f]{64}$")


def pod_specs(objects: list[Object]) -> Iterator[tuple[str, Object]]:
    """(kind/name, pod spec) of every object that makes pods."""
    for obj in objects:
        spec = obj.get("spec", {})
        if obj["kind"] == "Pod":
            yield f"Pod/{obj['metadata']['name']}", spec
        elif obj["kind"] == "CronJob":
            yield f"CronJob/{obj['metadata']['name']}", spec["jobTemplate"]["spec"]["template"]["spec"]
        elif "template" in spec:
            yield f"{obj['kind']}/{obj['metadata']['name']}", spec["template"]["spec"]


def all_containers(pod: Object) -> list[Object]:
    return [*pod.get("initContainers", []), *pod["containers"], *pod.get("ephemeralContainers", [])]


def restricted_violations(pod: Object, annotations: dict[str, str] | None = None) -> list[str]:
    """What in this pod spec the Pod Security "restricted" profile (baseline included) refuses."""
    found: list[str] = []
    pod_context = pod.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            found.append(f"{field} is set")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            found.append(f"volume {volume['name']} is a hostPath")
        elif kinds - ALLOWED_VOLUME_TYPES:
            found.append(f"volume {volume['name']} is of a type restricted refuses: {sorted(kinds)}")
    for sysctl in pod_context.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl['name']} is not a safe one")
    for key, value in (annotations or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            found.append(f"AppArmor {key}={value}")
    found += _context_violations("pod", pod_context)
    pod_seccomp = pod_context.get("seccompProfile", {}).get("type")
    pod_non_root = pod_context.get("runAsNonRoot") is True
    for item in all_containers(pod):
        name = f"container {item['name']}"
        context = item.get("securityContext", {})
        found += _context_violations(name, context)
        if context.get("privileged"):
            found.append(f"{name} is privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name} does not set allowPrivilegeEscalation: false")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name} does not drop ALL capabilities")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name} adds capabilities {capabilities['add']}")
        if context.get("procMount", "Default") != "Default":
            found.append(f"{name} has procMount {context['procMount']}")
        if any(port.get("hostPort") for port in item.get("ports", [])):
            found.append(f"{name} uses a hostPort")
        non_root = context.get("runAsNonRoot", pod_non_root)
        if non_root is not True:
            found.append(f"{name} may run as root (runAsNonRoot not true)")
        seccomp = context.get("seccompProfile", {}).get("type", pod_seccomp)
        if seccomp not in SECCOMP_ALLOWED:
            found.append(f"{name} has seccomp profile {seccomp!r}, not RuntimeDefault or Localhost")
    return found


def _context_violations(where: str, context: Object) -> list[str]:
    """The rules a pod's and a container's securityContext share."""
    found = []
    if context.get("runAsUser") == 0:
        found.append(f"{where} runs as uid 0")
    if context.get("seccompProfile", {}).get("type") == "Unconfined":
        found.append(f"{where} has seccomp Unconfined")
    if context.get("appArmorProfile", {}).get("type") == "Unconfined":
        found.append(f"{where} has AppArmor Unconfined")
    selinux = context.get("seLinuxOptions", {})
    if selinux.get("type", "") not in SELINUX_TYPES or "user" in selinux or "role" in selinux:
        found.append(f"{where} sets SELinux options {selinux}")
    if context.get("windowsOptions", {}).get("hostProcess"):
        found.append(f"{where} is a Windows host process")
    return found


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_pod_passes_pod_security_restricted(kustomization: str) -> None:
    objects = render(DEPLOY / kustomization)
    pods = list(pod_specs(objects))
    assert pods
    for where, pod in pods:
        workload = next(o for o in objects if f"{o['kind']}/{o['metadata']['name']}" == where)
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        assert restricted_violations(pod, annotations) == [], where


def good_pod() -> Object:
    [(_, pod)] = [found for found in pod_specs(render(DEPLOY / "base")) if found[0] == "Deployment/agent"]
    return copy.deepcopy(pod)


BREAKS: dict[str, Any] = {
    "host network": lambda p: p.update(hostNetwork=True),
    "host PID": lambda p: p.update(hostPID=True),
    "hostPath": lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "a volume type not allowed": lambda p: p["volumes"].append(
        {"name": "n", "nfs": {"server": "x", "path": "/"}}
    ),
    "root uid": lambda p: p["securityContext"].update(runAsUser=0),
    "runAsNonRoot left out": lambda p: p["securityContext"].pop("runAsNonRoot"),
    "container may run as root": lambda p: p["containers"][0]["securityContext"].update(runAsNonRoot=False),
    "seccomp left out": lambda p: p["securityContext"].pop("seccompProfile"),
    "seccomp unconfined": lambda p: p["containers"][0]["securityContext"].update(
        seccompProfile={"type": "Unconfined"}
    ),
    "privileged": lambda p: p["containers"][0]["securityContext"].update(privileged=True),
    "privilege escalation": lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
    "capabilities kept": lambda p: p["containers"][0]["securityContext"]["capabilities"].update(drop=[]),
    "capability added": lambda p: p["containers"][0]["securityContext"]["capabilities"].update(
        add=["NET_ADMIN"]
    ),
    "host port": lambda p: p["containers"][0]["ports"][0].update(hostPort=50051),
    "unsafe sysctl": lambda p: p["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
    "proc mount": lambda p: p["containers"][0]["securityContext"].update(procMount="Unmasked"),
    "init container": lambda p: p.update(initContainers=[{"name": "init", "image": "x"}]),
}


def test_the_check_passes_the_agent_pod_as_it_is() -> None:
    assert restricted_violations(good_pod()) == []


@pytest.mark.parametrize("rule", BREAKS)
def test_the_check_refuses_a_pod_that_breaks_a_rule(rule: str) -> None:
    pod = good_pod()
    BREAKS[rule](pod)
    assert restricted_violations(pod) != []


def test_the_check_refuses_apparmor_unconfined() -> None:
    annotations = {"container.apparmor.security.beta.kubernetes.io/agent": "unconfined"}
    assert restricted_violations(good_pod(), annotations) != []


def test_the_namespace_enforces_restricted() -> None:
    namespace = by_kind(render(DEPLOY / "overlays/dev"), "Namespace", "alfagent")
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.30"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_pod_has_no_token_a_read_only_root_limits_and_bounded_scratch(kustomization: str) -> None:
    for where, pod in pod_specs(render(DEPLOY / kustomization)):
        assert pod["automountServiceAccountToken"] is False, where
        for item in all_containers(pod):
            assert item["securityContext"]["readOnlyRootFilesystem"] is True, where
            resources = item["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert {"cpu", "memory"} <= set(resources["limits"]), where
        for volume in pod.get("volumes", []):
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("sizeLimit"), f"{where}: emptyDir {volume['name']} is unbounded"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_overlays_name_every_image_by_digest(overlay: str) -> None:
    images = [item["image"] for _, pod in pod_specs(render(DEPLOY / overlay)) for item in all_containers(pod)]
    assert images
    for image in images:
        assert DIGEST.match(image), f"{overlay}: {image} is not pinned by digest"


def test_the_base_names_images_without_a_tag_for_the_overlays_to_pin() -> None:
    for _, pod in pod_specs([*render(DEPLOY / "base"), *render(DEPLOY / "llm")]):
        for item in all_containers(pod):
            assert re.fullmatch(r"alfagent-[a-z]+", item["image"]), item["image"]


def test_the_llm_api_key_comes_from_one_secret_and_no_key_is_committed() -> None:
    objects = render(DEPLOY / "overlays/with-llm")
    agent = secret_refs(by_kind(objects, "Deployment", "agent"))["OPENAI_API_KEY"]
    llm_workload = by_kind(objects, "Deployment", "llm")
    llm = secret_refs(llm_workload)["LLM_API_KEY"]
    assert (agent["name"], agent["key"]) == (llm["name"], llm["key"]) == ("llm-api-key", "api-key")
    # The model is never served open: without the Secret its pod does not start.
    assert llm.get("optional", False) is False
    # llama-server's own /metrics stays off.
    assert env_of(llm_workload).get("LLM_METRICS", "0") == "0"
    assert not [o for o in objects if o["kind"] == "Secret"]
    for kustomization in KUSTOMIZATIONS:
        for where, pod in pod_specs(render(DEPLOY / kustomization)):
            for item in all_containers(pod):
                literal = {v["name"] for v in item.get("env", []) if "value" in v}
                assert not {n for n in literal if "KEY" in n or "TOKEN" in n}, f"{where}: a key in plain text"


@pytest.mark.parametrize("name", SERVICES)
def test_the_services_bind_every_interface_in_the_open_mode_for_now(name: str) -> None:
    variables = env_of(by_kind(render(DEPLOY / "base"), SERVICES[name], name))
    assert variables["HOST"] == "[::]"
    # Until TLS certificates and tokens are made for the deployment (deploy/README.md).
    assert variables["ALFAGENT_INSECURE"] == "1"
    assert not {"ALFAGENT_TLS_CERT", "ALFAGENT_TOKENS"} & set(variables)


def test_a_container_spec_is_found_for_every_workload() -> None:
    objects = render(DEPLOY / "overlays/with-llm")
    names = {where for where, _ in pod_specs(objects)}
    assert names == {"Deployment/agent", "Deployment/env", "StatefulSet/store", "Deployment/llm"}
    assert container(by_kind(objects, "StatefulSet", "store"))["name"] == "store"
