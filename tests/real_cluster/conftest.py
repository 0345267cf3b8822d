"""The chart on a real node: one cluster per session (control plane + kwok node + the real kubelet node
of devtools/realnode.py), the images `make images` built, the chart installed with --wait.

Envoy's NodePort and grpcui's answer on free 127.0.0.1 ports (kube-proxy, loopback only), as kind's
extraPortMappings do; metrics are read from the pods' own addresses on the node bridge. Nothing is sent
anywhere else. Every step's time is printed (pytest -s, or the figures at the end of the run).
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from devtools.realnode import BRIDGE

REPO = Path(__file__).resolve().parents[2]
RELEASE = "payment"
NAMESPACE = "payment-real"
IN_CI = bool(os.environ.get("CI"))
FIGURES: list[dict] = []
# Part of `make test` (and `make test-real-cluster` alone); skipped, with the reason, only where this
# machine cannot run containers (not root, no namespaces). CI runs as root: there a missing tool fails.


def figure(**values) -> None:
    """A measured figure: printed now and again in the session summary."""
    FIGURES.append(values)
    print(json.dumps(values))


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("real-cluster figures")
        for values in FIGURES:
            terminalreporter.write_line(json.dumps(values))


def free_node_port() -> int:
    """A NodePort in the API server's range that nothing on 127.0.0.1 listens on."""
    for _ in range(200):
        port = random.randint(30000, 32767)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 30000-32767")


def containers_refused() -> str | None:
    """Why this machine cannot run containers, or None. Only root with working runc counts."""
    if os.geteuid() != 0:
        return "the real node needs root (containerd, kubelet, a bridge)"
    for tool in ("podman", "buildah", "containerd", "runc", "ctr", "mmdebstrap"):
        if shutil.which(tool) is None:
            if IN_CI:
                pytest.fail(f"{tool} missing: make setup installs it")
            return f"{tool} missing (make setup)"
    probe = subprocess.run(["unshare", "--net", "--pid", "--mount", "--fork", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"the kernel refuses new namespaces: {probe.stderr.strip()}"
    # One real node per machine (its bridge, pod range and CoreDNS address are fixed). On a shared
    # machine another checkout's `make test` may hold it; CI runs one suite, so there it is a failure.
    if Path("/sys/class/net", BRIDGE).exists():
        message = f"another real node runs on this machine (bridge {BRIDGE} exists): one at a time"
        if IN_CI:
            pytest.fail(message)
        return message
    return None


def timed(name: str, argv: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    figure(step=name, seconds=round(time.monotonic() - started, 1), ok=proc.returncode == 0)
    if proc.returncode != 0:
        raise AssertionError(f"{name} failed ({shlex.join(argv)}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


class RealCluster:
    """What the tests use: kubectl/helm against the cluster, the edge and grpcui URLs, the install flags."""

    def __init__(self, cluster, edge_port: int, grpcui_port: int):
        self.cluster = cluster
        self.edge = f"http://127.0.0.1:{edge_port}"
        self.grpcui = f"http://127.0.0.1:{grpcui_port}"
        self.edge_port = edge_port
        helm_set = subprocess.run(["make", "-s", "-C", str(REPO), "images-helm-set"], capture_output=True,
                                  text=True, check=True).stdout
        self.install_flags = [
            "-f", str(REPO / "kind" / "values.yaml"), "-f", str(REPO / "kind" / "values-real-node.yaml"),
            *shlex.split(helm_set),
            "--set", f"envoy.service.nodePort={edge_port}", "--set", f"grpcui.service.nodePort={grpcui_port}",
            # The traffic here measures rollouts and kills, not the per-key rate limit (tests/e2e/test_rate_limits.py
            # and the chart tests do): since creates got fast (issue 11), its 4 threads passed the default 100/s and
            # a rolling upgrade "dropped" 426 of 2,949 creates with 429.
            "--set", "envoy.rateLimits.mutationsPerSecond=1000",
        ]

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.cluster.tool("kubectl"), "-n", NAMESPACE, *args], capture_output=True,
                              text=True, env=self.cluster.env(), timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
        return proc

    def helm(self, name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return timed(name, [self.cluster.tool("helm"), "--namespace", NAMESPACE, *args], timeout,
                     env=self.cluster.env())

    def upgrade(self, name: str, *extra: str) -> subprocess.CompletedProcess:
        return self.helm(name, "upgrade", "--install", RELEASE, str(REPO / "charts" / "payment"),
                         "--create-namespace", *self.install_flags, *extra, "--wait", "--wait-for-jobs",
                         "--timeout", "8m")

    def pods(self, component: str) -> list[dict]:
        """The component's pods, but those already being deleted (a rollout's old pods while they stop)."""
        out = self.kubectl("get", "pods", "-l", f"app.kubernetes.io/component={component}", "-o", "json").stdout
        return [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]


@pytest.fixture(scope="session")
def images() -> None:
    """`make images` (buildah reuses every unchanged layer), or a skip saying why this machine cannot."""
    reason = containers_refused()
    if reason:
        pytest.skip(f"real-cluster tier skipped: {reason}")
    timed("make images", ["make", "-s", "-C", str(REPO), "images"], timeout=2400)


@pytest.fixture(scope="session")
def real_cluster(images):
    from devtools.cluster import Cluster

    cluster = Cluster(REPO / ".data" / f"real-cluster-{os.getpid()}")
    os.environ["REAL_PORT_MAP"] = ""  # the tests use free NodePorts; never shadow 127.0.0.1:8080
    started = time.monotonic()
    try:
        cluster.up(real=True, timeout=180)
    except BaseException:
        cluster.down()
        raise
    figure(step="cluster up with the real node (control plane, containerd, kubelet, kube-proxy, CoreDNS, "
                "images imported)", seconds=round(time.monotonic() - started, 1))
    real = RealCluster(cluster, free_node_port(), free_node_port())
    try:
        real.upgrade("helm install --wait --wait-for-jobs (real node)")
        yield real
    finally:
        started = time.monotonic()
        cluster.down()
        figure(step="cluster down", seconds=round(time.monotonic() - started, 1))
