"""Release-wide scheduling: nodeSelector and tolerations reach every pod (Deployments, the StatefulSet,
Jobs, the CronJob, the helm test pod), and a component's own are merged over them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.chart

TOLERATION = {"key": "payment.local/real-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


def test_the_real_node_values_put_every_pod_on_the_tainted_real_node(render):
    pods = render("real-node").pods()
    assert len(pods) >= 9, [p.name for p in pods]
    for pod in pods:
        assert pod.spec.get("nodeSelector") == {"payment.local/real-node": "true"}, pod.name
        assert TOLERATION in pod.spec.get("tolerations", []), pod.name


def test_a_components_own_settings_merge_over_the_release_wide_ones(render):
    sets = (
        "nodeSelector.disk=ssd",
        "envoy.nodeSelector.zone=edge",
        "tolerations[0].key=all",
        "tolerations[0].operator=Exists",
        "envoy.tolerations[0].key=edge-only",
        "envoy.tolerations[0].operator=Exists",
    )
    manifests = render("kind", sets)
    envoy = manifests.pod("envoy")
    assert envoy.spec["nodeSelector"] == {"disk": "ssd", "zone": "edge"}
    assert [t["key"] for t in envoy.spec["tolerations"]] == ["all", "edge-only"]
    redis = manifests.pod("redis")
    assert redis.spec["nodeSelector"] == {"disk": "ssd"}
    assert [t["key"] for t in redis.spec["tolerations"]] == ["all"]


def test_by_default_no_pod_is_pinned(render):
    for pod in render("default").pods():
        assert "nodeSelector" not in pod.spec and "tolerations" not in pod.spec, pod.name
