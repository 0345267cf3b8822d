"""ServiceMonitor, PrometheusRule (custom resources: checked structurally) and the Grafana dashboard."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

pytestmark = pytest.mark.chart


def test_monitoring_objects_are_toggles(render):
    default = render("default")
    assert not default.of_kind("ServiceMonitor") and not default.of_kind("PrometheusRule")
    assert not default.has("ConfigMap", "payment-dashboard")


def test_service_monitor_scrapes_every_metrics_port(render):
    manifests = render("production")
    (monitor,) = manifests.of_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]
    allowed = next(e["values"] for e in selector["matchExpressions"] if e["key"] == "app.kubernetes.io/component")
    scraped = {}
    for service in manifests.of_kind("Service"):
        labels = service["metadata"]["labels"]
        if selector["matchLabels"].items() <= labels.items() and labels["app.kubernetes.io/component"] in allowed:
            for endpoint in monitor["spec"]["endpoints"]:
                if any(p["name"] == endpoint["port"] for p in service["spec"]["ports"]):
                    scraped[service["metadata"]["name"]] = endpoint["path"]
    assert scraped == {
        "payment": "/metrics",
        "payment-graphql": "/metrics",
        "payment-envoy-metrics": "/stats/prometheus",
        "payment-deliver": "/metrics",
    }


def test_prometheus_rule_holds_the_project_rules(render, chart_dir, tmp_path):
    (rule,) = render("production").of_kind("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    source = yaml.safe_load((chart_dir / "files" / "alerts.yaml").read_text())
    assert rule["spec"]["groups"] == source["groups"]
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert ("alert" in r) != ("record" in r) and r["expr"], r
    promtool = shutil.which("promtool")
    if promtool:
        (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
        rules = tmp_path / "rules.yaml"
        proc = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dashboard_configmap_is_picked_up_by_the_grafana_sidecar(render, chart_dir):
    cm = render("production").get("ConfigMap", "payment-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    ((name, body),) = cm["data"].items()
    assert name.endswith(".json")
    assert json.loads(body) == json.loads((chart_dir / "files" / "payment-dashboard.json").read_text())
