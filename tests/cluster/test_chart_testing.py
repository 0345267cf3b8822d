"""chart-testing (ct), as chart repositories run it: `ct lint` and `ct install` over charts/payment/ci/.

ct's own lint rules (Chart.yaml schema, yamllint) come from its module (.tools/share/ct, make setup).
`ct install` installs the chart once per ci/*-values.yaml with --wait, runs `helm test`, uninstalls.
"""

from __future__ import annotations

import pytest

from tests.chart.chart_env import CHART, REPO
from tests.cluster.kube import Kube, production_secrets, warnings_in

pytestmark = pytest.mark.cluster

CT_SHARE = REPO / ".tools" / "share" / "ct"
CHARTS = ["--charts", str(CHART.relative_to(REPO))]
CT_LINT_FLAGS = [
    *CHARTS,
    "--chart-yaml-schema", str(CT_SHARE / "chart_schema.yaml"), "--lint-conf", str(CT_SHARE / "lintconf.yaml"),
    # No maintainers list and no remote branch to compare versions with in a fresh clone.
    "--validate-maintainers=false", "--check-version-increment=false",
]


def test_ct_lint_passes_with_every_ci_values_file(kube: Kube):
    run = kube.run("ct", "lint", *CT_LINT_FLAGS).ok()
    print(f"ct lint: {run.seconds} s")
    assert "All charts linted successfully" in run.stdout + run.stderr


def test_ct_install_installs_tests_and_uninstalls_with_every_ci_values_file(kube: Kube, namespace, prometheus_crds):
    # production-values.yaml names Secrets the user creates; the chart refuses to install without them.
    production_secrets(kube, namespace)
    run = kube.run("ct", "install", *CHARTS, "--namespace", namespace,
                   "--helm-extra-args", "--timeout 120s").ok()
    print(f"ct install (every ci/*-values.yaml): {run.seconds} s")
    output = run.stdout + run.stderr
    assert "All charts installed successfully" in output, output
    assert output.count("Phase:          Succeeded") == len(list((CHART / "ci").glob("*-values.yaml"))), output
    assert not [w for w in warnings_in(run) if "PodSecurity" in w], warnings_in(run)
