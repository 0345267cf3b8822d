"""`make bench`: latency, throughput and memory of the real local stack.

Starts the same LocalStack as `make run` on free ports (PostgreSQL, Redis,
payment service, Envoy; GraphQL off), then drives it from this process:
creates over REST through Envoy, GetPayment over REST (cache hits), and
CreatePayment over native gRPC straight to the service. Prints one JSON
document with p50/p95/p99 latencies, requests per second and the payment
service's resident memory. Then the edge's own costs side by side (bench/edge.py): body
validation on and off, plaintext and TLS. Bounded: a fixed number of requests per phase.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

import grpc
import httpx

from bench.edge import measure_edge
from devtools.devstack import LocalStack, free_port
from service.gen.payment.v1 import payment_pb2 as pb
from service.gen.payment.v1 import payment_pb2_grpc

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
KEY = "sk_bench"
AUTH = {"Authorization": f"Bearer {KEY}"}


def summary(name: str, latencies: list[float], elapsed: float) -> dict:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {"phase": name, "requests": len(latencies), "concurrency": CONCURRENCY,
            "rps": round(len(latencies) / elapsed, 1), "p50_ms": pct(0.50), "p95_ms": pct(0.95),
            "p99_ms": pct(0.99), "mean_ms": round(statistics.fmean(latencies) * 1000, 2)}


async def run_phase(name: str, call) -> dict:
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with semaphore:
            started = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*[one(i) for i in range(REQUESTS)])
    return summary(name, latencies, time.perf_counter() - started)


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def measure(stack: LocalStack) -> list[dict]:
    rest = stack.urls["rest"]
    results = []
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=rest, headers=AUTH, timeout=30,
                                 limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        async def create(i: int) -> None:
            reply = await client.post("/v1/payments", json={"amount": 1000 + i, "currency": "USD"},
                                      headers={"Idempotency-Key": f"bench-{time.time_ns()}-{i}"})
            reply.raise_for_status()
            ids.append(reply.json()["payment"]["payment_id"])

        results.append(await run_phase("rest_create (Envoy -> gRPC -> PostgreSQL + in-house processor)", create))

        async def get(i: int) -> None:
            (await client.get(f"/v1/payments/{ids[i % len(ids)]}")).raise_for_status()

        results.append(await run_phase("rest_get (Envoy -> gRPC -> Redis cache)", get))
    grpc_port = stack.env["GRPC_PORT"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = payment_pb2_grpc.PaymentServiceStub(channel)

        async def grpc_create(i: int) -> None:
            await stub.CreatePayment(pb.CreatePaymentRequest(amount=500 + i, currency="EUR"),
                                     metadata=(("authorization", f"Bearer {KEY}"),))

        results.append(await run_phase("grpc_create (direct to the service)", grpc_create))
    service = next(c for c in stack.children if c.name == "payment-service")
    results.append({"phase": "memory", "payment_service_rss_mib": rss_mib(service.popen.pid)})
    return results


def main() -> int:
    work = pathlib.Path(tempfile.mkdtemp(prefix="payment-bench-"))
    work.chmod(0o755)
    ports = {name: str(free_port()) for name in ("GRPC_PORT", "ENVOY_PORT", "ENVOY_ADMIN_PORT", "ENVOY_STATS_PORT",
                                                  "METRICS_PORT", "POSTGRES_PORT", "REDIS_PORT", "EDGE_VALIDATOR_PORT",
                                                  "GRAPHQL_PORT", "GRAPHQL_METRICS_PORT", "ENVOY_TLS_PORT")}
    env = {"API_KEYS": f"{KEY}=acct_bench", "LOCAL_GRAPHQL": "off", "LOCAL_GRPCUI": "off", "LOG_LEVEL": "WARNING",
           "DATABASE_URL": "", "REDIS_URL": "", **ports,
           # The bench measures the stack, not Envoy's per-key rate limits.
           "RATE_LIMIT_MUTATIONS_PER_SECOND": "1000000", "RATE_LIMIT_READS_PER_SECOND": "1000000",
           "RATE_LIMIT_WEBHOOKS_PER_SECOND": "1000000"}
    stack = LocalStack(env, data_dir=work / "data", log_dir=work / "logs").start()
    try:
        results = asyncio.run(measure(stack))
        results += asyncio.run(measure_edge(stack.env, work / "logs", run_phase, AUTH, CONCURRENCY))
    finally:
        stack.stop()
    print(json.dumps({"machine": {"cpus": os.cpu_count()}, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
