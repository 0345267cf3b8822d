"""helm lint --strict over every values set, packaging, and the values schema."""

from __future__ import annotations

import shutil
import tarfile

import pytest
import yaml
from chart_env import CHART, KUBE_VERSION, REPO, VALUE_SETS

pytestmark = pytest.mark.chart


def test_lint_strict(run_helm, chart_dir, value_set):
    args = ["lint", "--strict", "--kube-version", KUBE_VERSION, str(chart_dir)]
    for path in VALUE_SETS[value_set]:
        args += ["-f", str(REPO / path)]
    proc = run_helm(*args, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


def test_chart_is_helm3_application():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["type"] == "application"


def test_package_carries_the_symlinked_files(run_helm, chart_dir, tmp_path):
    """helm follows files/ symlinks: the archive holds the real envoy config and descriptor."""
    run_helm("package", str(chart_dir), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("payment-*.tgz")
    with tarfile.open(archive) as tar:
        envoy = tar.extractfile("payment/files/envoy.yaml").read()
        descriptor = tar.extractfile("payment/files/payment.pb").read()
    assert envoy == (REPO / "envoy" / "envoy.yaml").read_bytes()
    assert descriptor == (REPO / "envoy" / "payment.pb").read_bytes()


def test_files_are_symlinks_to_the_single_sources():
    """ONE source per file: the chart links to envoy/ and observability/, never copies."""
    expected = {
        "envoy.yaml": REPO / "envoy" / "envoy.yaml",
        "payment.pb": REPO / "envoy" / "payment.pb",
        "alerts.yaml": REPO / "observability" / "prometheus" / "alerts.yaml",
        "payment-dashboard.json": REPO / "observability" / "grafana" / "payment-dashboard.json",
    }
    files = CHART / "files"
    assert {p.name for p in files.iterdir()} == set(expected)
    for name, target in expected.items():
        link = files / name
        assert link.is_symlink(), f"{link} must be a symlink"
        assert not link.readlink().is_absolute(), "relative, so it works in any checkout"
        assert (files / link.readlink()).resolve(strict=False) == target


@pytest.mark.parametrize(
    "bad_set",
    [
        "payment.replicas=3",  # typo of replicaCount
        "envoy.service.type=Ingress",
        "postgresql.auth.password=has@sign",  # not URL-safe
        "secret.apiKeys=x",  # typo of secrets
    ],
)
def test_values_schema_rejects_typos(template, bad_set):
    proc = template([], (bad_set,))
    assert proc.returncode != 0
    assert "schema" in proc.stderr


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("postgresql.enabled=false",), "externalDatabase"),
        (("secrets.existingSecret=mine", "secrets.apiKeys=k=m"), "not both"),
        (("secrets.stripeApiKey=sk_test_x",), "secrets.apiKeys is required"),
        (("externalDatabase.url=postgresql://u:p@h/db",), "disable the bundled PostgreSQL"),
        (("redis.enabled=true", "externalRedis.url=redis://h:6379/0"), "disable the bundled Redis"),
        (
            (
                "payment.autoscaling.enabled=true",
                "payment.autoscaling.minReplicas=5",
                "payment.autoscaling.maxReplicas=2",
            ),
            "maxReplicas",
        ),
    ],
)
def test_contradictory_values_fail_with_a_clear_message(template, sets, message):
    proc = template([], sets)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("value_set", "expected", "unexpected"),
    [
        ("default", ["Secret \"payment-secrets\"", "create secret generic payment-secrets", "payment-postgresql"], []),
        ("kind", ["http://localhost:8080", "grpcui"], ["refuses to install"]),
        ("production", ["port-forward svc/payment-envoy 8080:8080"], ["refuses to install", "payment-postgresql"]),
    ],
)
def test_notes_tell_the_user_what_to_do(run_helm, chart_dir, tmp_path, value_set, expected, unexpected):
    """NOTES.txt rendered through a copy of the chart that wraps it in a ConfigMap."""
    copy = tmp_path / "payment"
    shutil.copytree(chart_dir, copy)
    notes = (copy / "templates" / "NOTES.txt").read_text()
    (copy / "templates" / "NOTES.txt").unlink()
    (copy / "templates" / "_notes.tpl").write_text('{{- define "notes" }}' + notes + "{{- end }}")
    (copy / "templates" / "notes.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ include "notes" . | quote }}\n'
    )
    args = ["template", "payment", str(copy), "--kube-version", KUBE_VERSION, "--show-only", "templates/notes.yaml"]
    for path in VALUE_SETS[value_set]:
        args += ["-f", str(REPO / path)]
    text = yaml.safe_load(run_helm(*args).stdout)["data"]["notes"]
    assert all(e in text for e in expected), text
    assert not any(u in text for u in unexpected), text
