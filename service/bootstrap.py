"""The composition root: builds the engine, adapters and use-case dependencies.

Nothing is built at import time. `main()` and the tests both come through
`bootstrap(settings, **overrides)`; tests override ports with fakes (unit) or
point the settings at real PostgreSQL and Redis (integration).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import observability
from .config import Settings
from .service_layer.api_keys import KeyRing
from .service_layer.dependencies import Dependencies, NoCache, PaymentCache, ProcessorLookup

if TYPE_CHECKING:
    from .adapters.cache import RedisPaymentCache


def make_engine(settings: Settings) -> AsyncEngine:
    """The request pool. No pre-ping (it cost a BEGIN / empty query / ROLLBACK round trip before every
    transaction): a connection the server closed is known locally (asyncpg saw the socket close) and
    is replaced at checkout for free, connections are recycled after 5 minutes, and a disconnect met
    mid-statement invalidates the whole pool, so the next transaction starts on a fresh connection."""
    engine = create_async_engine(
        settings.require_database(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=5,
        pool_recycle=300,
        hide_parameters=True,  # a database error never carries the statement's values (card data, keys)
        # asyncpg: give up connecting after 5 s, and on any statement after 15 s.
        connect_args={"timeout": 5, "command_timeout": 15},
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection whose socket the server closed: the pool drops it and checks out another."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise exc.DisconnectionError("connection closed by the server")


@dataclasses.dataclass
class App:
    settings: Settings
    deps: Dependencies
    engine: AsyncEngine | None
    # The API keys requests are checked against (API_KEYS, then the api_keys table via KeyRefresher).
    keys: KeyRing = dataclasses.field(default_factory=KeyRing)
    # grpc.aio server interceptors to run after the server's own (tests add recorders here).
    interceptors: list[Any] = dataclasses.field(default_factory=list)
    # Callables run on shutdown (close pools, flush exporters).
    closers: list[Any] = dataclasses.field(default_factory=list)

    async def database_ok(self, timeout: float = 2.0) -> bool:
        if self.engine is None:
            return True
        try:
            async with asyncio.timeout(timeout):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def close(self) -> None:
        for closer in reversed(self.closers):
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        if self.engine is not None:
            await self.engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    uow: Any = None,
    processors: ProcessorLookup | None = None,
    cache: PaymentCache | None = None,
) -> App:
    """Wire the application. Pass ``uow`` (a factory) to run without PostgreSQL."""
    from .adapters.event_log import sequence
    from .adapters.processors.registry import load_processors
    from .adapters.repository import SqlUnitOfWork

    if uow is None:
        engine = engine or make_engine(settings)
        bound = engine

        def uow():  # noqa: E306 - a factory per call, one transaction each
            return SqlUnitOfWork(bound)

    if processors is None:
        processors = load_processors(settings, engine=engine)
    owned_cache = _redis_cache(settings) if cache is None else None
    deps = Dependencies(uow=uow, processors=observability.instrument_processors(processors),
                        cache=cache or owned_cache or NoCache(),
                        lease_seconds=settings.idempotency_lease_seconds,
                        sequence_events=None)
    app = App(settings=settings, deps=deps, engine=engine, keys=KeyRing(settings.api_keys))
    if engine is not None:  # its own small pool: the sequencer never waits behind requests, nor they behind it
        sequencer_engine = create_async_engine(engine.url, pool_size=1, max_overflow=2, pool_timeout=5,
                                               hide_parameters=True, connect_args={"timeout": 5, "command_timeout": 15})
        deps.sequence_events = functools.partial(sequence, sequencer_engine)
        app.closers.append(sequencer_engine.dispose)
    if hasattr(processors, "aclose"):  # HTTP clients of the processor adapters
        app.closers.append(processors.aclose)
    app.closers.append(observability.start(settings, engine))
    if owned_cache is not None:
        app.closers.append(owned_cache.aclose)
    return app


def key_refresher(app: App) -> Any:
    """What keeps `app.keys` in step with the api_keys table (None without PostgreSQL)."""
    if app.engine is None:
        return None
    from .adapters.api_key_store import ApiKeyStore, KeyRefresher

    return KeyRefresher(ApiKeyStore(app.engine), app.keys, app.settings.api_keys_refresh_seconds)


def _redis_cache(settings: Settings) -> RedisPaymentCache | None:
    """The Redis cache when REDIS_URL is set (else None: every read goes to PostgreSQL)."""
    if not settings.redis_url:
        return None
    from .adapters.cache import RedisPaymentCache

    return RedisPaymentCache.from_url(settings.redis_url, settings.cache_ttl_seconds)
