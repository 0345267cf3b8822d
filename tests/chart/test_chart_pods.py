"""Pods on rendered manifests: security contexts, resources, probes, images, labels."""

from __future__ import annotations

import re

import pytest
from chart_env import CHART

pytestmark = pytest.mark.chart

APP_IMAGE = "payment-service"
LABEL_KEYS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)


def runs_app_image(container) -> bool:
    return container["image"].rsplit(":", 1)[0].endswith(APP_IMAGE)


def test_pod_security_is_restricted(render, value_set):
    for pod in render(value_set).pods():
        ctx = pod.spec["securityContext"]
        assert ctx["runAsNonRoot"] is True, pod.name
        assert isinstance(ctx["runAsUser"], int) and ctx["runAsUser"] > 0, pod.name
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, pod.name
        assert pod.spec["automountServiceAccountToken"] is False, pod.name
        assert not pod.spec.get("hostNetwork") and not pod.spec.get("hostPID"), pod.name


def test_container_security_is_restricted(render, value_set):
    live_update = value_set == "tilt"
    for pod in render(value_set).pods():
        for c in pod.containers():
            ctx = c["securityContext"]
            where = f"{pod.name}/{c['name']}"
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["runAsNonRoot"] is True, where
            assert ctx["capabilities"] == {"drop": ["ALL"]}, where
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert ctx.get("privileged") is not True, where
            assert ctx.get("runAsUser", pod.spec["securityContext"]["runAsUser"]) != 0, where
            # Only Tilt's synced app containers may write to their root filesystem.
            writable = live_update and runs_app_image(c)
            assert ctx["readOnlyRootFilesystem"] is (not writable), where


def test_every_container_has_requests_and_limits(render, value_set):
    for pod in render(value_set).pods():
        for c in pod.containers():
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"].get(part, {})), f"{pod.name}/{c['name']} {part}"


def test_images_are_pinned(render, value_set):
    for pod in render(value_set).pods():
        for c in pod.containers():
            repo, _, tag = c["image"].rpartition(":")
            assert repo and tag and tag != "latest" and "/" not in tag, c["image"]


def test_payment_uses_native_grpc_probes(render, value_set):
    container = render(value_set).pod("payment").spec["containers"][0]
    grpc_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
    for probe in ("startupProbe", "readinessProbe"):
        assert container[probe]["grpc"] == {"port": grpc_port}, probe
    # grpc.health.v1 reports the database too; liveness must only see the process.
    assert container["livenessProbe"]["tcpSocket"] == {"port": "grpc"}


def test_long_running_containers_have_probes(render, value_set):
    for pod in render(value_set).pods():
        if pod.owner["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for c in pod.spec["containers"]:
            assert "readinessProbe" in c and "livenessProbe" in c, f"{pod.name}/{c['name']}"


def test_every_object_carries_the_helper_labels(render, value_set):
    for obj in render(value_set):
        labels = obj["metadata"].get("labels", {})
        missing = [k for k in LABEL_KEYS if not labels.get(k)]
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == "payment"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    for pod in render(value_set).pods():
        assert all(pod.labels.get(k) for k in LABEL_KEYS), pod.name


def test_selectors_match_their_pods(render, value_set):
    manifests = render(value_set)
    for obj in manifests:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            selector = obj["spec"]["selector"]["matchLabels"]
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), obj["metadata"]["name"]
    for service in manifests.of_kind("Service"):
        selector = service["spec"]["selector"]
        assert any(selector.items() <= pod.labels.items() for pod in manifests.pods()), service["metadata"]["name"]


def test_labels_are_written_only_by_the_helper():
    """app.kubernetes.io/* keys come from _helpers.tpl; templates only include it."""
    allowed = {"_helpers.tpl"}
    for path in (CHART / "templates").rglob("*"):
        if path.is_file() and path.name not in allowed:
            text = path.read_text()
            # A ServiceMonitor's matchExpressions must name the key it filters on.
            text = text.replace("{key: app.kubernetes.io/component,", "")
            assert not re.search(r"app\.kubernetes\.io/", text), path.name


def test_app_containers_run_the_console_scripts(render):
    """The chart starts the programs pyproject.toml installs, via args (Tilt keeps args)."""
    import tomllib

    scripts = tomllib.loads((CHART.parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    for pod in render("default").pods():
        for c in pod.containers():
            if runs_app_image(c):
                assert "command" not in c, f"{pod.name}: use args so Tilt's restart wrapper works"
                assert c["args"][0] in scripts, c["args"]
