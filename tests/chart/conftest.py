"""Fixtures for the chart, image and dev-loop checks: a real helm, the chart, rendered manifests.

Everything runs offline. helm comes from $HELM or .tools/bin/helm; without it the
tests skip locally and FAIL when $CI is set, so CI can never pass by skipping.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

# Test modules import the small helpers next to this file, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chart_env import CHART, KUBE_VERSION, NAMESPACE, PLACEHOLDERS, RELEASE, REPO, VALUE_SETS  # noqa: E402
from chart_manifests import Manifests  # noqa: E402


def missing_or_skip(what: str) -> None:
    message = f"{what} is missing"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: chart checks must not be skipped)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def helm() -> str:
    path = os.environ.get("HELM") or str(REPO / ".tools" / "bin" / "helm")
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        missing_or_skip(f"helm ({path}; run make setup)")
    return path


def dangling_links(chart: Path) -> list[Path]:
    return [p for p in (chart / "files").iterdir() if p.is_symlink() and not p.exists()]


@pytest.fixture(scope="session")
def chart_dir() -> Path:
    """The chart as helm sees it: the real directory whenever its symlinks resolve."""
    dangling = dangling_links(CHART)
    if not dangling:
        yield CHART
        return
    if os.environ.get("CI") or any(p.name not in PLACEHOLDERS for p in dangling):
        pytest.fail(f"chart symlinks point at missing files: {[str(p.readlink()) for p in dangling]}")
    with tempfile.TemporaryDirectory(prefix="payment-chart-with-placeholders-") as tmp:
        copy = Path(tmp) / "payment"
        # Resolve the symlinks that work; copytree's own dangling check resolves
        # relative links against the cwd, so skip the dangling ones explicitly.
        shutil.copytree(CHART, copy, ignore=lambda d, names: [n for n in names if Path(d, n) in dangling])
        for link in dangling:
            (copy / "files" / link.name).write_text(PLACEHOLDERS[link.name])
        yield copy


@pytest.fixture(scope="session")
def run_helm(helm):
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([helm, *args], cwd=REPO, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def template(run_helm, chart_dir):
    """template(value files, set=[...]) -> CompletedProcess of `helm template` (not checked)."""

    def run(values: list[str], sets: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        args = ["template", RELEASE, str(chart_dir), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
        for path in values:
            args += ["-f", str(REPO / path)]
        for item in sets:
            args += ["--set", item]
        return run_helm(*args, check=False)

    return run


@pytest.fixture(scope="session")
def render(template):
    """render(name) -> Manifests for one of VALUE_SETS (cached for the session)."""

    @functools.cache
    def rendered(name: str, sets: tuple[str, ...] = ()) -> Manifests:
        proc = template(VALUE_SETS[name], sets)
        if proc.returncode != 0:
            pytest.fail(f"helm template ({name}) failed:\n{proc.stderr}")
        return Manifests([doc for doc in yaml.safe_load_all(proc.stdout) if doc])

    return rendered


@pytest.fixture(params=sorted(VALUE_SETS))
def value_set(request) -> str:
    return request.param
