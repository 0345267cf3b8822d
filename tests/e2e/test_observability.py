"""Observability of the real local stack, through the real Envoy.

The main test is `make check-observability`'s check: Debian's Prometheus
scrapes the stack every second while traffic is driven through the edge, then
every dashboard and alert expression is evaluated through its HTTP API and
must name only metrics and labels that exist. The others: /metrics is served
on METRICS_PORT, the health report shows the cache, and every access log line
carries a trace id (the caller's, from traceparent, or a new one).
"""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.conftest import require

pytestmark = pytest.mark.e2e

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_checker():
    spec = importlib.util.spec_from_file_location("check_observability", ROOT / "scripts/check_observability.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_every_dashboard_and_alert_expression_evaluates_on_real_prometheus(stack, e2e_key, tmp_path):
    require(shutil.which("prometheus") is not None or pathlib.Path("/usr/bin/prometheus").exists(),
            "prometheus (Debian package prometheus)")
    checker = load_checker()
    targets = checker.Targets.from_env(stack.env, e2e_key)
    with checker.prometheus(targets, tmp_path) as server:
        checker.drive_traffic(targets)
        checker.wait_until_scraped(server, targets)
        report = checker.check(server, checker.expressions())
        assert report.ok, "\n".join(report.problems)
        assert len(report.evaluated) == len(checker.expressions()) >= 30
        broken = checker.check(server, [checker.Expression(f"broken {i}", expr, True) for i, expr in enumerate(BROKEN)])
    assert len(broken.problems) == len(BROKEN), "the check let a broken expression through:\n" + "\n".join(
        broken.problems)


# Each is wrong in one way the check must catch.
BROKEN = [
    "sum(rate(grpc_server_handled_totals[1m]))",  # misspelt metric
    'sum(rate(grpc_server_handled_total{grpc_status="OK"}[1m]))',  # no such label
    "sum by (merchant_id) (rate(payment_outcomes_total[1m]))",  # no such grouping label
    "sum(rate(payment_outcomes_total[1m])",  # does not parse
    'sum(rate(payment_outcomes_total{operation="teleport"}[1m]))',  # a dashboard panel with no data
]


def test_the_promql_reader_finds_selectors_and_grouping_labels():
    parsed = load_checker().parse(
        'histogram_quantile(0.99, sum by (le, grpc_method) (rate(a_bucket{x="}",y!~"z"}[5m] offset 1h)))'
        " / on (grpc_method) group_left (w) b > bool 0.5")
    assert [(s.metric, s.labels) for s in parsed.selectors] == [("a_bucket", {"x": "}", "y": ""}), ("b", {})]
    assert parsed.grouping == {"le", "grpc_method", "w"}


def test_metrics_are_served_on_the_metrics_port(stack, e2e_key):
    httpx.get(f"{stack.rest}/v1/payments", headers={"Authorization": f"Bearer {e2e_key}"}, timeout=10)
    text = httpx.get(f"http://127.0.0.1:{stack.env['METRICS_PORT']}/metrics", timeout=10).text
    assert 'grpc_server_handled_total{grpc_code="OK",grpc_method="ListPayments"' in text
    assert "payment_db_pool_size 10.0" in text


def test_health_reports_the_cache(stack):
    health = httpx.get(f"{stack.rest}/v1/health", timeout=10).json()
    assert health["components"]["cache"] == "ok"


def test_every_access_log_line_carries_a_trace_id(stack, e2e_key):
    trace_id = uuid.uuid4().hex
    auth = {"Authorization": f"Bearer {e2e_key}"}
    marker = f"pay_{'1' * 26}"
    httpx.get(f"{stack.rest}/v1/payments/{marker}", timeout=10,
              headers={**auth, "traceparent": f"00-{trace_id}-{'2' * 16}-01"})
    httpx.get(f"{stack.rest}/v1/payments", headers=auth, timeout=10)
    lines = [line for line in stack.service_log() if line.get("logger") == "payment.access"]
    assert lines and all(len(line["trace_id"]) == 32 for line in lines), "an access log line without a trace id"
    assert any(line["trace_id"] == trace_id and line["rpc"].endswith("/GetPayment") for line in lines)


def test_promtool_accepts_the_rules_their_unit_tests_and_the_scrape_config():
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool (Debian package prometheus)")
    folder = ROOT / "observability" / "prometheus"
    for args in (["check", "rules", "alerts.yaml"], ["test", "rules", "alerts_test.yaml"],
                 ["check", "config", "prometheus.yml"]):
        done = subprocess.run([promtool, *args], cwd=folder, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
