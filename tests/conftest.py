"""Shared fixtures: real PostgreSQL, Redis and the local stack, started by the tests.

Each session starts its own private PostgreSQL cluster and Redis on free
ports (nothing needs to be running beforehand), applies the real migrations,
and stops everything at the end. Tests isolate themselves by using a fresh
merchant id each, since every query is scoped by merchant.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
import uuid

import pytest

from devtools.devstack import Postgres, free_port, redis_server

ROOT = pathlib.Path(__file__).resolve().parents[1]
IN_CI = bool(os.environ.get("CI"))

pytest_plugins = [p for p in ("tests.fixtures.stripe_mock",) if (ROOT / "tests/fixtures/stripe_mock.py").exists()]


def require(tool_found: bool, what: str) -> None:
    """Skip locally when a real component is missing; in CI a missing one fails."""
    if tool_found:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI (make setup installs it)")
    pytest.skip(f"{what} not installed (run make setup)")


@pytest.fixture(scope="session")
def work_dir() -> pathlib.Path:
    """A private directory for the session's servers, readable by the postgres user."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="payment-tests-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(work_dir) -> str:
    """URL of a private PostgreSQL cluster with the migrations applied."""
    from service.adapters.migrate import upgrade

    require(shutil.which("pg_ctl") is not None or any(pathlib.Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")),
            "PostgreSQL server binaries")
    cluster = Postgres(work_dir / "pg", free_port(), work_dir / "pglogs")
    cluster.start()
    upgrade(cluster.url)
    yield cluster.url
    cluster.stop()


@pytest.fixture(scope="session")
def redis_url(work_dir) -> str:
    require(shutil.which("redis-server") is not None, "redis-server")
    port = free_port()
    child = redis_server(port, work_dir / "redislogs")
    yield f"redis://127.0.0.1:{port}/0"
    child.stop()


@pytest.fixture
def merchant() -> str:
    return f"acct_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api_key(merchant) -> str:
    return f"sk_test_{uuid.uuid4().hex[:16]}"


FIGURES = ROOT / "build" / "test-figures.jsonl"


@pytest.fixture(scope="session", autouse=True)
def _fresh_figures():
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text("")
    yield


@pytest.fixture
def record():
    """Record a test's measured figures (printed at the end, kept in build/test-figures.jsonl)."""
    import json

    def write(name: str, **figures) -> None:
        with FIGURES.open("a") as out:
            out.write(json.dumps({"test": name, **figures}) + "\n")

    return write


def pytest_terminal_summary(terminalreporter):
    if FIGURES.exists() and FIGURES.read_text().strip():
        terminalreporter.section("measured figures")
        for line in FIGURES.read_text().splitlines():
            terminalreporter.write_line(line)
