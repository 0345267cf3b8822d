"""`make cluster-up` / `make cluster-down` as a user runs them: a second cluster beside the session's,
on its own ports and data directory, and nothing left of it afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from devtools.cluster import KWOK_NODE, Cluster
from tests.chart.chart_env import REPO
from tests.cluster.kube import Kube

pytestmark = pytest.mark.cluster


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devtools.cluster", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_cluster_up_and_down_leave_no_process_and_no_data_behind(kube: Kube, tmp_path):
    data = tmp_path / "cluster"
    start = time.monotonic()
    up = cli("up", "--dir", str(data))
    assert up.returncode == 0, up.stderr
    print(f"cluster-up: {time.monotonic() - start:.1f} s")
    assert f"export KUBECONFIG={data / 'kubeconfig'}" in up.stdout
    state = json.loads((data / "state.json").read_text())
    ports = set(state["ports"].values())
    assert not ports & set(kube.cluster.ports.values()), "two clusters must not share a port"
    assert cli("up", "--dir", str(data)).returncode == 0, "up on a running cluster is a no-op"
    assert cli("status", "--dir", str(data)).returncode == 0

    second = Cluster(data)
    nodes = json.loads(second.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert [n["metadata"]["name"] for n in nodes] == [KWOK_NODE]
    version = json.loads(second.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    assert version == "v1.35.0"

    down = cli("down", "--dir", str(data))
    assert down.returncode == 0, down.stderr
    assert not data.exists()
    for proc in state["processes"]:
        assert not os.path.exists(f"/proc/{proc['pid']}") or Cluster._alive(proc) is False, proc
    assert cli("status", "--dir", str(data)).returncode == 1
    assert kube.kubectl("get", "nodes").ok(), "the session's cluster is untouched"
