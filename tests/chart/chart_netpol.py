"""A small NetworkPolicy evaluator (networking.k8s.io/v1 semantics) for rendered policies.

A connection is allowed when the source's egress AND the destination's ingress
allow it. A pod selected by no policy of a direction is open in that direction;
endpoints outside the release (the internet, kube-dns) are governed by no
rendered policy, so only the release side is checked for them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    name: str
    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    ip: str = ""

    @property
    def in_cluster(self) -> bool:
        return bool(self.namespace)


def _selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


def _peer_matches(peer: dict[str, Any], other: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if not other.ip:
            return False
        ip = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if not other.in_cluster:
        return False
    if "namespaceSelector" in peer:
        if not _selector_matches(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or _selector_matches(peer["podSelector"], other.labels)


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports)


class Policies:
    def __init__(self, policies: list[dict[str, Any]], namespace: str):
        self.policies = policies
        self.namespace = namespace

    def selecting(self, pod: Endpoint, direction: str) -> list[dict[str, Any]]:
        if pod.namespace != self.namespace:
            return []
        return [
            p
            for p in self.policies
            if direction in p["spec"].get("policyTypes", ["Ingress"])
            and _selector_matches(p["spec"]["podSelector"], pod.labels)
        ]

    def _allows(self, pod: Endpoint, other: Endpoint, port: int, protocol: str, direction: str) -> bool:
        selecting = self.selecting(pod, direction)
        if not selecting:
            return True  # not isolated in this direction
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in selecting:
            for rule in policy["spec"].get(key, []):
                peers = rule.get(peers_key)
                if (not peers or any(_peer_matches(p, other, self.namespace) for p in peers)) and _port_matches(
                    rule.get("ports"), port, protocol
                ):
                    return True
        return False

    def allowed(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        return self._allows(src, dst, port, protocol, "Egress") and self._allows(dst, src, port, protocol, "Ingress")
