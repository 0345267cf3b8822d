"""The Tiltfile, evaluated without a cluster against a recording stub of the Tilt API.

Tilt's language is Starlark, a Python dialect: the file is checked for
constructs Starlark lacks, then executed with fake builtins that record what
it registers. helm() renders through the real helm, so the resource names and
port-forwards are checked against what the chart actually produces.
"""

from __future__ import annotations

import ast
import os
import re
import tomllib

import pytest
import yaml
from chart_env import KUBE_VERSION, NAMESPACE, REPO

pytestmark = pytest.mark.chart

TILTFILE = REPO / "Tiltfile"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "CronJob"}
# Python constructs Starlark does not have.
NOT_STARLARK = (
    ast.JoinedStr,
    ast.While,
    ast.ClassDef,
    ast.Import,
    ast.ImportFrom,
    ast.Try,
    ast.With,
    ast.Global,
    ast.Nonlocal,
    ast.Yield,
    ast.Set,
    ast.AsyncFunctionDef,
    ast.Await,
)


class FakeTilt:
    def __init__(self, render_text):
        self.render_text = render_text
        self.builds: list[dict] = []
        self.local_resources: dict[str, dict] = {}
        self.resources: dict[str, dict] = {}
        self.helm_calls: list[dict] = []
        self.objects: list[dict] = []
        self.watched: list[str] = []

    def builtins(self) -> dict:
        def load(module, *names):
            assert module == "ext://restart_process" and names == ("docker_build_with_restart",), (module, names)
            namespace["docker_build_with_restart"] = self.docker_build_with_restart

        namespace = {
            "load": load,
            "local_resource": lambda name, **kw: self.local_resources.__setitem__(name, kw),
            "docker_build": lambda ref, context, **kw: self.builds.append({"ref": ref, "context": context, **kw}),
            "sync": lambda local, remote: ("sync", local, remote),
            "run": lambda cmd, trigger=None: ("run", cmd, trigger),
            "fall_back_on": lambda paths: ("fall_back_on", paths),
            "helm": self.helm,
            "k8s_yaml": lambda text: self.objects.extend(d for d in yaml.safe_load_all(text) if d),
            "watch_file": self.watched.append,
            "k8s_resource": lambda workload, **kw: self.resources.__setitem__(workload, kw),
            "TRIGGER_MODE_AUTO": "auto",
            "TRIGGER_MODE_MANUAL": "manual",
        }
        return namespace

    def docker_build_with_restart(self, ref, context, entrypoint, live_update, **kw):
        self.builds.append({"ref": ref, "context": context, "entrypoint": entrypoint, "live_update": live_update, **kw})

    def helm(self, path, name=None, values=(), set=()):
        self.helm_calls.append({"path": path, "name": name, "values": list(values), "set": list(set)})
        return self.render_text(path, name, list(values), list(set))


@pytest.fixture(scope="module")
def tilt(run_helm, chart_dir):
    def render_text(path, release, values, sets):
        # charts/payment as the other chart tests see it (symlinks resolved).
        chart = chart_dir if path == "charts/payment" else REPO / path
        args = ["template", release, str(chart), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
        for item in values:
            args += ["-f", str(REPO / item)]
        for item in sets:
            args += ["--set", item]
        return run_helm(*args).stdout

    fake = FakeTilt(render_text)
    exec(compile(TILTFILE.read_text(), str(TILTFILE), "exec"), fake.builtins())  # noqa: S102
    return fake


def test_tiltfile_is_starlark_compatible():
    tree = ast.parse(TILTFILE.read_text())
    offending = [type(node).__name__ for node in ast.walk(tree) if isinstance(node, NOT_STARLARK)]
    assert not offending


def test_image_is_built_from_the_dev_stage(tilt):
    (build,) = tilt.builds
    assert build["ref"] == "payment-service"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(rf"^FROM \S+ AS {build['target']}$", dockerfile, re.M)
    assert build["entrypoint"] == ["/usr/bin/env"], "the chart's args name the program"
    for path in build["only"]:
        assert (REPO / path).exists(), path


def test_live_update_syncs_existing_source_to_where_the_image_imports_it(tilt):
    (build,) = tilt.builds
    syncs = [step for step in build["live_update"] if step[0] == "sync"]
    assert syncs, "live_update must sync code"
    dockerfile = (REPO / "Dockerfile").read_text()
    dev_stage = dockerfile.split(f"AS {build['target']}\n", 1)[1].split("\nFROM ", 1)[0]
    for _, local, remote in syncs:
        assert (REPO / local).is_dir(), local
        assert f"COPY --chown=10001:10001 {local}/ {remote}/" in dev_stage
    assert "ENV PYTHONPATH=/app" in dev_stage
    restart_dir = os.path.dirname(build["restart_file"])
    assert f"install -d -o 10001 -g 10001 {restart_dir}" in dev_stage, "the restart file must be writable"


def test_every_runtime_package_is_built_and_live_synced(tilt):
    """The packages the wheel ships (pyproject's packages.find) are exactly the ones Tilt syncs."""
    (build,) = tilt.builds
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.removesuffix("*") for pattern in include}
    synced = {local for step, local, _ in (s for s in build["live_update"] if s[0] == "sync")}
    assert packages == synced and packages <= set(build["only"]), (packages, synced, build["only"])


def test_helm_renders_the_chart_with_dev_values(tilt):
    (call,) = tilt.helm_calls
    assert call["path"] == "charts/payment" and (REPO / call["path"] / "Chart.yaml").exists()
    assert all((REPO / v).exists() for v in call["values"])
    assert "image.repository=payment-service" in call["set"], "Tilt injects its build by image name"
    job = next(o for o in tilt.objects if o["kind"] == "Job")
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {}), "Tilt skips hooks"


def test_resources_name_rendered_workloads(tilt):
    workloads = {o["metadata"]["name"] for o in tilt.objects if o["kind"] in WORKLOAD_KINDS}
    assert set(tilt.resources) <= workloads, set(tilt.resources) - workloads
    known = workloads | set(tilt.local_resources)
    for name, spec in tilt.resources.items():
        assert set(spec.get("resource_deps", [])) <= known, name


def test_port_forwards_reach_listening_containers(tilt):
    forwards = {}
    for name, spec in tilt.resources.items():
        for forward in spec.get("port_forwards", []):
            local, _, remote = str(forward).partition(":")
            forwards[int(local)] = (name, int(remote or local))
    assert {8080, 8081, 8000} <= set(forwards)
    for local, (workload, remote) in forwards.items():
        obj = next(o for o in tilt.objects if o["metadata"]["name"] == workload and o["kind"] in WORKLOAD_KINDS)
        ports = [p["containerPort"] for c in obj["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
        assert remote in ports, (local, workload, ports)
    assert forwards[8080][0].endswith("-envoy")
    assert forwards[8081][0].endswith("-grpcui")
    assert forwards[8000][0].endswith("-graphql")


def test_code_generation_reruns_when_protos_change(tilt):
    generate = tilt.local_resources["generate"]
    assert generate["cmd"] == "make generate"
    assert "protos" in generate["deps"] and (REPO / "protos").is_dir()
    assert {"envoy/envoy.yaml", "envoy/payment.pb"} <= set(tilt.watched)


def test_make_generate_exists():
    makefile = REPO / "Makefile"
    if not makefile.exists():
        if os.environ.get("CI"):
            pytest.fail("Makefile missing")
        pytest.skip("Makefile not written yet")
    assert re.search(r"^generate:", makefile.read_text(), re.M)
