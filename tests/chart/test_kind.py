"""kind cluster configs, the kube-prometheus-stack values and mk/kind.mk agree with the chart."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from chart_env import REPO

pytestmark = pytest.mark.chart

NODE_IMAGE = re.compile(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}")


def load(path: str):
    return yaml.safe_load((REPO / path).read_text())


def host_ports(config) -> dict[int, int]:
    (node,) = config["nodes"]
    return {m["hostPort"]: m["containerPort"] for m in node.get("extraPortMappings", [])}


def test_clusters_pin_the_node_image_by_digest():
    for path in ("kind/cluster.yaml", "kind/cluster-dev.yaml"):
        config = load(path)
        assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and config["kind"] == "Cluster"
        (node,) = config["nodes"]
        assert NODE_IMAGE.fullmatch(node["image"]), node["image"]
    assert load("kind/cluster.yaml")["nodes"][0]["image"] == load("kind/cluster-dev.yaml")["nodes"][0]["image"]


def test_localhost_ports_reach_the_node_ports_the_values_set():
    ports = host_ports(load("kind/cluster.yaml"))
    values = load("kind/values.yaml")
    stack = load("kind/kube-prometheus-stack.yaml")
    assert ports[8080] == values["envoy"]["service"]["nodePort"]
    assert ports[8081] == values["grpcui"]["service"]["nodePort"]
    assert ports[3000] == stack["grafana"]["service"]["nodePort"]
    assert ports[9090] == stack["prometheus"]["service"]["nodePort"]
    (node,) = load("kind/cluster.yaml")["nodes"]
    assert all(m["listenAddress"] == "127.0.0.1" for m in node["extraPortMappings"]), "local only"


def test_tilt_cluster_leaves_the_ports_to_tilt():
    assert host_ports(load("kind/cluster-dev.yaml")) == {}


def test_observability_selects_every_release_and_labelled_dashboards():
    stack = load("kind/kube-prometheus-stack.yaml")
    spec = stack["prometheus"]["prometheusSpec"]
    for key in ("serviceMonitorSelectorNilUsesHelmValues", "ruleSelectorNilUsesHelmValues"):
        assert spec[key] is False, key
    dashboards = stack["grafana"]["sidecar"]["dashboards"]
    assert dashboards == {"enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL"}


def test_make_fragment_defines_the_targets():
    text = (REPO / "mk" / "kind.mk").read_text()
    for target in ("kind-up", "kind-down", "kind-observability", "chart-lint", "hadolint", "kind-dev-up"):
        assert re.search(rf"^{target}:", text, re.M), target
    for variable in ("TOOLS_BIN", "VENV"):
        assert re.search(rf"^{variable} \?= ", text, re.M), variable
    assert re.search(r"^KPS_VERSION \?= \d+\.\d+\.\d+$", text, re.M), "pin kube-prometheus-stack"
    assert re.search(r"^KIND_VERSION \?= v\d+\.\d+\.\d+$", text, re.M)


@pytest.mark.parametrize("target", ["kind-up", "kind-down", "kind-observability", "chart-lint", "hadolint"])
def test_make_targets_expand(target):
    """`make -n` parses the fragment and expands each recipe (nothing is run)."""
    if not shutil.which("make"):
        pytest.skip("make not installed")
    proc = subprocess.run(
        ["make", "-n", "-f", "mk/kind.mk", target, "KIND=true"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_docs_match_the_clusters_and_targets():
    """docs/kubernetes.md names the real targets, contexts, ports and Secret names."""
    docs = (REPO / "docs" / "kubernetes.md").read_text()
    make = (REPO / "mk" / "kind.mk").read_text()
    for command in ("make kind-up", "make kind-down", "make kind-observability", "make kind-dev-up", "tilt up"):
        assert command in docs, command
    assert f"kind-{load('kind/cluster.yaml')['name']}" in docs
    assert f'"{load("kind/cluster-dev.yaml")["name"]}"' in docs
    for port in host_ports(load("kind/cluster.yaml")):
        assert f"localhost:{port}" in docs, port
    kps_release = re.search(r"^KPS_RELEASE \?= (\S+)$", make, re.M).group(1)
    assert f"secret {kps_release}-grafana" in docs
