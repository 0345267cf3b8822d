"""Rate limits per API key and route class at Envoy: 429 with Retry-After and a google.rpc.Status
carrying RetryInfo; one merchant flooding never limits another.

The test starts its own Envoy (the same envoy/envoy.yaml, low limits) in front of the session's
service and validator, so the other tests keep the default limits. All traffic is on loopback
and every flood is a fixed number of requests.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import grpc
import httpx
import pytest

from devtools.devstack import envoy, free_port
from devtools.envoy_config import local_values
from service.gen.payment.v1 import payment_pb2 as pb
from service.gen.payment.v1 import payment_pb2_grpc
from tests.e2e.conftest import MERCHANTS, _next_merchant

pytestmark = pytest.mark.e2e

LIMITS = {"RATE_LIMIT_MUTATIONS_PER_SECOND": "5", "RATE_LIMIT_READS_PER_SECOND": "10",
          "RATE_LIMIT_WEBHOOKS_PER_SECOND": "3"}
FLOOD = 60


@pytest.fixture(scope="module")
def limited(stack, tmp_path_factory):
    """An Envoy with low limits: (base url, admin url, its log file)."""
    log_dir = tmp_path_factory.mktemp("limited-envoy")
    ports = {name: str(free_port()) for name in ("ENVOY_PORT", "ENVOY_ADMIN_PORT", "ENVOY_STATS_PORT",
                                                 "ENVOY_TLS_PORT")}
    values = {**local_values(stack.env), **ports, **LIMITS}
    child = envoy(values, log_dir)
    yield (f"http://127.0.0.1:{ports['ENVOY_PORT']}", f"http://127.0.0.1:{ports['ENVOY_ADMIN_PORT']}",
           log_dir / "envoy.log")
    child.stop()


def fresh_key() -> str:
    """A merchant's key no other test uses (the e2e pool)."""
    index = next(_next_merchant)
    assert index < MERCHANTS, "raise MERCHANTS in tests/e2e/conftest.py"
    return f"sk_e2e_{index}"


async def burst(client: httpx.AsyncClient, count: int, method: str, path: str, key: str | None,
                headers: dict | None = None, **kwargs) -> list[httpx.Response]:
    headers = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    return await asyncio.gather(*[client.request(method, path, headers=headers, **kwargs) for _ in range(count)])


def assert_rate_limited(reply: httpx.Response) -> None:
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "1"
    body = reply.json()
    assert body["code"] == 8 and "rate limit" in body["message"]
    assert body["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retry_delay": "1s"}]


def test_one_merchant_flooding_does_not_limit_or_slow_another(limited, record):
    base, _, _ = limited
    flooder, other = fresh_key(), fresh_key()

    async def run():
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=80)) as client:
            quiet = [(await timed(client, other)) for _ in range(5)]
            await asyncio.sleep(1.1)  # a full bucket for both
            flood = asyncio.gather(burst(client, FLOOD, "GET", "/v1/payments?page_size=1", flooder))
            during = [(await timed(client, other)) for _ in range(5)]
            return quiet, during, await flood

    async def timed(client, key):
        started = time.perf_counter()
        reply = await client.get("/v1/payments?page_size=1", headers={"Authorization": f"Bearer {key}"})
        return reply.status_code, time.perf_counter() - started

    quiet, during, (flooded,) = asyncio.run(run())
    codes = [r.status_code for r in flooded]
    assert codes.count(429) >= FLOOD - 2 * 10, codes  # at most a bucket plus a refill got through
    assert set(codes) <= {200, 429}
    assert_rate_limited(next(r for r in flooded if r.status_code == 429))
    assert [code for code, _ in quiet + during] == [200] * 10, "the other merchant was limited"
    record("one merchant floods reads (limit 10/s per key), another reads meanwhile",
           flood=FLOOD, flood_429=codes.count(429), other_429=0,
           other_median_ms_before=round(statistics.median(t for _, t in quiet) * 1000, 1),
           other_median_ms_during=round(statistics.median(t for _, t in during) * 1000, 1))


def test_route_classes_have_separate_buckets(limited):
    base, _, _ = limited
    key = fresh_key()

    async def run():
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=80)) as client:
            reads = await burst(client, 40, "GET", "/v1/payments?page_size=1", key)
            create = await client.post("/v1/payments", json={"amount": 100, "currency": "USD"},
                                       headers={"Authorization": f"Bearer {key}"})
            await asyncio.sleep(1.1)
            mutations = await burst(client, 20, "POST", "/v1/payments", key, json={"amount": 100, "currency": "USD"})
            hooks = await burst(client, 15, "POST", "/webhooks/stripe", None, content=b"{}",
                                headers={"Stripe-Signature": "t=1,v1=00"})
            return reads, create, mutations, hooks

    reads, create, mutations, hooks = asyncio.run(run())
    assert 429 in [r.status_code for r in reads]
    assert create.status_code == 200, "reads used up their own bucket, not the mutations'"
    assert [r.status_code for r in mutations].count(429) >= 20 - 2 * 5
    assert_rate_limited(next(r for r in mutations if r.status_code == 429))
    assert [r.status_code for r in hooks].count(429) >= 15 - 2 * 3
    assert_rate_limited(next(r for r in hooks if r.status_code == 429))


def test_native_grpc_is_limited_as_resource_exhausted(limited):
    base, _, _ = limited
    target, key = base.removeprefix("http://"), fresh_key()

    async def run():
        async with grpc.aio.insecure_channel(target) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            metadata = (("authorization", f"Bearer {key}"),)

            async def one():
                try:
                    await stub.ListPayments(pb.ListPaymentsRequest(page_size=1), metadata=metadata, timeout=30)
                    return grpc.StatusCode.OK
                except grpc.aio.AioRpcError as exc:
                    return exc.code()

            return await asyncio.gather(*[one() for _ in range(40)])

    codes = asyncio.run(run())
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 40 - 2 * 10


def test_the_key_never_appears_in_stats_or_logs(limited):
    base, admin, log = limited
    key = fresh_key()

    async def run():
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=80)) as client:
            return await burst(client, 30, "GET", "/v1/payments?page_size=1", key)

    assert 429 in [r.status_code for r in asyncio.run(run())]
    for path in ("/stats", "/stats/prometheus"):
        stats = httpx.get(admin + path, timeout=10).text
        assert "rate_limited" in stats and key not in stats
    time.sleep(1)
    assert key not in log.read_text()
