"""The edge's own costs, side by side in one run: REST body validation (ext_authz to the edge
validator) and TLS.

The same creates go through three doors of the same stack: the stack's Envoy over plaintext
(validated), the same Envoy over TLS (validated), and a second Envoy from the same config with
only the validation switched off (ext_authz `filter_enabled` 0%). Reads (cache hits, never
validated) compare plaintext and TLS alone. The validator's check is also timed on its own.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx

from devtools.devstack import Child, find_tool, free_port, wait_for_port
from devtools.envoy_config import DEV_TLS, ENVOY_TEMPLATE, local_values, render

REQUESTS = int(os.environ.get("BENCH_EDGE_REQUESTS", "2000"))


async def run_phase(name: str, call: Callable[[int], Awaitable[None]], concurrency: int = 32) -> dict:
    """REQUESTS calls of ``call``, ``concurrency`` at a time, from this process (httpx / grpc.aio)."""
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            started = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*[one(i) for i in range(REQUESTS)])
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {"phase": name, "requests": len(latencies), "concurrency": concurrency,
            "rps": round(len(latencies) / elapsed, 1), "p50_ms": pct(0.50), "p95_ms": pct(0.95),
            "p99_ms": pct(0.99), "mean_ms": round(statistics.fmean(latencies) * 1000, 2)}


Phase = Callable[[str, Callable[[int], Awaitable[None]]], Awaitable[dict]]
BODY = {"amount": 1000, "currency": "USD", "customer_id": "cus_bench", "description": "bench",
        "metadata": {"order": "1", "channel": "web"}}


def unvalidated_envoy(env: dict, log_dir) -> tuple[Child, str]:
    """A second Envoy on envoy/envoy.yaml with the body validation off; returns it and its URL."""
    ports = {name: str(free_port()) for name in ("ENVOY_PORT", "ENVOY_ADMIN_PORT", "ENVOY_STATS_PORT",
                                                 "ENVOY_TLS_PORT")}
    template = ENVOY_TEMPLATE.read_text()
    marker = "stat_prefix: body_validation\n"
    assert template.count(marker) == 1, "envoy/envoy.yaml's ext_authz filter moved: update bench/edge.py"
    indent = template.split(marker)[0].rsplit("\n", 1)[1]
    template = template.replace(marker, marker + indent + "filter_enabled: {default_value: {numerator: 0}}\n")
    config = log_dir / "envoy-unvalidated.yaml"
    config.write_text(render(template, {**local_values(env), **ports}))
    child = Child("envoy-unvalidated", [find_tool("envoy"), "-c", str(config), "--log-level", "warn",
                                        "--base-id", ports["ENVOY_ADMIN_PORT"]], log_dir=log_dir)
    wait_for_port(int(ports["ENVOY_PORT"]), process=child)
    return child, f"http://127.0.0.1:{ports['ENVOY_PORT']}"


async def measure_edge(env: dict, log_dir, run_phase: Phase, auth: dict, concurrency: int) -> list[dict]:
    plain = f"http://127.0.0.1:{env['ENVOY_PORT']}"
    tls = f"https://localhost:{env['ENVOY_TLS_PORT']}"
    trust = ssl.create_default_context(cafile=str(DEV_TLS / "ca.crt"))
    child, unvalidated = unvalidated_envoy(env, log_dir)
    results, ids = [], []
    try:
        doors = [("validated, plaintext", plain, True), ("NOT validated, plaintext", unvalidated, True),
                 ("validated, TLS", tls, trust)]
        for label, base, verify in doors:
            async with httpx.AsyncClient(base_url=base, headers=auth, timeout=30, verify=verify,
                                         limits=httpx.Limits(max_connections=concurrency)) as client:
                async def create(i: int, client=client) -> None:
                    reply = await client.post("/v1/payments", json={**BODY, "amount": 1000 + i})
                    reply.raise_for_status()
                    ids.append(reply.json()["payment"]["payment_id"])

                results.append(await run_phase(f"edge_create ({label})", create))
        for label, base, verify in (("plaintext", plain, True), ("TLS", tls, trust)):
            async with httpx.AsyncClient(base_url=base, headers=auth, timeout=30, verify=verify,
                                         limits=httpx.Limits(max_connections=concurrency)) as client:
                async def get(i: int, client=client) -> None:
                    (await client.get(f"/v1/payments/{ids[i % len(ids)]}")).raise_for_status()

                results.append(await run_phase(f"edge_get ({label}, cache hits, no validation)", get))
    finally:
        child.stop()
    results.append(await check_alone(env, run_phase))
    by_name = {r["phase"]: r for r in results}

    def delta(a: str, b: str, key: str) -> float:
        return round(by_name[a][key] - by_name[b][key], 2)

    results.append({
        "phase": "edge costs (differences of the phases above, same run)",
        "validation_p50_ms": delta("edge_create (validated, plaintext)", "edge_create (NOT validated, plaintext)",
                                   "p50_ms"),
        "validation_p99_ms": delta("edge_create (validated, plaintext)", "edge_create (NOT validated, plaintext)",
                                   "p99_ms"),
        "tls_create_p50_ms": delta("edge_create (validated, TLS)", "edge_create (validated, plaintext)", "p50_ms"),
        "tls_get_p50_ms": delta("edge_get (TLS, cache hits, no validation)",
                                "edge_get (plaintext, cache hits, no validation)", "p50_ms"),
    })
    return results


async def check_alone(env: dict, run_phase: Phase) -> dict:
    """The validator's check for a typical create body, asked directly over loopback HTTP/1.1 as
    Envoy asks it (/check + the path, the raw body, keep-alive connections)."""
    import json

    body = json.dumps(BODY).encode()
    base = f"http://127.0.0.1:{env['EDGE_VALIDATOR_PORT']}"
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=httpx.Limits(max_connections=32)) as client:
        async def check(i: int) -> None:
            reply = await client.post("/check/v1/payments", content=body)
            assert reply.status_code == 200, reply.text

        result = await run_phase("validator_check (the edge validator alone, loopback HTTP/1.1)", check)
        one_at_a_time = []
        for _ in range(200):
            started = time.perf_counter()
            await check(0)
            one_at_a_time.append(time.perf_counter() - started)
        one_at_a_time.sort()
        result.update(sequential_p50_ms=round(one_at_a_time[100] * 1000, 2),
                      sequential_p99_ms=round(one_at_a_time[198] * 1000, 2))
        return result
