"""Helpers for the cluster tier: kubectl, helm and ct against the session's cluster, renders, waits."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass

from devtools.cluster import TOOLS_BIN, Cluster
from tests.chart.chart_env import CHART, KUBE_VERSION, REPO, VALUE_SETS

CRDS = REPO / ".tools" / "share" / "crds"
RESTRICTED = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}


@dataclass
class Run:
    """A finished command: what it printed and how long it took."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def ok(self) -> Run:
        assert self.returncode == 0, f"{' '.join(self.args)} failed ({self.returncode}):\n{self.stderr}\n{self.stdout}"
        return self


@dataclass
class Kube:
    """Runs kubectl, helm and ct against the session's cluster."""

    cluster: Cluster

    def run(self, tool: str, *args: str, input: str | None = None, timeout: float = 300) -> Run:
        argv = [str(TOOLS_BIN / tool), *args]
        start = time.monotonic()
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, env=self.cluster.env(),
                              cwd=REPO, timeout=timeout)
        return Run(argv, proc.returncode, proc.stdout, proc.stderr, round(time.monotonic() - start, 2))

    def kubectl(self, *args: str, input: str | None = None) -> Run:
        return self.run("kubectl", *args, input=input)

    def helm(self, *args: str) -> Run:
        return self.run("helm", *args)

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").ok().stdout)


def cluster_wide(value_set: str) -> list[str]:
    """The kind values pin NodePorts 30080/30081, which are unique cluster-wide: tests in parallel
    namespaces let the cluster pick them instead (everything else in the values set stays)."""
    if any(path.startswith("kind/") for path in VALUE_SETS[value_set]):
        return ["--set", "envoy.service.nodePort=null", "--set", "grpcui.service.nodePort=null"]
    return []


def render(kube: Kube, value_set: str, *sets: str, namespace: str = "payment") -> str:
    """`helm template` of one of the project's values sets (tests/chart/chart_env.py)."""
    args = ["template", "payment", str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION]
    for path in VALUE_SETS[value_set]:
        args += ["-f", str(REPO / path)]
    args += cluster_wide(value_set)
    for item in sets:
        args += ["--set", item]
    return kube.helm(*args).ok().stdout


def server_dry_run(kube: Kube, namespace: str, manifests: str) -> Run:
    """Server-side apply, dry run: the API server validates (schemas, CRDs, admission) and stores nothing.

    `helm install --dry-run=server` would not do this: it only renders with lookups."""
    return kube.kubectl("apply", "--server-side", "--dry-run=server", "--field-manager=helm", "--validate=strict",
                        "-n", namespace, "-f", "-", input=manifests)


def install_args(value_set: str, *extra: str) -> list[str]:
    args = ["--wait", "--wait-for-jobs", "--timeout", "120s"]
    for path in VALUE_SETS[value_set]:
        args += ["-f", str(REPO / path)]
    return [*args, *cluster_wide(value_set), *extra]


def warnings_in(run: Run) -> list[str]:
    return [line for line in (run.stderr + run.stdout).splitlines() if "warning" in line.lower()]


def pods_by_component(kube: Kube, namespace: str) -> dict[str, dict[str, str]]:
    """component -> {pod name: uid} of the long-running pods (owned by a ReplicaSet or StatefulSet)."""
    pods: dict[str, dict[str, str]] = {}
    for pod in kube.get("pods", "-n", namespace)["items"]:
        meta = pod["metadata"]
        owners = {ref["kind"] for ref in meta.get("ownerReferences", [])}
        if meta.get("deletionTimestamp") or not owners & {"ReplicaSet", "StatefulSet"}:
            continue
        component = meta.get("labels", {}).get("app.kubernetes.io/component", "?")
        pods.setdefault(component, {})[meta["name"]] = meta["uid"]
    return pods


def wait_for(predicate, timeout: float = 60, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def create_secret(kube: Kube, namespace: str, name: str, **data: str) -> None:
    kube.kubectl("create", "secret", "generic", name, "-n", namespace,
                 *(f"--from-literal={k}={v}" for k, v in data.items())).ok()


def production_secrets(kube: Kube, namespace: str) -> None:
    """The Secrets charts/payment/ci/production-values.yaml names (obviously fake values)."""
    create_secret(kube, namespace, "payment-secrets", API_KEYS="sk_test_cluster_tier=acct_cluster")
    create_secret(kube, namespace, "payment-database",
                  DATABASE_URL="postgresql+asyncpg://payment:fake@db.invalid:5432/payment")
    create_secret(kube, namespace, "payment-redis", REDIS_URL="redis://redis.invalid:6379/0")

