"""The NetworkPolicies deploy/ renders let through exactly the paths the services need.

A small evaluator of Kubernetes' NetworkPolicy rules (networking.k8s.io/v1: a pod selected by a
policy of a direction is isolated in that direction and takes only what some rule of those
policies allows; a connection needs the sender's egress and the receiver's ingress) is run over the
rendered policies for every pair that matters: callers, the services, DNS, Prometheus, the outside.
It refuses what it does not model (named ports, endPort), so a policy that outgrows it fails here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.scale.kustomize import Object, render
from tests.scale.test_deploy import DEPLOY

NAMESPACE = "alfagent"


@dataclass(frozen=True)
class Peer:
    """A pod (its labels and its namespace's labels) or, with `ip`, an address outside the cluster."""

    namespace: str = NAMESPACE
    labels: dict[str, str] = field(default_factory=dict)
    ip: str | None = None

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace}


def pod(name: str) -> Peer:
    return Peer(labels={"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "alfagent"})


AGENT, ENV, STORE, LLM = pod("agent"), pod("env"), pod("store"), pod("llm")
DNS = Peer("kube-system", {"k8s-app": "kube-dns"})
PROMETHEUS = Peer("monitoring", {"app.kubernetes.io/name": "prometheus"})
CALLER = Peer("research", {"app": "notebook"})  # a pod of another namespace
STRANGER = Peer(NAMESPACE, {"app": "debug"})  # an unlabelled pod in the namespace
OUTSIDE = Peer(ip="203.0.113.7")  # an LLM endpoint on the internet (TEST-NET-3)
METADATA = Peer(ip="169.254.169.254")


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    if not set(selector) <= {"matchLabels", "matchExpressions"}:
        raise NotImplementedError(selector)
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def peer_matches(rule_peer: dict[str, Any], peer: Peer, policy_namespace: str) -> bool:
    if "ipBlock" in rule_peer:
        if peer.ip is None:
            return False  # pod addresses are not modelled; deploy/ selects pods by label
        address = ipaddress.ip_address(peer.ip)
        block = rule_peer["ipBlock"]
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(address in ipaddress.ip_network(c) for c in block.get("except", []))
    if peer.ip is not None:
        return False
    if "namespaceSelector" in rule_peer:
        if not selects(rule_peer["namespaceSelector"], peer.namespace_labels):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return selects(rule_peer.get("podSelector"), peer.labels)


def port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    if "ports" not in rule:
        return True
    for item in rule["ports"]:
        if not isinstance(item.get("port", 0), int) or "endPort" in item:
            raise NotImplementedError(item)
        if item.get("protocol", "TCP") == protocol and item.get("port", port) == port:
            return True
    return False


def allowed_one_way(
    policies: list[Object], direction: str, subject: Peer, other: Peer, port: int, protocol: str
) -> bool:
    """Whether `subject`'s policies of `direction` ("Ingress": from `other`; "Egress": to it) allow
    the connection to `port` (the receiver's)."""
    if subject.ip is not None:
        return True  # outside the cluster: no policy of ours applies
    relevant = [
        p
        for p in policies
        if p["metadata"]["namespace"] == subject.namespace
        and selects(p["spec"]["podSelector"], subject.labels)
        and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not relevant:
        return True  # not isolated in this direction
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in relevant:
        for rule in policy["spec"].get(key, []):
            peers = rule.get(peers_key)
            peer_ok = peers is None or any(
                peer_matches(p, other, policy["metadata"]["namespace"]) for p in peers
            )
            if peer_ok and port_matches(rule, port, protocol):
                return True
    return False


def can_connect(policies: list[Object], source: Peer, target: Peer, port: int, protocol: str = "TCP") -> bool:
    return allowed_one_way(policies, "Egress", source, target, port, protocol) and allowed_one_way(
        policies, "Ingress", target, source, port, protocol
    )


def network_policies(kustomization: str) -> list[Object]:
    return [o for o in render(DEPLOY / kustomization) if o["kind"] == "NetworkPolicy"]


# (source, target, port, protocol, allowed), over overlays/with-llm.
PATHS = [
    # The agent's port is the front door, to callers anywhere...
    ("caller", CALLER, AGENT, 50051, "TCP", True),
    ("the outside", OUTSIDE, AGENT, 50051, "TCP", True),
    # ...and the only one: env, store and the model take calls from the agent only.
    ("caller", CALLER, ENV, 50052, "TCP", False),
    ("caller", CALLER, STORE, 50053, "TCP", False),
    ("caller", CALLER, LLM, 8080, "TCP", False),
    ("caller", CALLER, AGENT, 9451, "TCP", False),
    ("the agent", AGENT, ENV, 50052, "TCP", True),
    ("the agent", AGENT, STORE, 50053, "TCP", True),
    ("the agent", AGENT, LLM, 8080, "TCP", True),
    ("the agent", AGENT, DNS, 53, "UDP", True),
    ("the agent", AGENT, DNS, 53, "TCP", True),
    ("the agent", AGENT, ENV, 9452, "TCP", False),
    ("the agent", AGENT, OUTSIDE, 443, "TCP", False),
    ("the agent", AGENT, METADATA, 80, "TCP", False),
    # env, store and the model call nothing.
    ("env", ENV, STORE, 50053, "TCP", False),
    ("env", ENV, AGENT, 50051, "TCP", False),
    ("env", ENV, DNS, 53, "UDP", False),
    ("env", ENV, OUTSIDE, 443, "TCP", False),
    ("store", STORE, ENV, 50052, "TCP", False),
    ("the model", LLM, OUTSIDE, 443, "TCP", False),
    ("the model", LLM, STORE, 50053, "TCP", False),
    ("a stranger pod", STRANGER, STORE, 50053, "TCP", False),
    ("a stranger pod", STRANGER, AGENT, 50051, "TCP", False),
    # Prometheus scrapes each metrics port, and nothing else.
    ("prometheus", PROMETHEUS, AGENT, 9451, "TCP", True),
    ("prometheus", PROMETHEUS, ENV, 9452, "TCP", True),
    ("prometheus", PROMETHEUS, STORE, 9453, "TCP", True),
    ("prometheus", PROMETHEUS, ENV, 50052, "TCP", False),
    ("prometheus", PROMETHEUS, LLM, 8080, "TCP", False),
    ("a prometheus elsewhere", Peer("default", PROMETHEUS.labels), ENV, 9452, "TCP", False),
]


@pytest.mark.parametrize(
    ("source", "target", "port", "protocol", "allowed"),
    [p[1:] for p in PATHS],
    ids=[
        f"{p[0]}->{p[2].labels.get('app.kubernetes.io/name', p[2].ip or p[2].namespace)}:{p[3]}"
        for p in PATHS
    ],
)
def test_only_the_needed_paths_are_open(
    source: Peer, target: Peer, port: int, protocol: str, allowed: bool
) -> None:
    assert can_connect(network_policies("overlays/with-llm"), source, target, port, protocol) is allowed


def test_every_pod_of_the_namespace_is_denied_by_default_both_ways() -> None:
    for kustomization in ("base", "overlays/dev", "overlays/with-llm"):
        policies = network_policies(kustomization)
        [deny] = [p for p in policies if p["metadata"]["name"] == "default-deny"]
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_without_the_policies_everything_would_connect() -> None:
    """The evaluator itself: with no policy nothing is isolated."""
    assert can_connect([], CALLER, STORE, 50053) and can_connect([], ENV, OUTSIDE, 443)


def test_the_metrics_ports_opened_are_the_pods_metrics_ports() -> None:
    objects = render(DEPLOY / "overlays/dev")
    metrics_ports = {
        item["containerPort"]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
        for c in o["spec"]["template"]["spec"]["containers"]
        for item in c["ports"]
        if item["name"] == "metrics"
    }
    [scrape] = [
        p for p in objects if p["kind"] == "NetworkPolicy" and p["metadata"]["name"] == "prometheus-scrape"
    ]
    assert {item["port"] for rule in scrape["spec"]["ingress"] for item in rule["ports"]} == metrics_ports
