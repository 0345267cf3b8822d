"""The PaymentCache port on Redis: a read-through cache of GetPayment that never fails a request.

Entries live at ``payment:{merchant_id}:{payment_id}``; the value is the JSON
snapshot of the payment (service.domain.snapshot), which carries the row's
``version`` (PostgreSQL increments it on every committed change). Entries
expire after CACHE_TTL_SECONDS (5 minutes by default).

Stale writes. A reader can load version N from PostgreSQL, lose the CPU while a
writer commits N+1 and calls ``changed``, and then ``put`` its copy of N.
Every write, ``put`` and ``changed`` alike, therefore goes through one Lua
script that runs atomically in Redis and stores the snapshot only when the
entry is absent or holds an older version (an older copy is refused and
counted in payment_cache_stale_writes_total). ``changed`` writes the new
snapshot rather than deleting the key: a delete would leave a gap in which a
slow reader could put the old version back.

Failures. Every call has a short deadline (100 ms); an error or a timeout is
counted in payment_cache_errors_total and the request carries on against
PostgreSQL. After 3 consecutive failures the circuit breaker opens: Redis is
not called at all for 1 s, then 2 s, 4 s ... up to 30 s, after which a single
trial call decides. A ``changed`` that could not be written is remembered
(bounded) and replayed once Redis answers again, and reads of those payments
skip the cache meanwhile, so a stale entry cannot outlive an outage on this
replica. ``state`` is "ok", or "degraded" while the breaker is open or
writes are waiting to be replayed. No exception from Redis ever escapes.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..domain.model import Payment
from ..domain.snapshot import from_snapshot, to_snapshot
from ..observability import metrics, tracing

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 0.1
MAX_PENDING_WRITES = 10_000

# KEYS[1]: the payment's key. ARGV: snapshot JSON, its version, TTL in milliseconds.
# Returns 1 when stored, 0 when Redis already holds this version or a newer one.
WRITE_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and tonumber(doc['version']) ~= nil
     and tonumber(doc['version']) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""

_MISSING: Any = object()


def cache_key(merchant_id: str, payment_id: str) -> str:
    return f"payment:{merchant_id}:{payment_id}"


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; retries after an exponential back-off.

    Closed: every call goes through. Open: no call until the back-off ends.
    Half-open: one trial call at a time; success closes the breaker, failure
    re-opens it for twice as long (up to ``max_backoff``).
    """

    def __init__(self, threshold: int = 3, backoff: float = 1.0, max_backoff: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold, self.base, self.max_backoff, self.clock = threshold, backoff, max_backoff, clock
        self.failures = 0
        self.backoff = backoff
        self.open_until = 0.0
        self.trial_running = False

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold

    def allow(self) -> bool:
        if not self.is_open:
            return True
        if self.trial_running or self.clock() < self.open_until:
            return False
        self.trial_running = True
        return True

    def succeeded(self) -> None:
        if self.is_open:
            log.info("redis answers again: cache back on")
        self.failures, self.backoff, self.trial_running = 0, self.base, False
        metrics.CACHE_CIRCUIT_OPEN.set(0)

    def failed(self) -> None:
        self.failures += 1
        if self.trial_running:
            self.backoff = min(self.backoff * 2, self.max_backoff)
        self.trial_running = False
        if self.is_open:
            if self.failures == self.threshold:
                log.warning("redis unreachable: cache off", extra={"retry_in_seconds": self.backoff})
            self.open_until = self.clock() + self.backoff
            metrics.CACHE_CIRCUIT_OPEN.set(1)

    def abandoned(self) -> None:
        """The call was cancelled before it could tell: let another trial run."""
        self.trial_running = False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (RedisTimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, (RedisConnectionError, ConnectionError, OSError)):
        return "connection"
    return "error"


class RedisPaymentCache:
    """PaymentCache on Redis; see the module docstring for the consistency rules."""

    def __init__(self, client: Redis, ttl_seconds: int = 300, *, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 breaker: CircuitBreaker | None = None) -> None:
        self.client = client
        self.ttl_ms = max(int(ttl_seconds * 1000), 1)
        self.timeout = timeout
        self.breaker = breaker or CircuitBreaker()
        self.pending: collections.OrderedDict[str, tuple[str, int]] = collections.OrderedDict()
        self._write = client.register_script(WRITE_IF_NEWER)
        self._replaying: asyncio.Task | None = None
        metrics.initialize_cache()
        metrics.CACHE_CIRCUIT_OPEN.set(0)

    @classmethod
    def from_url(cls, url: str, ttl_seconds: int = 300, *,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS) -> RedisPaymentCache:
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0), health_check_interval=0)
        return cls(client, ttl_seconds, timeout=timeout)

    @property
    def state(self) -> str:
        return "degraded" if self.breaker.is_open or self.pending else "ok"

    async def get(self, merchant_id: str, payment_id: str) -> Payment | None:
        key = cache_key(merchant_id, payment_id)
        raw = _MISSING if key in self.pending else await self._run("get", "GET", lambda: self.client.get(key))
        payment = self._decode(raw) if raw not in (_MISSING, None) else None
        (metrics.CACHE_HITS if payment is not None else metrics.CACHE_MISSES).inc()
        return payment

    async def put(self, payment: Payment) -> None:
        """Fill the cache after a read from PostgreSQL (refused if Redis holds a newer version)."""
        await self._store("put", cache_key(payment.merchant_id, payment.payment_id), _encode(payment),
                          payment.version)

    async def changed(self, payment: Payment) -> None:
        """Store the committed state; if Redis cannot take it now, replay it later."""
        key = cache_key(payment.merchant_id, payment.payment_id)
        value = _encode(payment)
        if not await self._store("changed", key, value, payment.version):
            self._remember(key, value, payment.version)

    async def aclose(self) -> None:
        if self._replaying is not None:
            self._replaying.cancel()
        await self.client.aclose()

    # ---- internals ----

    async def _store(self, operation: str, key: str, value: str, version: int) -> bool:
        """True once Redis holds this version or a newer one."""
        stored = await self._run(operation, "EVALSHA",
                                 lambda: self._write(keys=[key], args=[value, version, self.ttl_ms]))
        if stored is _MISSING:
            return False
        if not int(stored):
            metrics.CACHE_STALE_WRITES.inc()
        return True

    async def _run(self, operation: str, command: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """The call's result, or _MISSING when Redis was skipped or failed (never raises)."""
        if not self.breaker.allow():
            metrics.CACHE_SKIPPED.labels(operation=operation).inc()
            return _MISSING
        try:
            with tracing.client_span(f"redis {command}", {"db.system": "redis", "db.operation": command}):
                async with asyncio.timeout(self.timeout * 2):
                    result = await call()
        except asyncio.CancelledError:
            self.breaker.abandoned()
            raise
        except Exception as exc:
            metrics.CACHE_ERRORS.labels(operation=operation, reason=_reason(exc)).inc()
            log.debug("redis call failed", extra={"operation": operation, "error": type(exc).__name__})
            self.breaker.failed()
            return _MISSING
        self.breaker.succeeded()
        self._replay_soon()
        return result

    def _decode(self, raw: bytes | str) -> Payment | None:
        try:
            return from_snapshot(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            metrics.CACHE_ERRORS.labels(operation="get", reason="error").inc()
            log.warning("unreadable cache entry ignored", extra={"error": type(exc).__name__})
            return None

    def _remember(self, key: str, value: str, version: int) -> None:
        known = self.pending.get(key)
        if known is not None and known[1] > version:
            return
        self.pending[key] = (value, version)
        self.pending.move_to_end(key)
        while len(self.pending) > MAX_PENDING_WRITES:
            self.pending.popitem(last=False)

    def _replay_soon(self) -> None:
        if self.pending and (self._replaying is None or self._replaying.done()):
            self._replaying = asyncio.get_running_loop().create_task(self._replay())

    async def _replay(self) -> None:
        """Write the remembered changes; stop at the first failure (the next success retries)."""
        for key, (value, version) in list(self.pending.items()):
            if not await self._store("changed", key, value, version):
                return
            if self.pending.get(key, (None, -1))[1] == version:
                del self.pending[key]


def _encode(payment: Payment) -> str:
    return json.dumps(to_snapshot(payment), separators=(",", ":"))
