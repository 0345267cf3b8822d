"""Integration fixtures: the real gRPC server on real PostgreSQL.

`api` runs the server in-process (bound to port 0); `server_processes` runs
several `payment-service serve` processes on one database, as replicas would.
"""

from __future__ import annotations

import itertools
import json
import os
import pathlib
import signal
import subprocess
import sys

import grpc
import pytest

from devtools.devstack import free_port, wait_for_port
from service.bootstrap import bootstrap
from service.config import Settings
from service.entrypoints.grpc.server import create_server
from service.gen.payment.v1 import payment_pb2_grpc

MERCHANTS = 200
API_KEYS = {f"sk_it_{i}": f"acct_it_{i}" for i in range(MERCHANTS)}
_next = itertools.count()


@pytest.fixture
def key() -> str:
    """An API key (and so a merchant) no other test uses."""
    index = next(_next)
    assert index < MERCHANTS, "raise MERCHANTS in tests/integration/conftest.py"
    return f"sk_it_{index}"


def auth(key: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"), *((k.replace("_", "-"), v) for k, v in extra.items()))


class Api:
    def __init__(self, channel: grpc.aio.Channel, app) -> None:
        self.channel = channel
        self.stub = payment_pb2_grpc.PaymentServiceStub(channel)
        self.app = app


@pytest.fixture(scope="session")
async def api(postgres):
    settings = Settings(database_url=postgres, api_keys=API_KEYS, shutdown_grace_seconds=1)
    app = bootstrap(settings)
    server, port, health = create_server(app, "127.0.0.1:0")
    await server.start()
    await health.refresh()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Api(channel, app)
    await channel.close()
    await server.stop(1)
    await app.close()


class ServerProcess:
    def __init__(self, database_url: str, log_dir: pathlib.Path, name: str, **extra_env: str) -> None:
        self.port = free_port()
        self.log = (log_dir / f"{name}.log").open("ab")
        env = {**os.environ, "DATABASE_URL": database_url, "GRPC_PORT": str(self.port),
               "GRPC_HOST": "127.0.0.1", "METRICS_PORT": str(free_port()),
               "API_KEYS": ",".join(f"{k}={v}" for k, v in API_KEYS.items()), "LOG_LEVEL": "WARNING", **extra_env}
        self.popen = subprocess.Popen([sys.executable, "-m", "service.entrypoints.cli", "serve"], env=env,
                                      stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=30)
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = payment_pb2_grpc.PaymentServiceStub(self.channel)

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    async def close(self) -> None:
        await self.channel.close()
        if self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(20)
        self.log.close()


@pytest.fixture
async def server_processes(postgres, work_dir):
    """Start N separate server processes on the same database."""
    started: list[ServerProcess] = []

    def start(count: int, **env: str) -> list[ServerProcess]:
        new = [ServerProcess(postgres, work_dir, f"replica-{len(started) + i}", **env) for i in range(count)]
        started.extend(new)
        return new

    yield start
    for process in started:
        await process.close()


@pytest.fixture
def audited(postgres, key, record, request):
    """After the test: `payment-service audit` (the real command) over the test's merchant must
    report 0 drifts, the in-house ledger's view included. Its JSON output is kept in the figures."""
    yield
    merchant = API_KEYS[key]
    env = {**os.environ, "DATABASE_URL": postgres, "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "service.entrypoints.cli", "audit", "--merchant", merchant],
                          env=env, capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    record(f"audit after {request.node.name}", examined=report["examined"],
           compared_with_processor=report["compared_with_processor"], drifts=report["drift_count"])
    assert (done.returncode, report["drifts"]) == (0, []), done.stdout + done.stderr
