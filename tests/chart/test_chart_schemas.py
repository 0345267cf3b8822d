"""Every rendered object against the Kubernetes OpenAPI schemas, offline (kubernetes-validate).

Strict mode rejects unknown fields, so a misspelt key in a template fails here
instead of being dropped by the API server. Validated against the oldest
Kubernetes the chart supports (Chart.yaml kubeVersion) and the kind node's.
"""

from __future__ import annotations

import pytest

kubernetes_validate = pytest.importorskip("kubernetes_validate")

pytestmark = pytest.mark.chart

KUBERNETES_VERSIONS = ["1.27.0", "1.35.0"]
# Custom resources: kubernetes-validate ships core schemas only.
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("cert-manager.io/v1", "Certificate")}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_matches_the_kubernetes_schema(render, value_set, version):
    errors = []
    for obj in render(value_set):
        if (obj["apiVersion"], obj["kind"]) in CRDS:
            continue  # structure checked in test_chart_monitoring.py
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(exc.message)
    assert not errors, "\n".join(errors)


def test_strict_validation_catches_a_misspelt_field(render):
    """The validator really rejects unknown fields (guards against a silently lax check)."""
    deployment = render("default").get("Deployment", "payment")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    containers[0] = {**containers[0], "readinessProbes": containers[0]["readinessProbe"]}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.35.0", strict=True)


def test_only_known_custom_resources_are_rendered(render, value_set):
    core_groups = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}
    unknown = {
        (o["apiVersion"], o["kind"])
        for o in render(value_set)
        if o["apiVersion"] not in core_groups and (o["apiVersion"], o["kind"]) not in CRDS
    }
    assert not unknown
