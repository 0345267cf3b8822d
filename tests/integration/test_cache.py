"""The Redis cache on real PostgreSQL and a real redis-server, through the real use cases.

- a hit runs no SQL (statements counted with SQLAlchemy's before_cursor_execute);
- what GetPayment reads through the cache is fresh after capture, refunds and cancel;
- a reader holding an old row cannot overwrite a newer entry (the version check);
- killing Redis mid-run fails no request, and the cache comes back when Redis does.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Iterator

import grpc
import pytest
from redis.asyncio import Redis
from sqlalchemy import event

from devtools.devstack import free_port, redis_server
from service.adapters.cache import RedisPaymentCache, cache_key
from service.bootstrap import bootstrap
from service.config import Settings
from service.domain.model import CaptureMethod, Status
from service.entrypoints.grpc.server import create_server
from service.gen.payment.v1 import payment_pb2 as pb
from service.gen.payment.v1 import payment_pb2_grpc
from service.observability import metrics
from service.service_layer import handlers
from service.service_layer.commands import Action, CreatePayment, GetPayment, ProcessPayment

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def app(postgres, redis_url):
    app = bootstrap(Settings(database_url=postgres, redis_url=redis_url))
    yield app
    await app.close()


@pytest.fixture(scope="module")
async def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@contextlib.contextmanager
def sql_statements(app) -> Iterator[list[str]]:
    """Every SQL statement the app's engine runs inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(app.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", record)


async def create(app, merchant: str, capture: CaptureMethod = CaptureMethod.MANUAL):
    return await handlers.create_payment(CreatePayment(merchant, 1000, "USD", capture_method=capture), app.deps)


async def process(app, payment, action: Action, amount: int | None = None):
    return await handlers.process_payment(
        ProcessPayment(payment.merchant_id, payment.payment_id, action, amount=amount), app.deps)


async def cached_read(app, payment):
    """GetPayment, asserting it was answered by the cache alone."""
    with sql_statements(app) as statements:
        read = await handlers.get_payment(GetPayment(payment.merchant_id, payment.payment_id), app.deps)
    assert statements == [], f"a cache hit ran SQL: {statements}"
    return read


async def test_a_cache_hit_runs_no_sql(app, redis, merchant):
    payment = await create(app, merchant)
    await redis.delete(cache_key(merchant, payment.payment_id))
    hits = metrics.CACHE_HITS._value.get()
    with sql_statements(app) as statements:
        first = await handlers.get_payment(GetPayment(merchant, payment.payment_id), app.deps)
    assert statements, "a miss reads PostgreSQL"
    second = await cached_read(app, payment)
    assert second == first and metrics.CACHE_HITS._value.get() == hits + 1


async def test_entries_are_scoped_by_merchant_and_expire_after_the_ttl(app, redis, merchant):
    payment = await create(app, merchant)
    stored = json.loads(await redis.get(f"payment:{merchant}:{payment.payment_id}"))
    assert stored["payment_id"] == payment.payment_id and stored["version"] == payment.version
    assert 290_000 < await redis.pttl(cache_key(merchant, payment.payment_id)) <= 300_000
    with pytest.raises(Exception, match="not found"):
        await handlers.get_payment(GetPayment("acct_someone_else", payment.payment_id), app.deps)


async def test_ttl_is_configurable(postgres, redis_url, redis, merchant):
    short = bootstrap(Settings(database_url=postgres, redis_url=redis_url, cache_ttl_seconds=7))
    try:
        payment = await create(short, merchant)
        assert 0 < await redis.pttl(cache_key(merchant, payment.payment_id)) <= 7000
    finally:
        await short.close()


async def test_reads_are_fresh_after_capture_and_refunds(app, merchant):
    payment = await create(app, merchant)
    assert (await cached_read(app, payment)).status is Status.REQUIRES_CAPTURE
    await process(app, payment, Action.CAPTURE)
    assert (await cached_read(app, payment)).status is Status.CAPTURED
    await process(app, payment, Action.REFUND, amount=300)
    read = await cached_read(app, payment)
    assert (read.status, read.amount_refunded) == (Status.PARTIALLY_REFUNDED, 300)
    await process(app, payment, Action.REFUND)
    read = await cached_read(app, payment)
    assert (read.status, read.amount_refunded) == (Status.REFUNDED, 1000)


