"""NetworkPolicies: default deny, then exactly the real flows (checked by evaluating the policies)."""

from __future__ import annotations

import pytest
from chart_env import NAMESPACE
from chart_netpol import Endpoint, Policies

pytestmark = pytest.mark.chart

NS_LABELS = {"kubernetes.io/metadata.name": NAMESPACE}
INTERNET = Endpoint("internet", ip="203.0.113.7")
STRIPE = Endpoint("stripe", ip="54.187.174.169")
INTERNAL_HTTPS = Endpoint("internal-https", ip="10.0.0.5")
MERCHANT_ENDPOINT = Endpoint("merchant-endpoint", ip="198.51.100.20")  # a merchant's webhook URL
KUBE_DNS = Endpoint(
    "kube-dns", "kube-system", {"k8s-app": "kube-dns"}, {"kubernetes.io/metadata.name": "kube-system"}, "10.96.0.10"
)
PROMETHEUS = Endpoint(
    "prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}, {"kubernetes.io/metadata.name": "monitoring"}
)
NEIGHBOUR = Endpoint("neighbour", NAMESPACE, {"app": "something-else"}, NS_LABELS)
EXTERNAL_DB = Endpoint("external-db", ip="10.20.1.1")  # inside production-values' networkPolicyTo

# (source, destination, port) that must be allowed whenever both ends exist.
FLOWS = [
    ("internet", "envoy", 8443),
    ("envoy", "payment", 50051),
    ("envoy", "graphql", 8000),
    ("graphql", "payment", 50051),
    ("grpcui", "payment", 50051),
    ("payment", "postgresql", 5432),
    ("migrations", "postgresql", 5432),
    ("reconcile", "postgresql", 5432),
    ("payment", "redis", 6379),
    ("reconcile", "redis", 6379),
    ("payment", "stripe", 443),
    ("reconcile", "stripe", 443),
    ("prometheus", "payment", 9464),
    ("prometheus", "graphql", 9465),
    ("prometheus", "envoy", 9902),
    ("test", "envoy", 8443),
    ("internet", "grpcui", 8081),
    ("deliver", "postgresql", 5432),
    ("deliver", "merchant-endpoint", 443),
    ("prometheus", "deliver", 9466),
]
# Flows that must stay blocked.
BLOCKED = [
    ("internet", "payment", 50051),
    ("internet", "graphql", 8000),
    ("internet", "postgresql", 5432),
    ("internet", "redis", 6379),
    ("internet", "envoy", 9902),
    ("internet", "envoy", 9901),
    ("internet", "payment", 9464),
    ("neighbour", "payment", 50051),
    ("neighbour", "postgresql", 5432),
    ("envoy", "postgresql", 5432),
    ("envoy", "redis", 6379),
    ("graphql", "postgresql", 5432),
    ("graphql", "redis", 6379),
    ("grpcui", "postgresql", 5432),
    ("migrations", "redis", 6379),
    ("migrations", "stripe", 443),
    ("graphql", "stripe", 443),
    ("envoy", "stripe", 443),
    ("payment", "internal-https", 443),
    ("test", "payment", 50051),
    ("prometheus", "postgresql", 5432),
    ("payment", "envoy", 8080),
    ("deliver", "internal-https", 443),  # SSRF: private addresses stay unreachable
    ("deliver", "redis", 6379),
    ("deliver", "payment", 50051),
    ("deliver", "merchant-endpoint", 80),
    ("internet", "deliver", 9466),
]


def endpoints(manifests) -> dict[str, Endpoint]:
    found = {
        "internet": INTERNET,
        "stripe": STRIPE,
        "internal-https": INTERNAL_HTTPS,
        "merchant-endpoint": MERCHANT_ENDPOINT,
        "prometheus": PROMETHEUS,
        "neighbour": NEIGHBOUR,
    }
    for pod in manifests.pods():
        component = pod.labels["app.kubernetes.io/component"]
        found[component] = Endpoint(component, NAMESPACE, pod.labels, NS_LABELS)
    return found


@pytest.fixture
def policies(render, value_set):
    manifests = render(value_set)
    nps = manifests.of_kind("NetworkPolicy")
    if not nps:
        pytest.fail(f"{value_set}: no NetworkPolicy rendered")
    return Policies(nps, NAMESPACE), endpoints(manifests)


def test_default_deny_selects_every_pod_of_the_release(render, value_set):
    manifests = render(value_set)
    deny = manifests.get("NetworkPolicy", "payment-default-deny")["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    only_deny = Policies([{"spec": deny}], NAMESPACE)
    for pod in manifests.pods():
        me = Endpoint("pod", NAMESPACE, pod.labels, NS_LABELS)
        assert only_deny.selecting(me, "Ingress") and only_deny.selecting(me, "Egress"), pod.name
    assert not only_deny.selecting(NEIGHBOUR, "Ingress"), "must not isolate other workloads"


def test_every_real_flow_is_allowed(policies):
    rules, eps = policies
    for src, dst, port in FLOWS:
        if src in eps and dst in eps:
            assert rules.allowed(eps[src], eps[dst], port), f"{src} -> {dst}:{port} blocked"


def test_everything_else_is_blocked(policies):
    rules, eps = policies
    for src, dst, port in BLOCKED:
        if src in eps and dst in eps:
            assert not rules.allowed(eps[src], eps[dst], port), f"{src} -> {dst}:{port} allowed"


def test_every_pod_resolves_dns(policies):
    rules, eps = policies
    for name, ep in eps.items():
        if ep.namespace == NAMESPACE and name != "neighbour":
            assert rules.allowed(ep, KUBE_DNS, 53, "UDP") and rules.allowed(ep, KUBE_DNS, 53, "TCP"), name


def test_bundled_datastores_and_tools_follow_their_toggles(render):
    prod = endpoints(render("production"))
    assert "postgresql" not in prod and "redis" not in prod and "grpcui" not in prod
    kind = endpoints(render("kind"))
    assert {"postgresql", "redis", "grpcui"} <= set(kind)


def test_external_database_is_reachable_only_by_its_clients(render):
    rules = Policies(render("production").of_kind("NetworkPolicy"), NAMESPACE)
    eps = endpoints(render("production"))
    for client in ("payment", "migrations", "reconcile"):
        assert rules.allowed(eps[client], EXTERNAL_DB, 5432), client
    assert not rules.allowed(eps["graphql"], EXTERNAL_DB, 5432)
    assert not rules.allowed(eps["payment"], Endpoint("elsewhere", ip="10.99.0.1"), 5432)
