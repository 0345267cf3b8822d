"""Rate limits per API key and route class at Envoy: 429 with Retry-After and a google.rpc.Status
carrying RetryInfo; one merchant flooding never limits another.

The test starts its own Envoy (the same envoy/envoy.yaml, low limits) in front of the session's
service and validator, so the other tests keep the default limits. All traffic is on loopback
and every flood is a fixed number of requests.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import subprocess
import sys
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

# Low enough that a loaded machine still sends faster than this; assertions bound what got
# through by the time the burst actually took (a full bucket, plus a refill per second).
MUTATIONS, READS, WEBHOOKS = 2, 3, 2
LIMITS = {"RATE_LIMIT_MUTATIONS_PER_SECOND": str(MUTATIONS), "RATE_LIMIT_READS_PER_SECOND": str(READS),
          "RATE_LIMIT_WEBHOOKS_PER_SECOND": str(WEBHOOKS)}
FLOOD = 60
FLOOD_PROCESS = 300


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


class Burst(list):
    """The replies of one burst, and how long it took from first send to last reply."""

    seconds: float = 0.0

    @property
    def codes(self) -> list[int]:
        return [reply.status_code for reply in self]

    def assert_limited_to(self, per_second: int, passed: int = 200) -> None:
        """Some 429s, and no more got through (`passed`: the service's answer) than the bucket allows."""
        codes = self.codes
        assert set(codes) <= {passed, 429}, codes
        allowed = per_second * (math.ceil(self.seconds) + 1)
        assert 429 in codes and codes.count(passed) <= allowed, (codes.count(passed), allowed, self.seconds)


async def burst(client: httpx.AsyncClient, count: int, method: str, path: str, key: str | None,
                headers: dict | None = None, **kwargs) -> Burst:
    headers = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    started = time.monotonic()
    replies = Burst(await asyncio.gather(*[client.request(method, path, headers=headers, **kwargs)
                                           for _ in range(count)]))
    replies.seconds = time.monotonic() - started
    return replies


def assert_rate_limited(reply: httpx.Response) -> None:
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "1"
    body = reply.json()
    assert body["code"] == 8 and "rate limit" in body["message"]
    assert body["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retry_delay": "1s"}]


FLOODER = """
import asyncio, collections, json, sys
import httpx

async def main(base, key, count):
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=40)) as client:
        replies = await asyncio.gather(*[client.get("/v1/payments?page_size=1", headers=headers)
                                         for _ in range(count)])
    print(json.dumps(collections.Counter(r.status_code for r in replies)))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def test_one_merchant_flooding_does_not_limit_or_slow_another(limited, record):
    """The flood runs in its own process, so the other merchant's timings are not the test's own
    event loop queueing behind the flood's requests."""
    base, _, _ = limited
    flooder, other = fresh_key(), fresh_key()

    def timed() -> tuple[int, float]:
        started = time.perf_counter()
        reply = httpx.get(f"{base}/v1/payments?page_size=1", headers={"Authorization": f"Bearer {other}"},
                          timeout=30)
        return reply.status_code, time.perf_counter() - started

    def paced() -> tuple[int, float]:  # the other merchant stays under its own 3/s
        result = timed()
        time.sleep(0.5)
        return result

    quiet = [paced() for _ in range(4)]
    time.sleep(1.1)  # a full bucket for both
    started = time.monotonic()
    flood = subprocess.Popen([sys.executable, "-c", FLOODER, base, flooder, str(FLOOD_PROCESS)],
                             stdout=subprocess.PIPE, text=True)
    during = []
    while flood.poll() is None and len(during) < 40:
        during.append(paced())
    out, _ = flood.communicate(timeout=120)
    seconds = time.monotonic() - started
    codes = {int(code): count for code, count in json.loads(out).items()}
    assert set(codes) <= {200, 429}, codes
    assert codes.get(200, 0) <= READS * (math.ceil(seconds) + 1), (codes, seconds)
    assert [code for code, _ in quiet + during] == [200] * len(quiet + during), "the other merchant was limited"
    record("one merchant floods reads from another process (limit 3/s per key); another reads meanwhile",
           flood=FLOOD_PROCESS, flood_seconds=round(seconds, 1), flood_200=codes.get(200, 0),
           flood_429=codes.get(429, 0),
           other_requests_during=len(during), other_429=0,
           other_median_ms_before=round(statistics.median(t for _, t in quiet) * 1000, 1),
           other_median_ms_during=round(statistics.median(t for _, t in during) * 1000, 1) if during else None)


def test_a_flood_gets_429s_with_retry_info(limited):
    base, _, _ = limited

    async def run():
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=80)) as client:
            return await burst(client, FLOOD, "GET", "/v1/payments?page_size=1", fresh_key())

    flooded = asyncio.run(run())
    flooded.assert_limited_to(READS)
    assert_rate_limited(next(r for r in flooded if r.status_code == 429))


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
    reads.assert_limited_to(READS)
    assert create.status_code == 200, "reads used up their own bucket, not the mutations'"
    mutations.assert_limited_to(MUTATIONS)
    assert_rate_limited(next(r for r in mutations if r.status_code == 429))
    hooks.assert_limited_to(WEBHOOKS, passed=400)  # a bad signature: the service's 400
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

            started = time.monotonic()
            codes = await asyncio.gather(*[one() for _ in range(40)])
            return codes, time.monotonic() - started

    codes, seconds = asyncio.run(run())
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert codes.count(grpc.StatusCode.OK) <= READS * (math.ceil(seconds) + 1), (codes, seconds)


def test_the_key_never_appears_in_stats_or_logs(limited):
    base, admin, log = limited
    key = fresh_key()

    async def run():
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=80)) as client:
            return await burst(client, 30, "GET", "/v1/payments?page_size=1", key)

    asyncio.run(run()).assert_limited_to(READS)
    for path in ("/stats", "/stats/prometheus"):
        stats = httpx.get(admin + path, timeout=10).text
        assert "rate_limited" in stats and key not in stats
    time.sleep(1)
    assert key not in log.read_text()
