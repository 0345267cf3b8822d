"""Policy as code over every rendered values set: conftest (charts/payment/policy/*.rego) and checkov.

The Rego policies state what the chart promises (non-root, no privilege escalation, restricted security
context, resources, probes on long-running containers, pinned tags, labels); each rule is shown to
bite by breaking exactly that promise in a rendered Deployment. checkov runs offline (--skip-download)
with every accepted finding listed, and justified, in charts/payment/policy/checkov.yaml.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml
from chart_env import CHART, REPO, VALUE_SETS
from conftest import missing_or_skip

pytestmark = pytest.mark.chart

TOOLS_BIN = REPO / ".tools" / "bin"
POLICY = CHART / "policy"
CHECKOV_CONFIG = POLICY / "checkov.yaml"
# Tilt's values differ from kind's only by what CKV_K8S_22 rightly flags, writable root filesystems
# for live updates (development only; conftest warns about it): checkov sees every other values set.
CHECKOV_VALUE_SETS = sorted(set(VALUE_SETS) - {"tilt"})


def tool(name: str) -> str:
    path = TOOLS_BIN / name
    if not os.access(path, os.X_OK):
        missing_or_skip(f"{name} ({path}; run make setup)")
    return str(path)


def conftest_test(documents: list[dict]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("conftest"), "test", "--policy", str(POLICY), "--parser", "yaml", "--no-color", "-"],
        input=yaml.safe_dump_all(documents), capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_values_set_keeps_the_chart_policies(render, value_set):
    start = time.monotonic()
    proc = conftest_test(render(value_set).objects)
    print(f"conftest ({value_set}): {proc.stdout.strip().splitlines()[-1]} in {time.monotonic() - start:.2f} s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failures" in proc.stdout, proc.stdout


def _container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _security(deployment: dict) -> dict:
    return _container(deployment)["securityContext"]


BREAKAGES = {
    "runs as root": (lambda d: (_security(d).pop("runAsNonRoot"),
                                d["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot")),
                     "may run as root"),
    "uid 0": (lambda d: _security(d).update(runAsUser=0), "runs as uid 0"),
    "privilege escalation": (lambda d: _security(d).update(allowPrivilegeEscalation=True),
                             "must set allowPrivilegeEscalation: false"),
    "privileged": (lambda d: _security(d).update(privileged=True), "is privileged"),
    "capabilities kept": (lambda d: _security(d)["capabilities"].update(drop=["NET_RAW"]), "must drop ALL"),
    "no seccomp": (lambda d: (_security(d).pop("seccompProfile"),
                              d["spec"]["template"]["spec"]["securityContext"].pop("seccompProfile")),
                   "needs seccompProfile RuntimeDefault"),
    "no memory limit": (lambda d: _container(d)["resources"]["limits"].pop("memory"), "no resources.limits.memory"),
    "no resources": (lambda d: _container(d).pop("resources"), "no resources.requests.cpu"),
    "no readiness probe": (lambda d: _container(d).pop("readinessProbe"), "has no readinessProbe"),
    "no liveness probe": (lambda d: _container(d).pop("livenessProbe"), "has no livenessProbe"),
    "latest tag": (lambda d: _container(d).update(image="payment-service:latest"), "is not pinned"),
    "no tag": (lambda d: _container(d).update(image="registry.example.com:5000/payment-service"), "is not pinned"),
    "object label": (lambda d: d["metadata"]["labels"].pop("app.kubernetes.io/part-of"), "missing label"),
    "template label": (lambda d: d["spec"]["template"]["metadata"]["labels"].pop("app.kubernetes.io/component"),
                       "pod template lacks label"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_policy_catches_the_chart_breaking_its_promise(render, breakage):
    deployment = copy.deepcopy(render("kind").get("Deployment", "payment"))
    assert conftest_test([deployment]).returncode == 0
    mutate, message = BREAKAGES[breakage]
    mutate(deployment)
    proc = conftest_test([deployment])
    assert proc.returncode != 0 and message in proc.stdout, proc.stdout


def accepted_checks() -> dict[str, str]:
    """skip-check entries of checkov.yaml with the justification comment on the same line."""
    entries = re.findall(r"^\s*-\s*(CKV\w+)\s*#\s*(.+)$", CHECKOV_CONFIG.read_text(), re.MULTILINE)
    return dict(entries)


def test_every_accepted_checkov_finding_is_justified():
    listed = yaml.safe_load(CHECKOV_CONFIG.read_text())["skip-check"]
    justified = accepted_checks()
    assert set(listed) == set(justified), set(listed) ^ set(justified)
    assert all(len(reason.split()) >= 5 for reason in justified.values()), justified


def test_checkov_passes_over_the_rendered_values_sets_and_the_dockerfile(render, tmp_path):
    for name in CHECKOV_VALUE_SETS:
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump_all(render(name).objects))
    # One run over both: checkov skips --file when --directory is given.
    shutil.copy(REPO / "Dockerfile", tmp_path / "Dockerfile")
    start = time.monotonic()
    proc = subprocess.run(
        [tool("checkov"), "--config-file", str(CHECKOV_CONFIG), "--output", "json", "--directory", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=REPO, env={**os.environ, "BC_API_KEY": ""},
    )
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    summary = {r["check_type"]: r["summary"] for r in reports}
    print(f"checkov in {time.monotonic() - start:.1f} s: " + ", ".join(
        f"{kind}: {s['passed']} passed, {s['failed']} failed, {s['skipped']} accepted" for kind, s in summary.items()))
    failed = [f"{c['check_id']} {c['check_name']} ({c['resource']} in {c['file_path']})"
              for r in reports for c in r["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert {"kubernetes", "dockerfile"} <= set(summary), summary
    assert summary["kubernetes"]["passed"] > 1000 and summary["dockerfile"]["passed"] > 50, summary
    assert proc.returncode == 0, proc.stderr