async def test_reads_are_fresh_after_cancel_and_automatic_capture(app, merchant):
    payment = await create(app, merchant)
    await cached_read(app, payment)
    await process(app, payment, Action.CANCEL)
    assert (await cached_read(app, payment)).status is Status.CANCELED
    automatic = await create(app, merchant, CaptureMethod.AUTOMATIC)
    assert (await cached_read(app, automatic)).status is Status.CAPTURED


async def test_a_reader_holding_an_old_row_cannot_overwrite_a_newer_entry(app, redis, merchant):
    payment = await create(app, merchant)
    async with app.deps.uow() as uow:  # a slow reader loads the row ...
        old = await uow.payments.get(merchant, payment.payment_id)
    await process(app, payment, Action.CAPTURE)  # ... a writer commits a newer version ...
    stale = metrics.CACHE_STALE_WRITES._value.get()
    await app.deps.cache.put(old)  # ... then the reader fills the cache with what it read
    assert metrics.CACHE_STALE_WRITES._value.get() == stale + 1
    assert (await cached_read(app, payment)).status is Status.CAPTURED
    stored = json.loads(await redis.get(cache_key(merchant, payment.payment_id)))
    assert stored["version"] > old.version


# ---- Redis dies mid-run ---------------------------------------------------------------------------


class OwnRedis:
    """A redis-server child on a fixed port that the test can kill and start again."""

    def __init__(self, log_dir) -> None:
        self.port, self.log_dir = free_port(), log_dir
        self.child = redis_server(self.port, log_dir)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        self.child.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.child = redis_server(self.port, self.log_dir)


@pytest.fixture
async def server_with_own_redis(postgres, work_dir):
    redis = OwnRedis(work_dir / "own-redis")
    app = bootstrap(Settings(database_url=postgres, redis_url=redis.url, api_keys={"sk_cache_kill": "acct_kill"}))
    server, port, _ = create_server(app, "127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield redis, payment_pb2_grpc.PaymentServiceStub(channel), app
    await channel.close()
    await server.stop(0)
    await app.close()
    redis.child.stop()


async def one_round(stub) -> float:
    """Create, read, capture, read: returns the slowest call's duration (any failure raises)."""
    auth = (("authorization", "Bearer sk_cache_kill"),)
    slowest = 0.0

    async def timed(call):
        nonlocal slowest
        started = time.perf_counter()
        result = await call
        slowest = max(slowest, time.perf_counter() - started)
        return result.payment

    created = await timed(stub.CreatePayment(pb.CreatePaymentRequest(amount=700, currency="EUR"), metadata=auth))
    read = await timed(stub.GetPayment(pb.GetPaymentRequest(payment_id=created.payment_id), metadata=auth))
    assert read.status == pb.REQUIRES_CAPTURE
    await timed(stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=created.payment_id, action=pb.CAPTURE),
                                    metadata=auth))
    read = await timed(stub.GetPayment(pb.GetPaymentRequest(payment_id=created.payment_id), metadata=auth))
    assert read.status == pb.CAPTURED, "a read after a change must see it, Redis or not"
    return slowest


async def test_killing_redis_mid_run_fails_no_request(server_with_own_redis):
    redis, stub, app = server_with_own_redis
    cache: RedisPaymentCache = app.deps.cache
    errors = sum(metrics.CACHE_ERRORS.labels(operation=op, reason=r)._value.get()
                 for op in metrics.CACHE_OPERATIONS for r in metrics.CACHE_ERROR_REASONS)
    for _ in range(5):
        await one_round(stub)
    assert cache.state == "ok"
    redis.kill()
    slowest = max([await one_round(stub) for _ in range(15)])
    assert cache.state == "degraded"
    assert slowest < 1.0, f"a dead Redis slowed a call to {slowest:.2f}s"
    assert sum(metrics.CACHE_ERRORS.labels(operation=op, reason=r)._value.get()
               for op in metrics.CACHE_OPERATIONS for r in metrics.CACHE_ERROR_REASONS) > errors
    skipped = sum(metrics.CACHE_SKIPPED.labels(operation=op)._value.get() for op in metrics.CACHE_OPERATIONS)
    assert skipped > 0, "the breaker never opened"
    health = await stub.HealthCheck(pb.HealthCheckRequest())
    assert health.components["cache"] == "degraded" and health.status == pb.HealthCheckResponse.SERVING
    redis.restart()
    deadline = time.monotonic() + 40
    while cache.state != "ok" and time.monotonic() < deadline:
        await one_round(stub)
    assert cache.state == "ok", "the cache did not come back with Redis"
    await one_round(stub)
