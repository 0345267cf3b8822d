"""The Redis cache's failure handling, without Redis: errors, slowness, the circuit breaker.

A scripted stand-in for the redis-py client makes every call fail, hang or
answer; the real Redis (and the Lua version check) is exercised in
tests/integration/test_cache.py.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from service.adapters.cache import CircuitBreaker, RedisPaymentCache, cache_key
from service.bootstrap import bootstrap
from service.config import Settings
from service.domain.model import CaptureMethod, Payment
from service.domain.snapshot import to_snapshot
from service.observability import metrics
from service.service_layer.dependencies import NoCache
from tests.fakes import MemoryUnitOfWork, SingleProcessor, Store

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedRedis:
    """Answers like redis-py's asyncio client, or fails/hangs when told to."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.mode = "ok"  # ok | down | slow
        self.calls = 0

    async def _answer(self, value):
        self.calls += 1
        if self.mode == "down":
            raise RedisConnectionError("Connection refused")
        if self.mode == "slow":
            await asyncio.sleep(5)
        return value

    async def get(self, key: str):
        return await self._answer(self.data.get(key))

    def register_script(self, source: str):
        async def run(keys, args):
            value, version = args[0], int(args[1])
            current = self.data.get(keys[0])
            if current is not None and json.loads(current)["version"] >= version:
                return await self._answer(0)
            result = await self._answer(1)
            self.data[keys[0]] = value
            return result

        return run

    async def aclose(self) -> None:
        return None


def payment(version: int = 1, payment_id: str = "pay_0123456789abcdef01234567") -> Payment:
    made = Payment.new(payment_id=payment_id, merchant_id="acct_unit", amount=1000, currency="USD",
                       capture_method=CaptureMethod.MANUAL, processor="fake")
    made.version = version
    return made


def sample(counter, **labels) -> float:
    return (counter.labels(**labels) if labels else counter)._value.get()


def cache_on(client: ScriptedRedis, clock: Clock | None = None) -> RedisPaymentCache:
    return RedisPaymentCache(client, 300, timeout=0.05, breaker=CircuitBreaker(clock=clock or Clock()))


def test_key_is_scoped_by_merchant():
    assert cache_key("acct_a", "pay_1") == "payment:acct_a:pay_1"


async def test_hit_after_changed_and_miss_before():
    client = ScriptedRedis()
    cache = cache_on(client)
    assert await cache.get("acct_unit", payment().payment_id) is None
    await cache.changed(payment(version=2))
    cached = await cache.get("acct_unit", payment().payment_id)
    assert cached is not None and cached.version == 2
    assert cache.state == "ok"


async def test_an_older_version_never_replaces_a_newer_one():
    client = ScriptedRedis()
    cache = cache_on(client)
    await cache.changed(payment(version=3))
    stale_before = sample(metrics.CACHE_STALE_WRITES)
    await cache.put(payment(version=2))
    assert (await cache.get("acct_unit", payment().payment_id)).version == 3
    assert sample(metrics.CACHE_STALE_WRITES) == stale_before + 1


async def test_redis_down_never_raises_and_counts_errors():
    client = ScriptedRedis()
    client.mode = "down"
    cache = cache_on(client)
    errors_before = sample(metrics.CACHE_ERRORS, operation="get", reason="connection")
    assert await cache.get("acct_unit", payment().payment_id) is None
    await cache.put(payment())
    await cache.changed(payment(version=2))
    assert sample(metrics.CACHE_ERRORS, operation="get", reason="connection") == errors_before + 1
    assert cache.state == "degraded"


async def test_a_slow_redis_costs_at_most_the_deadline():
    client = ScriptedRedis()
    client.mode = "slow"
    cache = cache_on(client)
    started = time.perf_counter()
    assert await cache.get("acct_unit", payment().payment_id) is None
    assert time.perf_counter() - started < 0.5
    assert sample(metrics.CACHE_ERRORS, operation="get", reason="timeout") >= 1


async def test_breaker_opens_then_lets_one_trial_through_after_the_backoff():
    client, clock = ScriptedRedis(), Clock()
    client.mode = "down"
    cache = cache_on(client, clock)
    for _ in range(3):
        await cache.get("acct_unit", "pay_x")
    assert cache.breaker.is_open and sample(metrics.CACHE_CIRCUIT_OPEN) == 1
    calls = client.calls
    for _ in range(20):
        await cache.get("acct_unit", "pay_x")
    assert client.calls == calls, "an open breaker must not call Redis"
    clock.now += 1.01
    await cache.get("acct_unit", "pay_x")  # the trial fails: open for twice as long
    assert client.calls == calls + 1 and cache.breaker.backoff == 2
    clock.now += 1.5
    await cache.get("acct_unit", "pay_x")
    assert client.calls == calls + 1
    client.mode = "ok"
    clock.now += 1
    await cache.get("acct_unit", "pay_x")
    assert not cache.breaker.is_open and cache.state == "ok"
    assert sample(metrics.CACHE_CIRCUIT_OPEN) == 0


async def test_a_change_lost_while_redis_was_down_is_replayed_and_bypassed_meanwhile():
    client, clock = ScriptedRedis(), Clock()
    cache = cache_on(client, clock)
    key = cache_key("acct_unit", payment().payment_id)
    client.data[key] = json.dumps(to_snapshot(payment(version=1)))
    client.mode = "down"
    await cache.changed(payment(version=2))
    assert cache.pending and cache.state == "degraded"
    client.mode = "ok"
    assert await cache.get("acct_unit", payment().payment_id) is None, "a payment with a lost change skips the cache"
    await cache.get("acct_unit", "pay_other")  # any successful call starts the replay
    await asyncio.sleep(0.05)
    assert not cache.pending and json.loads(client.data[key])["version"] == 2
    assert (await cache.get("acct_unit", payment().payment_id)).version == 2


async def test_an_unreadable_entry_is_a_miss():
    client = ScriptedRedis()
    client.data[cache_key("acct_unit", "pay_bad")] = "{not json"
    assert await cache_on(client).get("acct_unit", "pay_bad") is None


def test_bootstrap_uses_redis_only_when_redis_url_is_set():
    lookup = SingleProcessor(fake=object())
    plain = bootstrap(Settings(), uow=lambda: MemoryUnitOfWork(Store()), processors=lookup)
    assert isinstance(plain.deps.cache, NoCache)
    cached = bootstrap(Settings(redis_url="redis://127.0.0.1:1/0", cache_ttl_seconds=7),
                       uow=lambda: MemoryUnitOfWork(Store()), processors=lookup)
    assert isinstance(cached.deps.cache, RedisPaymentCache) and cached.deps.cache.ttl_ms == 7000
    assert cached.deps.cache.aclose in cached.closers
