"""`payment-service serve --workers N`: N processes on one port under one supervisor (issue 11).

Real processes on the real PostgreSQL: the kernel spreads connections over the workers
(SO_REUSEPORT), the supervisor's METRICS_PORT adds the workers' metrics up, SIGTERM drains
and exits 0, and a supervisor killed outright or a worker that dies leaves nothing serving.
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devtools.devstack import free_port, wait_for_port
from service.gen.payment.v1 import payment_pb2 as pb
from service.gen.payment.v1 import payment_pb2_grpc

from .conftest import API_KEYS, auth

pytestmark = pytest.mark.integration


class Supervisor:
    def __init__(self, database_url: str, log_dir: pathlib.Path, workers: int) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        self.log_path = log_dir / f"workers-{self.port}.log"
        env = {**os.environ, "DATABASE_URL": database_url, "GRPC_HOST": "127.0.0.1", "GRPC_PORT": str(self.port),
               "METRICS_PORT": str(self.metrics_port), "LOG_LEVEL": "INFO", "SHUTDOWN_GRACE_SECONDS": "2",
               "API_KEYS": ",".join(f"{k}={v}" for k, v in API_KEYS.items())}
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen([sys.executable, "-m", "service.entrypoints.cli", "serve", "--workers",
                                           str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=60)
        deadline = time.monotonic() + 60
        while len(self.workers()) < workers or not self._metrics_up():
            assert time.monotonic() < deadline, self.log_path.read_text()[-2000:]
            time.sleep(0.2)

    def workers(self) -> list[int]:
        return [int(p) for p in _read(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children").split()]

    def _metrics_up(self) -> bool:
        try:
            self.scrape()
            return True
        except OSError:
            return False

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as reply:
            return reply.read().decode()

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.terminate()
        return self.popen.wait(30)


def _read(path: str) -> str:
    try:
        return pathlib.Path(path).read_text()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    state = _read(f"/proc/{pid}/stat")
    return bool(state) and state.rsplit(")", 1)[1].split()[0] != "Z"


def connections_by_pid(port: int, pids: list[int]) -> dict[int, int]:
    """Established TCP connections on the server side of ``port``, per owning process (from /proc)."""
    inodes = set()
    lines = [line for table in ("tcp", "tcp6") for line in _read(f"/proc/net/{table}").splitlines()[1:]]
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[1].rsplit(":", 1)[1] == f"{port:04X}" and fields[3] == "01":
            inodes.add(fields[9])
    counts = {}
    for pid in pids:
        owned = 0
        for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            owned += bool(match and match.group(1) in inodes)
        counts[pid] = owned
    return counts


def handled(text: str, method: str) -> float:
    pattern = rf'^grpc_server_handled_total\{{[^}}]*grpc_code="OK"[^}}]*grpc_method="{method}"[^}}]*\}} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.M))


async def test_two_workers_share_the_port_and_the_supervisor_sums_their_metrics(postgres, work_dir, key):
    supervisor = Supervisor(postgres, work_dir, workers=2)
    try:
        workers = supervisor.workers()
        assert len(workers) == 2
        before = handled(supervisor.scrape(), "CreatePayment")
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{supervisor.port}",
                                              options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(16)]
        for i, channel in enumerate(channels):
            reply = await payment_pb2_grpc.PaymentServiceStub(channel).CreatePayment(
                pb.CreatePaymentRequest(amount=100 + i, currency="USD"), metadata=auth(key))
            assert reply.payment.status == pb.REQUIRES_CAPTURE
        spread = connections_by_pid(supervisor.port, workers)
        print(f"connections per worker: {spread}")
        assert sum(spread.values()) == 16 and all(spread.values()), spread
        after = handled(supervisor.scrape(), "CreatePayment")
        assert after - before == 16, (before, after)
        for channel in channels:
            await channel.close()
    finally:
        assert supervisor.stop() == 0, supervisor.log_path.read_text()[-2000:]
    assert not any(_alive(pid) for pid in workers)


async def test_health_is_answered_by_every_worker_from_its_own_database_check(postgres, work_dir):
    supervisor = Supervisor(postgres, work_dir, workers=2)
    try:
        for _ in range(8):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{supervisor.port}",
                                                 options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        supervisor.stop()


def test_a_supervisor_killed_outright_takes_its_workers_with_it(postgres, work_dir):
    supervisor = Supervisor(postgres, work_dir, workers=2)
    workers = supervisor.workers()
    supervisor.popen.send_signal(signal.SIGKILL)
    supervisor.popen.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "workers outlived their supervisor"
        time.sleep(0.1)


def test_a_worker_that_dies_stops_the_whole_server_with_an_error(postgres, work_dir):
    supervisor = Supervisor(postgres, work_dir, workers=2)
    first, second = supervisor.workers()
    os.kill(first, signal.SIGKILL)
    assert supervisor.popen.wait(30) == 1
    assert not _alive(second)
    assert "worker died" in supervisor.log_path.read_text()
