"""The image: hadolint, a pinned slim base, non-root, both entry points, only runtime dependencies."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import tomllib
import zipfile

import pytest
from chart_env import REPO

pytestmark = pytest.mark.chart

DOCKERFILE = REPO / "Dockerfile"


def stages() -> dict[str, str]:
    """Stage name -> its instructions."""
    text = DOCKERFILE.read_text()
    parts = re.split(r"^FROM (\S+) AS (\S+)\n", text, flags=re.M)
    return {parts[i + 1]: parts[i + 2] for i in range(1, len(parts) - 1, 3)}


def requirement_name(line: str) -> str:
    return re.split(r"[\[<>=!~; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_hadolint_is_clean():
    hadolint = REPO / ".venv" / "bin" / "hadolint"
    if not hadolint.exists():
        if os.environ.get("CI"):
            pytest.fail("hadolint missing (.venv/bin/hadolint; make setup)")
        pytest.skip("hadolint missing (.venv/bin/hadolint; make setup)")
    proc = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_is_an_exact_slim_python_311():
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.M)
    assert match and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", match.group(1)), match
    froms = re.findall(r"^FROM (\S+) AS", DOCKERFILE.read_text(), re.M)
    assert all(f in ("${PYTHON_IMAGE}", "base") for f in froms), froms


def test_stages_and_default_target():
    names = list(stages())
    assert names == ["build", "base", "dev", "runtime"]
    assert stages()["runtime"].strip() == "", "runtime is base, unchanged, and the default (last) stage"


def test_runtime_is_non_root_with_a_numeric_user():
    base = stages()["base"]
    users = re.findall(r"^USER (\S+)$", base, re.M)
    assert users[-1] == "10001:10001"
    assert not re.search(r"^ENTRYPOINT", DOCKERFILE.read_text(), re.M), "Kubernetes args pick the entry point"
    assert re.search(r'^CMD \["payment-service", "serve"\]$', base, re.M)


def test_dev_stage_returns_to_the_app_user():
    users = re.findall(r"^USER (\S+)$", stages()["dev"], re.M)
    assert users[-1] == "10001:10001"


def test_image_installs_only_the_runtime_dependencies():
    """requirements/base.in (installed with lock.txt as constraints) == pyproject's dependencies."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared = {requirement_name(d) for d in pyproject["project"]["dependencies"]}
    base_in = (REPO / "requirements" / "base.in").read_text().splitlines()
    listed = {requirement_name(line) for line in base_in if line.strip() and not line.startswith("#")}
    assert listed == declared
    build = stages()["build"]
    assert "--constraint requirements/lock.txt -r requirements/base.in" in build
    assert "pip install --no-cache-dir --no-deps . && pip check" in build


def test_both_entry_points_are_console_scripts():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"payment-service", "payment-graphql"} <= set(scripts)


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip()[:1] not in ("", "#")]


def in_build_context(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore lets `path` into the build context (the last matching pattern wins)."""
    keep = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            keep = negate
    return keep


def copied_sources() -> list[str]:
    sources = []
    for args in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(), re.M):
        sources += [a for a in args.split()[:-1] if not a.startswith("--")]
    return sources


def test_copied_sources_exist_and_pass_dockerignore():
    patterns = dockerignore_patterns()
    sources = copied_sources()
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert in_build_context(source.rstrip("/"), patterns), f"{source} is excluded by .dockerignore"
    assert not in_build_context(".venv", patterns) and not in_build_context(".git", patterns)
    assert not in_build_context("tests", patterns)


# Dev tooling: the local stack, test and bench code, set-up scripts, Go tool modules.
DEV_TOOLING = ("devtools/", "tests/", "bench/", "scripts/", "tools/", "kind/", "Tiltfile", "Makefile", ".env")


def build_context() -> list[str]:
    """The tracked files .dockerignore lets into the image's build context."""
    patterns = dockerignore_patterns()
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [path for path in tracked.splitlines() if in_build_context(path, patterns) and (REPO / path).exists()]


def test_the_build_context_holds_no_dev_tooling():
    """Every tracked file that .dockerignore lets into the context is runtime code or its build inputs."""
    context = build_context()
    print(f"build context: {len(context)} tracked files")
    assert context, "nothing passes .dockerignore"
    assert (REPO / "devtools" / "devstack.py").is_file(), "the dev tooling this test keeps out is where it says"
    assert not [path for path in context if path.startswith(DEV_TOOLING)]
    assert not [path for path in context if path.rsplit("/", 1)[-1] in ("devstack.py", "envoy_config.py")]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory) -> list[str]:
    """The files of the wheel the image installs (`pip install --no-deps .` in the build context)."""
    context, out = tmp_path_factory.mktemp("context"), tmp_path_factory.mktemp("wheel")
    for path in build_context():
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / path, context / path)
    pip = [str(REPO / ".venv" / "bin" / "python"), "-m", "pip"]
    proc = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(context)],
                          capture_output=True, text=True, timeout=300, cwd=context)
    assert proc.returncode == 0, proc.stderr
    [wheel] = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_installed_package_holds_no_dev_tooling(wheel_files):
    packages = {name.split("/", 1)[0] for name in wheel_files if "/" in name and ".dist-info/" not in name}
    print(f"wheel: {len(wheel_files)} files, top-level packages {sorted(packages)}")
    assert packages == RUNTIME_PACKAGES
    assert not [name for name in wheel_files if name.rsplit("/", 1)[-1] in ("devstack.py", "envoy_config.py")]
    assert "service/migrations/versions/0001_initial.py" in wheel_files, "the runtime's own files are there"


RUNTIME_PACKAGES = {"service", "gateway", "common"}
